//! Executes a parsed template against data as Go's text/template does with `missingkey=error`,
//! within the output, step and value bounds.

use crate::ast::{Arg, Cmd, Control, Node, Pipe};
use crate::error::{exec, limit, Located, Reason};
use crate::funcs::{self, format, Ctx, FnError, Func};
use crate::value::Value;
use crate::Limits;
use zeroize::Zeroizing;

/// Bytes a function may process per evaluation step it is charged.
const WORK_PER_STEP: usize = 1024;

/// Variables in scope a lookup may scan per evaluation step it is charged.
const VARS_PER_STEP: usize = 64;

/// How a list of nodes ended: normally or by `{{break}}`/`{{continue}}` inside a range.
#[derive(PartialEq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

struct State<'a> {
    vars: Vec<(String, Value)>,
    out: Zeroizing<Vec<u8>>,
    steps: usize,
    limits: &'a Limits,
    ctx: Ctx,
}

/// Renders `nodes` with `data` as both dot and `$`.
pub(crate) fn execute(
    nodes: &[Node],
    data: Value,
    limits: &Limits,
) -> Result<Zeroizing<Vec<u8>>, Located> {
    let ctx = Ctx {
        max_value: limits.max_output,
        max_decode_depth: limits.max_value_depth,
    };
    let mut st = State {
        vars: vec![("$".into(), data.clone())],
        out: Zeroizing::new(Vec::new()),
        steps: 0,
        limits,
        ctx,
    };
    st.walk(&data, nodes, 1)?;
    Ok(st.out)
}

impl State<'_> {
    fn step(&mut self, line: usize) -> Result<(), Located> {
        self.steps += 1;
        if self.steps > self.limits.max_steps {
            return Err(limit(line, "evaluation steps", self.limits.max_steps));
        }
        Ok(())
    }

    fn write(&mut self, bytes: &[u8], line: usize) -> Result<(), Located> {
        if self.out.len() + bytes.len() > self.limits.max_output {
            return Err(limit(line, "output size", self.limits.max_output));
        }
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    fn walk(&mut self, dot: &Value, nodes: &[Node], mut line: usize) -> Result<Flow, Located> {
        for node in nodes {
            self.step(line)?;
            let flow = match node {
                Node::Text(t) => {
                    self.write(t, line)?;
                    line += t.iter().filter(|b| **b == b'\n').count();
                    Flow::Normal
                }
                Node::Action(pipe) => {
                    line = pipe.line;
                    let v = self.pipeline(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        let text = match v {
                            Value::Nil => b"<no value>".to_vec(),
                            v => format::value(&v),
                        };
                        self.write(&text, line)?;
                    }
                    Flow::Normal
                }
                Node::If(c) | Node::With(c) => {
                    line = c.pipe.line;
                    self.if_with(dot, c, matches!(node, Node::With(_)))?
                }
                Node::Range(c) => {
                    line = c.pipe.line;
                    self.range(dot, c)?
                }
                Node::Break => Flow::Break,
                Node::Continue => Flow::Continue,
            };
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    /// `if` and `with`: variables the pipeline declares live to the structure's `end`.
    fn if_with(&mut self, dot: &Value, c: &Control, with: bool) -> Result<Flow, Located> {
        let mark = self.vars.len();
        let v = self.pipeline(dot, &c.pipe)?;
        let line = c.pipe.line;
        let flow = if v.truth() {
            let body_dot = if with { v } else { dot.clone() };
            self.walk(&body_dot, &c.list, line)?
        } else if let Some(e) = &c.else_list {
            self.walk(dot, e, line)?
        } else {
            Flow::Normal
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    /// `range`: lists in order, maps by sorted key, ints (Go 1.22) from 0; `{{else}}` when empty.
    fn range(&mut self, dot: &Value, c: &Control) -> Result<Flow, Located> {
        let line = c.pipe.line;
        let mark = self.vars.len();
        let v = self.commands(dot, &c.pipe)?;
        let items: Vec<(Value, Value)> = match &v {
            Value::List(l) => l
                .items
                .iter()
                .enumerate()
                .map(|(i, e)| (Value::Int(i as i64), e.clone()))
                .collect(),
            Value::Map(m) => m
                .entries
                .iter()
                .map(|(k, e)| (Value::str(k.as_bytes()), e.clone()))
                .collect(),
            Value::Int(n) if *n > 0 => {
                let n = usize::try_from(*n)
                    .unwrap_or(usize::MAX)
                    .min(self.limits.max_steps + 1);
                (0..n)
                    .map(|i| (Value::Int(i as i64), Value::Int(i as i64)))
                    .collect()
            }
            Value::Int(_) | Value::Nil => Vec::new(),
            other => {
                return Err(exec(
                    line,
                    format!("range can't iterate over {}", other.type_name()),
                ))
            }
        };
        if items.is_empty() {
            let flow = match &c.else_list {
                Some(e) => self.walk(dot, e, line)?,
                None => Flow::Normal,
            };
            self.vars.truncate(mark);
            return Ok(flow);
        }
        if !c.pipe.assign {
            self.vars
                .extend(c.pipe.decl.iter().map(|n| (n.clone(), Value::Nil)));
        }
        let inner = self.vars.len();
        for (key, elem) in items {
            self.step(line)?;
            match (c.pipe.decl.as_slice(), c.pipe.assign) {
                ([_], false) => self.vars[mark].1 = elem.clone(),
                ([_, _], false) => {
                    self.vars[mark].1 = key;
                    self.vars[mark + 1].1 = elem.clone();
                }
                ([v], true) => self.set_var(v, elem.clone()),
                ([k, v], true) => {
                    self.set_var(k, key);
                    self.set_var(v, elem.clone());
                }
                _ => {}
            }
            let flow = self.walk(&elem, &c.list, line)?;
            self.vars.truncate(inner);
            if flow == Flow::Break {
                break;
            }
        }
        self.vars.truncate(mark);
        Ok(Flow::Normal)
    }

    fn set_var(&mut self, name: &str, v: Value) {
        if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            slot.1 = v;
        }
    }

    /// A pipeline's value, declaring or assigning its variables.
    fn pipeline(&mut self, dot: &Value, pipe: &Pipe) -> Result<Value, Located> {
        let v = self.commands(dot, pipe)?;
        for name in &pipe.decl {
            if pipe.assign {
                self.set_var(name, v.clone());
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    /// The commands of a pipeline, each one's value passed as the next one's last argument.
    fn commands(&mut self, dot: &Value, pipe: &Pipe) -> Result<Value, Located> {
        let mut value = None;
        for cmd in &pipe.cmds {
            value = Some(self.command(dot, cmd, value)?);
        }
        Ok(value.unwrap_or(Value::Nil))
    }

    fn command(&mut self, dot: &Value, cmd: &Cmd, last: Option<Value>) -> Result<Value, Located> {
        self.step(cmd.line)?;
        let first = &cmd.args[0];
        if let Arg::Func(f) = first {
            return self.call(dot, *f, &cmd.args[1..], last, cmd.line);
        }
        if cmd.args.len() > 1 || last.is_some() {
            if let Arg::Field(names) = first {
                let name = names.last().map_or("", String::as_str);
                return Err(exec(
                    cmd.line,
                    format!("{name} is not a method but has arguments"),
                ));
            }
            return Err(exec(cmd.line, "can't give argument to non-function"));
        }
        self.arg(dot, first, cmd.line)
    }

    fn call(
        &mut self,
        dot: &Value,
        f: Func,
        args: &[Arg],
        last: Option<Value>,
        line: usize,
    ) -> Result<Value, Located> {
        if f.0 == "and" || f.0 == "or" {
            return self.and_or(dot, f.0 == "and", args, last, line);
        }
        let mut values = Vec::with_capacity(args.len() + 1);
        for a in args {
            values.push(self.arg(dot, a, line)?);
        }
        values.extend(last);
        // Work proportional to the bytes handled counts against the step bound too.
        let input: usize = values.iter().map(Value::weight).sum();
        self.steps = self.steps.saturating_add(input / WORK_PER_STEP);
        self.step(line)?;
        let v = funcs::call(f, &values, &self.ctx).map_err(|e| match e {
            FnError::Msg(m) => exec(line, m),
            FnError::Limit(bound, max) => limit(line, bound, max),
        })?;
        self.steps = self.steps.saturating_add(v.weight() / WORK_PER_STEP);
        if v.weight() > self.limits.max_output {
            return Err(limit(line, "value size", self.limits.max_output));
        }
        if v.depth() > self.limits.max_value_depth {
            return Err(limit(
                line,
                "value nesting depth",
                self.limits.max_value_depth,
            ));
        }
        Ok(v)
    }

    /// `and`/`or` evaluate their arguments lazily and return the deciding operand, as Go 1.18+.
    fn and_or(
        &mut self,
        dot: &Value,
        and: bool,
        args: &[Arg],
        last: Option<Value>,
        line: usize,
    ) -> Result<Value, Located> {
        let name = if and { "and" } else { "or" };
        if args.is_empty() && last.is_none() {
            return Err(exec(
                line,
                format!("wrong number of args for {name}: want at least 1 got 0"),
            ));
        }
        let mut v = Value::Nil;
        for a in args {
            v = self.arg(dot, a, line)?;
            if v.truth() != and {
                return Ok(v);
            }
        }
        Ok(last.unwrap_or(v))
    }

    fn arg(&mut self, dot: &Value, a: &Arg, line: usize) -> Result<Value, Located> {
        Ok(match a {
            Arg::Dot => dot.clone(),
            Arg::Nil => Value::Nil,
            Arg::Bool(b) => Value::Bool(*b),
            Arg::Int(i) => Value::Int(*i),
            Arg::Float(f) => Value::Float(*f),
            Arg::Str(s) => Value::str(s.to_vec()),
            Arg::Field(names) => fields(dot.clone(), names, line)?,
            Arg::Var(name, names) => {
                // A lookup scans the variables in scope: charged by how many there are.
                self.steps = self.steps.saturating_add(self.vars.len() / VARS_PER_STEP);
                self.step(line)?;
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone());
                let v = v.ok_or_else(|| exec(line, format!("undefined variable: {name}")))?;
                fields(v, names, line)?
            }
            Arg::Func(f) => self.call(dot, *f, &[], None, line)?,
            Arg::Chain(pipe, names) => {
                let v = self.pipeline(dot, pipe)?;
                fields(v, names, line)?
            }
        })
    }
}

/// `.a.b` on a value: map keys with `missingkey=error`.
fn fields(mut v: Value, names: &[String], line: usize) -> Result<Value, Located> {
    for name in names {
        v = match &v {
            Value::Map(m) => match m.entries.get(name) {
                Some(e) => e.clone(),
                None => return Err((line, Reason::MissingKey(name.clone()))),
            },
            Value::Nil => {
                return Err(exec(
                    line,
                    format!("nil pointer evaluating interface {{}}.{name}"),
                ))
            }
            other => {
                return Err(exec(
                    line,
                    format!("can't evaluate field {name} in type {}", other.type_name()),
                ))
            }
        };
    }
    Ok(v)
}
