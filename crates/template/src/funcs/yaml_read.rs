//! ESO's `fromYaml`: the first YAML document read with go-yaml v2's (YAML 1.1) scalar typing, then
//! through JSON as sigs.k8s.io/yaml does (numbers become float64, keys strings), without recursion.

use super::yaml_scalar::{float_syntax, int_syntax};
use super::{Ctx, FnError};
use crate::value::{Elem, Value};
use granit_parser::{Event, Parser, ScalarStyle};
use std::collections::{BTreeMap, HashMap};

/// Why a document cannot become a map: reported in the map's "Error" key, as ESO does.
type Failure = String;

/// A map key read, waiting for its value.
enum Key {
    Name(String),
    /// `<<`: the value's map (or list of maps) is merged in, as go-yaml v2 does.
    Merge,
    /// A null key: sigs.k8s.io/yaml refuses it, naming the value.
    Null,
}

enum Frame {
    Map(BTreeMap<String, Value>, Option<Key>),
    Seq(Vec<Value>),
}

struct Reader {
    stack: Vec<(Frame, usize)>,
    anchors: HashMap<usize, Value>,
    root: Option<Value>,
    max_depth: usize,
    max_weight: usize,
}

/// fromYaml: a map; a parse error or a non-map document is reported in the map's "Error" key.
/// `Err` only when a bound is exceeded.
pub(super) fn from_yaml(text: &str, ctx: &Ctx) -> Result<Value, FnError> {
    let (max_depth, max_weight) = (ctx.max_decode_depth, ctx.max_value);
    let mut r = Reader {
        stack: Vec::new(),
        anchors: HashMap::new(),
        root: None,
        max_depth,
        max_weight,
    };
    let outcome = r.read(text);
    let error = |msg: String| {
        let entries = [("Error".to_string(), Value::str(msg))]
            .into_iter()
            .collect();
        Ok(Value::map(Elem::Any, entries))
    };
    match outcome {
        Err(Outcome::Limit(bound, limit)) => Err(FnError::Limit(bound, limit)),
        Err(Outcome::Failure(msg)) => error(msg),
        Ok(()) => {
            let kind = match r.root {
                Some(v @ Value::Map(_)) => return Ok(v),
                None | Some(Value::Nil) => return Ok(Value::map(Elem::Any, BTreeMap::new())),
                Some(Value::List(_)) => "array",
                Some(Value::Str(_)) => "string",
                Some(Value::Bool(_)) => "bool",
                Some(_) => "number",
            };
            error(format!(
                "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
            ))
        }
    }
}

enum Outcome {
    Limit(&'static str, usize),
    Failure(Failure),
}

impl Reader {
    fn read(&mut self, source: &str) -> Result<(), Outcome> {
        for next in Parser::new_from_str(source) {
            let (event, span) = next.map_err(|e| {
                // go-yaml names the line only past the first one.
                let line = match e.marker().line() {
                    0 | 1 => String::new(),
                    n => format!("line {n}: "),
                };
                Outcome::Failure(format!(
                    "error converting YAML to JSON: yaml: {line}{}",
                    e.info()
                ))
            })?;
            match event {
                Event::Scalar(text, style, anchor, tag) => {
                    let str_tag = tag.as_ref().is_some_and(|t| t.suffix() == "str");
                    if style == ScalarStyle::Plain && tag.is_none() && text == "<<" {
                        if let Some((Frame::Map(_, key @ None), _)) = self.stack.last_mut() {
                            *key = Some(Key::Merge);
                            continue;
                        }
                    }
                    let block = matches!(style, ScalarStyle::Literal | ScalarStyle::Folded);
                    let v = if style == ScalarStyle::Plain && !str_tag {
                        resolve_plain(&text)?
                    } else if block && at_unterminated_end(source, span.end.index()) {
                        // libyaml keeps no line break the input does not have.
                        Value::str(text.strip_suffix('\n').unwrap_or(&text).as_bytes())
                    } else {
                        Value::str(text.as_bytes())
                    };
                    self.done(v, anchor)?;
                }
                Event::SequenceStart(_, anchor, _) => self.open(Frame::Seq(Vec::new()), anchor)?,
                Event::MappingStart(_, anchor, _) => {
                    self.open(Frame::Map(BTreeMap::new(), None), anchor)?
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let Some((frame, anchor)) = self.stack.pop() else {
                        continue;
                    };
                    let v = match frame {
                        Frame::Seq(items) => Value::list(Elem::Any, items),
                        Frame::Map(entries, _) => Value::map(Elem::Any, entries),
                    };
                    self.done(v, anchor)?;
                }
                Event::Alias(id) => {
                    let v = self.anchors.get(&id).cloned();
                    let v = v.ok_or_else(|| {
                        Outcome::Failure(
                            "error converting YAML to JSON: yaml: unknown anchor".into(),
                        )
                    })?;
                    self.done(v, 0)?;
                }
                // go-yaml v2 reads the first document only.
                Event::DocumentEnd if self.root.is_some() => return Ok(()),
                _ => {}
            }
        }
        Ok(())
    }

    fn open(&mut self, frame: Frame, anchor: usize) -> Result<(), Outcome> {
        if self.stack.len() + 1 > self.max_depth {
            return Err(Outcome::Limit("decoded value depth", self.max_depth));
        }
        self.stack.push((frame, anchor));
        Ok(())
    }

    /// A finished node: into its parent (a key or a value), or the root.
    fn done(&mut self, v: Value, anchor: usize) -> Result<(), Outcome> {
        if v.weight() > self.max_weight {
            return Err(Outcome::Limit("value size", self.max_weight));
        }
        if anchor != 0 {
            self.anchors.insert(anchor, v.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(v),
            Some((Frame::Seq(items), _)) => items.push(v),
            Some((Frame::Map(entries, key), _)) => match key.take() {
                Some(Key::Name(k)) => {
                    entries.insert(k, v);
                }
                Some(Key::Merge) => merge(entries, &v),
                Some(Key::Null) => {
                    let shown = match &v {
                        Value::Str(s) => super::format::go_quote(s),
                        other => String::from_utf8_lossy(&super::format::value(other)).into_owned(),
                    };
                    return Err(Outcome::Failure(format!(
                        "error converting YAML to JSON: unsupported map key of type: %!s(<nil>), key: <nil>, value: {shown}"
                    )));
                }
                None => *key = Some(json_key(&v)?),
            },
        }
        Ok(())
    }
}

/// Whether a block scalar ending at char `end` runs to the end of a source without a final newline.
fn at_unterminated_end(source: &str, end: usize) -> bool {
    let rest = source
        .char_indices()
        .nth(end)
        .map_or("", |(i, _)| &source[i..]);
    !source.ends_with('\n') && rest.trim().is_empty()
}

/// go-yaml v2's merge: a map's entries override; of a list of maps, earlier ones win.
fn merge(entries: &mut BTreeMap<String, Value>, v: &Value) {
    match v {
        Value::Map(m) => entries.extend(m.entries.iter().map(|(k, e)| (k.clone(), e.clone()))),
        Value::List(l) => l.items.iter().rev().for_each(|e| merge(entries, e)),
        _ => {}
    }
}

/// A map key as sigs.k8s.io/yaml turns it into a JSON object key.
fn json_key(v: &Value) -> Result<Key, Outcome> {
    Ok(Key::Name(match v {
        Value::Str(s) => String::from_utf8_lossy(s).into_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Nil => return Ok(Key::Null),
        // Integer keys were ints in go-yaml (FormatInt), others floats (FormatFloat 'g').
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => (*f as i64).to_string(),
        Value::Float(f) => super::floats::float_g(*f),
        Value::Int(i) => i.to_string(),
        _ => {
            return Err(Outcome::Failure(
                "error converting YAML to JSON: unsupported map key".into(),
            ))
        }
    }))
}

/// go-yaml v2's resolution of a plain scalar (YAML 1.1: `yes`/`on` are booleans), as a JSON value.
fn resolve_plain(s: &str) -> Result<Value, Outcome> {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Value::Nil),
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Ok(Value::Bool(true))
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Ok(Value::Bool(false))
        }
        _ => {}
    }
    let special = match s {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Some("+Inf"),
        "-.inf" | "-.Inf" | "-.INF" => Some("-Inf"),
        ".nan" | ".NaN" | ".NAN" => Some("NaN"),
        _ => None,
    };
    if let Some(v) = special {
        // JSON has no Inf/NaN: sigs.k8s.io/yaml fails the conversion.
        return Err(Outcome::Failure(format!(
            "error converting YAML to JSON: json: unsupported value: {v}"
        )));
    }
    let plain = s.replace('_', "");
    if s.starts_with(['+', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'])
        && int_syntax(&plain)
    {
        if let Some(i) = go_int(&plain) {
            return Ok(Value::Float(i));
        }
    }
    if float_syntax(if s.starts_with('.') { s } else { &plain }) {
        if let Ok(f) = plain.parse::<f64>() {
            return Ok(Value::Float(f));
        }
    }
    Ok(Value::str(s.as_bytes()))
}

/// strconv.ParseInt/ParseUint with base 0 (0x, 0o, 0b, leading-0 octal), as a float64.
fn go_int(s: &str) -> Option<f64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let lower = body.to_ascii_lowercase();
    let (digits, radix) = match lower.get(..2) {
        Some("0x") => (&lower[2..], 16),
        Some("0o") => (&lower[2..], 8),
        Some("0b") => (&lower[2..], 2),
        _ if lower.len() > 1 && lower.starts_with('0') => (&lower[1..], 8),
        _ => (&lower[..], 10),
    };
    let v = u64::from_str_radix(digits, radix).ok()?;
    if neg {
        (v <= 1 << 63).then(|| -(v as f64))
    } else {
        Some(v as f64)
    }
}
