//! Builds the node tree from tokens with Go's grammar: control structures, pipelines, variable
//! scopes checked at parse time, and every function name checked against the supported set.

use crate::ast::{Arg, Cmd, Control, Node, Pipe};
use crate::error::{limit, syntax, Located, Reason};
use crate::funcs;
use crate::lexer::{Tok, Token};
use zeroize::Zeroizing;

/// Where a list of nodes stopped.
enum Stop {
    Eof,
    End,
    Else,
    /// `{{else if ...}}` / `{{else with ...}}`: the keyword is consumed, its pipeline is next.
    ElseChain(&'static str),
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    vars: Vec<String>,
    depth: usize,
    max_depth: usize,
    in_range: usize,
}

/// Parses tokens into the root list.
pub(crate) fn parse(toks: Vec<Token>, max_depth: usize) -> Result<Vec<Node>, Located> {
    let mut p = Parser {
        toks,
        pos: 0,
        vars: vec!["$".into()],
        depth: 0,
        max_depth,
        in_range: 0,
    };
    let (list, stop) = p.list()?;
    match stop {
        Stop::Eof => Ok(list),
        _ => Err(syntax(p.line(), "unexpected {{end}} or {{else}}")),
    }
}

impl Parser {
    fn line(&self) -> usize {
        self.toks
            .get(self.pos)
            .or(self.toks.last())
            .map_or(1, |t| t.line)
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|t| t.tok.clone());
        self.pos += 1;
        t
    }

    fn skip_space(&mut self) {
        while self.peek() == Some(&Tok::Space) {
            self.pos += 1;
        }
    }

    fn expect_right(&mut self, what: &str) -> Result<(), Located> {
        self.skip_space();
        match self.next() {
            Some(Tok::Right) => Ok(()),
            _ => Err(syntax(self.line(), format!("unexpected token in {what}"))),
        }
    }

    fn enter(&mut self) -> Result<(), Located> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return Err(limit(self.line(), "template nesting depth", self.max_depth));
        }
        Ok(())
    }

    fn list(&mut self) -> Result<(Vec<Node>, Stop), Located> {
        let mut nodes = Vec::new();
        loop {
            let line = self.line();
            match self.next() {
                None => return Ok((nodes, Stop::Eof)),
                Some(Tok::Text(t)) => nodes.push(Node::Text(t)),
                Some(Tok::Left) => {
                    if let Some(stop) = self.action(line, &mut nodes)? {
                        return Ok((nodes, stop));
                    }
                }
                Some(_) => return Err(syntax(line, "unexpected token outside an action")),
            }
        }
    }

    /// One action after `{{`: appends a node, or returns where the enclosing list stops.
    fn action(&mut self, line: usize, nodes: &mut Vec<Node>) -> Result<Option<Stop>, Located> {
        self.skip_space();
        let keyword = match self.peek() {
            Some(Tok::Ident(w)) => w.clone(),
            _ => String::new(),
        };
        match keyword.as_str() {
            "end" => {
                self.pos += 1;
                self.expect_right("end")?;
                return Ok(Some(Stop::End));
            }
            "else" => {
                self.pos += 1;
                self.skip_space();
                if let Some(Tok::Ident(w)) = self.peek() {
                    let chain = match w.as_str() {
                        "if" => "if",
                        "with" => "with",
                        _ => return Err(syntax(line, "unexpected token in else")),
                    };
                    self.pos += 1;
                    return Ok(Some(Stop::ElseChain(chain)));
                }
                self.expect_right("else")?;
                return Ok(Some(Stop::Else));
            }
            "if" | "range" | "with" => {
                self.pos += 1;
                nodes.push(self.control(&keyword)?);
            }
            "break" | "continue" => {
                self.pos += 1;
                if self.in_range == 0 {
                    return Err(syntax(
                        line,
                        format!("{{{{{keyword}}}}} outside {{{{range}}}}"),
                    ));
                }
                self.expect_right(&keyword)?;
                nodes.push(if keyword == "break" {
                    Node::Break
                } else {
                    Node::Continue
                });
            }
            "define" | "template" | "block" => return Err((line, Reason::Unsupported(keyword))),
            _ => {
                let pipe = self.pipeline(line, false)?;
                nodes.push(Node::Action(pipe));
            }
        }
        Ok(None)
    }

    /// `if`/`range`/`with` after the keyword: pipeline, body, optional else, `end`.
    fn control(&mut self, kind: &str) -> Result<Node, Located> {
        self.enter()?;
        let mark = self.vars.len();
        let pipe = self.pipeline(self.line(), false)?;
        if kind == "range" {
            self.in_range += 1;
        }
        let body = self.list();
        if kind == "range" {
            self.in_range -= 1;
        }
        let (list, stop) = body?;
        let else_list = match stop {
            Stop::End => None,
            Stop::Eof => return Err(syntax(self.line(), format!("unexpected EOF in {kind}"))),
            Stop::Else => {
                let (list, stop) = self.list()?;
                if !matches!(stop, Stop::End) {
                    return Err(syntax(self.line(), format!("expected end in {kind}")));
                }
                Some(list)
            }
            Stop::ElseChain(chain) if chain == kind => Some(vec![self.control(chain)?]),
            Stop::ElseChain(_) => return Err(syntax(self.line(), "unexpected token in else")),
        };
        self.vars.truncate(mark);
        self.depth -= 1;
        let c = Control {
            pipe,
            list,
            else_list,
        };
        Ok(match kind {
            "if" => Node::If(c),
            "range" => Node::Range(c),
            _ => Node::With(c),
        })
    }

    /// A pipeline up to `}}` (or `)` when `paren`), with its variable declaration if any.
    fn pipeline(&mut self, line: usize, paren: bool) -> Result<Pipe, Located> {
        self.skip_space();
        let (decl, assign) = self.declaration()?;
        let mut cmds = Vec::new();
        loop {
            self.skip_space();
            let cmd_line = self.line();
            let args = self.command()?;
            if args.is_empty() {
                return Err(syntax(cmd_line, "missing value for command"));
            }
            cmds.push(Cmd {
                line: cmd_line,
                args,
            });
            self.skip_space();
            match self.next() {
                Some(Tok::Pipe) => continue,
                Some(Tok::Right) if !paren => break,
                Some(Tok::RParen) if paren => break,
                Some(Tok::Right) | None => return Err(syntax(line, "unclosed left paren")),
                Some(_) => return Err(syntax(cmd_line, "unexpected token in operand")),
            }
        }
        if let Some(Arg::Nil) = cmds
            .iter()
            .find_map(|c| (c.args.len() == 1).then(|| &c.args[0]))
        {
            return Err(syntax(line, "nil is not a command"));
        }
        // Declared names are visible after the pipeline, as in Go.
        if !assign {
            self.vars.extend(decl.iter().cloned());
        }
        Ok(Pipe {
            line,
            decl,
            assign,
            cmds,
        })
    }

    /// `$x :=`, `$i, $v :=` or `$x =` at the start of a pipeline; rewinds when absent.
    fn declaration(&mut self) -> Result<(Vec<String>, bool), Located> {
        let start = self.pos;
        let mut names = Vec::new();
        while let Some(Tok::Var(name)) = self.peek().cloned() {
            self.pos += 1;
            self.skip_space();
            names.push(name);
            match self.next() {
                Some(Tok::Declare) if names.len() <= 2 => return Ok((names, false)),
                Some(Tok::Assign) if names.len() <= 2 => {
                    if let Some(n) = names.iter().find(|n| !self.vars.contains(n)) {
                        return Err(syntax(self.line(), format!("undefined variable {n:?}")));
                    }
                    return Ok((names, true));
                }
                Some(Tok::Comma) if names.len() == 1 => self.skip_space(),
                _ => break,
            }
        }
        self.pos = start;
        Ok((Vec::new(), false))
    }

    /// Operands separated by spaces, up to `|`, `)` or `}}`.
    fn command(&mut self) -> Result<Vec<Arg>, Located> {
        let mut args = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                None | Some(Tok::Pipe | Tok::RParen | Tok::Right) => return Ok(args),
                _ => {}
            }
            args.push(self.operand()?);
            match self.peek() {
                None | Some(Tok::Space | Tok::Pipe | Tok::RParen | Tok::Right) => {}
                _ => return Err(syntax(self.line(), "missing space between operands")),
            }
        }
    }

    fn operand(&mut self) -> Result<Arg, Located> {
        let line = self.line();
        let term = match self.next() {
            Some(Tok::Dot) => Arg::Dot,
            Some(Tok::Field(f)) => Arg::Field(vec![f]),
            Some(Tok::Var(v)) => {
                if !self.vars.contains(&v) {
                    return Err(syntax(line, format!("undefined variable {v:?}")));
                }
                Arg::Var(v, Vec::new())
            }
            Some(Tok::Str(s)) => Arg::Str(Zeroizing::new(s)),
            Some(Tok::Char(c)) => Arg::Int(c),
            Some(Tok::Num(n)) => number(line, &n)?,
            Some(Tok::Ident(w)) => match w.as_str() {
                "true" => Arg::Bool(true),
                "false" => Arg::Bool(false),
                "nil" => Arg::Nil,
                _ => Arg::Func(funcs::lookup(&w).ok_or((line, Reason::UnknownFunction(w)))?),
            },
            Some(Tok::LParen) => {
                self.enter()?;
                let pipe = self.pipeline(line, true)?;
                self.depth -= 1;
                Arg::Chain(Box::new(pipe), Vec::new())
            }
            _ => return Err(syntax(line, "unexpected token in operand")),
        };
        let mut chain = Vec::new();
        while let Some(Tok::Field(f)) = self.peek() {
            chain.push(f.clone());
            self.pos += 1;
        }
        if chain.is_empty() {
            return Ok(term);
        }
        match term {
            Arg::Field(mut fs) => {
                fs.extend(chain);
                Ok(Arg::Field(fs))
            }
            Arg::Var(v, _) => Ok(Arg::Var(v, chain)),
            Arg::Chain(p, _) => Ok(Arg::Chain(p, chain)),
            _ => Err(syntax(line, "unexpected . after term")),
        }
    }
}

/// A number literal as Go's idealConstant types it: float when written with `.`/exponent, else int.
fn number(line: usize, text: &str) -> Result<Arg, Located> {
    let bad = || syntax(line, format!("bad number syntax: {text:?}"));
    let clean = text.replace('_', "");
    let (neg, digits) = match clean.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    let lower = digits.to_ascii_lowercase();
    let radix = [("0x", 16), ("0o", 8), ("0b", 2)]
        .iter()
        .find(|(p, _)| lower.starts_with(p));
    if let Some((p, r)) = radix {
        let v = i64::from_str_radix(&lower[p.len()..], *r).map_err(|_| bad())?;
        return Ok(Arg::Int(if neg { -v } else { v }));
    }
    if lower.contains(['.', 'e']) {
        let v: f64 = lower.parse().map_err(|_| bad())?;
        return Ok(Arg::Float(if neg { -v } else { v }));
    }
    let octal = lower.len() > 1 && lower.starts_with('0');
    let v = i64::from_str_radix(&lower, if octal { 8 } else { 10 }).map_err(|_| bad())?;
    Ok(Arg::Int(if neg { -v } else { v }))
}
