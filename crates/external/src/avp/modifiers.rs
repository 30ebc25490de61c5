//! argocd-vault-plugin's placeholder modifiers: `| base64encode`, `| base64decode`, `| jsonPath {...}`,
//! `| sha256sum`, `| indent N`, parsed with the placeholder and applied in order when filling.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::jsonpath::JsonPath;
use crate::limits::{MAX_INDENT, MAX_JSON_DEPTH};
use crate::pipeline::decode::decode_base64;
use crate::pipeline::property::{parse_secret_json, too_deep};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Modifier {
    Base64Encode,
    /// Strict: an invalid input is an error (AVP silently yields what it could decode).
    Base64Decode,
    JsonPath(JsonPath),
    /// Lowercase hex SHA-256 of the value.
    Sha256Sum,
    /// AVP's `indent`: every line trimmed, lines after the first indented by N, blank lines dropped.
    Indent(usize),
}

impl Modifier {
    /// Parses one `| name args...` segment (split on whitespace, as AVP does).
    pub fn parse(segment: &str) -> Result<Modifier, String> {
        let fields: Vec<&str> = segment.split_whitespace().collect();
        let (name, params) = fields.split_first().ok_or("empty modifier after '|'")?;
        let no_params = |m: Modifier| {
            if params.is_empty() {
                Ok(m)
            } else {
                Err(format!("modifier {name} takes no parameters"))
            }
        };
        match *name {
            "base64encode" => no_params(Modifier::Base64Encode),
            "base64decode" => no_params(Modifier::Base64Decode),
            "sha256sum" => no_params(Modifier::Sha256Sum),
            "indent" => match params {
                [n] => match n.parse::<usize>() {
                    Ok(n) if n <= MAX_INDENT => Ok(Modifier::Indent(n)),
                    Ok(_) => Err(format!("indent level over {MAX_INDENT}")),
                    Err(_) => Err("invalid indentation level".into()),
                },
                _ => Err("indent takes one parameter, the indentation level".into()),
            },
            "jsonPath" if params.is_empty() => Err("jsonPath needs an expression such as {.key}".into()),
            "jsonPath" => JsonPath::parse(&params.join(" ")).map(Modifier::JsonPath),
            "jsonParse" | "yamlParse" => Err(format!(
                "modifier {name} (a structured value) is not supported in a Secret value; use jsonPath"
            )),
            other => Err(format!("invalid modifier: {other}")),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Modifier::Base64Encode => "base64encode",
            Modifier::Base64Decode => "base64decode",
            Modifier::JsonPath(_) => "jsonPath",
            Modifier::Sha256Sum => "sha256sum",
            Modifier::Indent(_) => "indent",
        }
    }

    /// Applies the modifier; the error names the modifier, never the value.
    pub fn apply(&self, input: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
        let text = || {
            std::str::from_utf8(input)
                .map_err(|_| format!("{}: the value is not text", self.name()))
        };
        match self {
            Modifier::Base64Encode => Ok(Zeroizing::new(STANDARD.encode(input).into_bytes())),
            Modifier::Base64Decode => decode_base64(input, false)
                .ok_or_else(|| "base64decode: the value is not valid base64".into()),
            Modifier::Sha256Sum => Ok(Zeroizing::new(
                hex::encode(Sha256::digest(input)).into_bytes(),
            )),
            Modifier::Indent(n) => Ok(Zeroizing::new(indent(text()?, *n).into_bytes())),
            Modifier::JsonPath(path) => {
                if too_deep(input) {
                    return Err(format!(
                        "jsonPath: the value nests deeper than {MAX_JSON_DEPTH} levels"
                    ));
                }
                let value = parse_secret_json(input)
                    .ok_or_else(|| "jsonPath: the value is not JSON".to_string())?;
                path.execute(&value.0)
                    .map(|s| Zeroizing::new(s.into_bytes()))
                    .map_err(|e| format!("jsonPath {}: {e}", path.source()))
            }
        }
    }
}

/// AVP's `indent`, line for line.
fn indent(input: &str, level: usize) -> String {
    let lines: Vec<&str> = input.split('\n').collect();
    let mut out = String::with_capacity(input.len() + lines.len() * level);
    out.push_str(lines[0].trim());
    if lines.len() > 1 {
        out.push('\n');
    }
    for (i, line) in lines.iter().enumerate().skip(1) {
        if !line.is_empty() {
            out.extend(std::iter::repeat_n(' ', level));
            out.push_str(line.trim());
            if i < lines.len() - 1 {
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(m: &str, v: &str) -> Result<String, String> {
        Modifier::parse(m)?
            .apply(v.as_bytes())
            .map(|b| String::from_utf8(b.to_vec()).unwrap())
    }

    #[test]
    fn each_modifier() {
        assert_eq!(run("base64encode", "hi").unwrap(), "aGk=");
        assert_eq!(run(" base64decode ", "aGk=").unwrap(), "hi");
        assert_eq!(
            run("sha256sum", "").unwrap(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(run("jsonPath {.a.b}", r#"{"a":{"b":"x"}}"#).unwrap(), "x");
        assert_eq!(
            run("indent 4", "-----BEGIN-----\nabc\n-----END-----").unwrap(),
            "-----BEGIN-----\n    abc\n    -----END-----"
        );
        assert_eq!(run("indent 2", "a\n\nb\n").unwrap(), "a\n  b\n");
    }

    #[test]
    fn bad_modifiers() {
        for bad in [
            "",
            "upper",
            "indent",
            "indent x",
            "indent 1 2",
            "base64encode x",
            "jsonPath",
            "jsonParse",
            "indent 100000",
        ] {
            assert!(Modifier::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(run("base64decode", "@@").unwrap_err().contains("base64"));
        assert!(run("jsonPath {.a}", "not json").is_err());
    }
}
