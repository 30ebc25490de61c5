//! The Kubernetes JSONPath subset argocd-vault-plugin users write in `| jsonPath {...}`: text with
//! `{.a.b}`, `{.list[0].x}`, `{['key.with.dots']}`, `{.list[*].name}` and `{$.a}` expressions.
//! Filters, slices, unions and `range` are refused when the placeholder is parsed.

use serde_json::Value;

/// A parsed template: literal text and expressions, printed in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonPath {
    source: String,
    parts: Vec<Piece>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Expr(Vec<Step>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(i64),
    Wildcard,
}

impl JsonPath {
    pub fn parse(source: &str) -> Result<JsonPath, String> {
        let mut parts = Vec::new();
        let mut rest = source;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Piece::Text(rest[..open].to_string()));
            }
            let close = rest[open..].find('}').ok_or("unclosed '{'")? + open;
            parts.push(Piece::Expr(parse_expr(rest[open + 1..close].trim())?));
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Piece::Text(rest.to_string()));
        }
        Ok(JsonPath {
            source: source.to_string(),
            parts,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Prints the template against `root`; a missing key is an error (AVP disallows missing keys).
    /// Several results of one expression are separated by spaces, as kubectl prints them.
    pub fn execute(&self, root: &Value) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Expr(steps) => {
                    let mut cur = vec![root];
                    for s in steps {
                        cur = apply(s, cur)?;
                    }
                    let printed: Vec<String> = cur.into_iter().map(print).collect();
                    out.push_str(&printed.join(" "));
                }
            }
        }
        Ok(out)
    }
}

fn apply<'v>(step: &Step, values: Vec<&'v Value>) -> Result<Vec<&'v Value>, String> {
    let mut next = Vec::new();
    for v in values {
        match (step, v) {
            (Step::Key(k), Value::Object(m)) => {
                next.push(m.get(k).ok_or_else(|| format!("{k} is not found"))?)
            }
            (Step::Index(i), Value::Array(a)) => {
                let idx = if *i < 0 { a.len() as i64 + i } else { *i };
                let item = usize::try_from(idx).ok().and_then(|n| a.get(n));
                next.push(item.ok_or_else(|| format!("array index {i} is out of bounds"))?);
            }
            (Step::Wildcard, Value::Array(a)) => next.extend(a.iter()),
            (Step::Wildcard, Value::Object(m)) => next.extend(m.values()),
            (Step::Key(k), _) => return Err(format!("{k} is not found (not an object)")),
            (Step::Index(i), _) => return Err(format!("cannot index {i} (not an array)")),
            (Step::Wildcard, _) => {}
        }
    }
    Ok(next)
}

fn print(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn parse_expr(expr: &str) -> Result<Vec<Step>, String> {
    let unsupported = |what: &str| {
        Err(format!(
            "JSONPath {what} are not supported; use a plain path such as {{.a.b}}"
        ))
    };
    if expr.starts_with("range") || expr == "end" {
        return unsupported("range blocks");
    }
    let mut s = expr.strip_prefix('$').unwrap_or(expr);
    let mut steps = Vec::new();
    while !s.is_empty() {
        if let Some(r) = s.strip_prefix("..") {
            let _ = r;
            return unsupported("recursive descents (..)");
        } else if let Some(r) = s.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let name = &r[..end];
            match name {
                "" if end == r.len() => {} // `{.}`: the value itself
                "" => {}
                "*" => steps.push(Step::Wildcard),
                n => steps.push(Step::Key(n.to_string())),
            }
            s = &r[end..];
        } else if let Some(r) = s.strip_prefix('[') {
            let end = r.find(']').ok_or("unclosed '['")?;
            let inner = r[..end].trim();
            steps.push(parse_bracket(inner)?);
            s = &r[end + 1..];
        } else {
            return Err(format!(
                "unexpected {:?} in JSONPath expression (start each step with '.' or '[')",
                s.chars().next().unwrap_or(' ')
            ));
        }
    }
    Ok(steps)
}

fn parse_bracket(inner: &str) -> Result<Step, String> {
    if inner == "*" {
        return Ok(Step::Wildcard);
    }
    for q in ['\'', '"'] {
        if let Some(name) = inner.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return Ok(Step::Key(name.to_string()));
        }
    }
    if inner.starts_with('?') {
        return Err("JSONPath filters [?()] are not supported".into());
    }
    if inner.contains([':', ',']) {
        return Err("JSONPath slices and unions are not supported".into());
    }
    inner
        .parse::<i64>()
        .map(Step::Index)
        .map_err(|_| format!("invalid array index {inner:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(path: &str, json: &str) -> Result<String, String> {
        JsonPath::parse(path)?.execute(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn paths_users_write() {
        let doc =
            r#"{"db":{"user":"app","port":5432,"hosts":[{"name":"a"},{"name":"b"}]},"a.b":"dot"}"#;
        assert_eq!(run("{.db.user}", doc).unwrap(), "app");
        assert_eq!(run("{$.db.port}", doc).unwrap(), "5432");
        assert_eq!(run("{.db.hosts[1].name}", doc).unwrap(), "b");
        assert_eq!(run("{.db.hosts[-1].name}", doc).unwrap(), "b");
        assert_eq!(run("{.db.hosts[*].name}", doc).unwrap(), "a b");
        assert_eq!(run("{['a.b']}", doc).unwrap(), "dot");
        assert_eq!(run("user={.db.user}", doc).unwrap(), "user=app");
        assert_eq!(run("{.db.hosts[0]}", doc).unwrap(), r#"{"name":"a"}"#);
    }

    #[test]
    fn errors() {
        assert!(run("{.missing}", "{}").unwrap_err().contains("missing"));
        assert!(run("{.a[3]}", r#"{"a":[1]}"#).is_err());
        assert!(JsonPath::parse("{.a[?(@.x==1)]}").is_err());
        assert!(JsonPath::parse("{range .items[*]}").is_err());
        assert!(JsonPath::parse("{.a").is_err());
        assert!(JsonPath::parse("{..a}").is_err());
    }
}
