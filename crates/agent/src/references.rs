//! Inline references to external secret stores in argocd-vault-plugin's syntax:
//! `<path:secret/data/app/db#password>` or `<path:secret/data/app/db#password#3>` (a version).

/// A parsed `<path:PATH#KEY[#VERSION]>` reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    pub path: String,
    pub key: String,
    pub version: Option<String>,
}

/// Parses a value that is exactly one reference (surrounding whitespace allowed).
pub fn parse(value: &str) -> Option<Reference> {
    let inner = value.trim().strip_prefix("<path:")?.strip_suffix('>')?;
    if inner.contains(['<', '>']) {
        return None;
    }
    let mut parts = inner.split('#');
    let path = parts.next()?.trim();
    let key = parts.next()?.trim();
    let version = parts.next().map(|v| v.trim().to_string());
    if path.is_empty() || key.is_empty() || parts.next().is_some() {
        return None;
    }
    if version.as_deref().is_some_and(str::is_empty) {
        return None;
    }
    Some(Reference {
        path: path.to_string(),
        key: key.to_string(),
        version,
    })
}

/// Whether a value is an external reference rather than a secret.
pub fn is_reference(value: &str) -> bool {
    parse(value).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_avp_references() {
        assert_eq!(
            parse("<path:secret/data/app/db#password>"),
            Some(Reference {
                path: "secret/data/app/db".into(),
                key: "password".into(),
                version: None
            })
        );
        assert_eq!(
            parse("<path:kv/app#k#3>").unwrap().version.as_deref(),
            Some("3")
        );
        assert!(!is_reference("hunter2"));
        assert!(!is_reference("<path:only-path>"));
        assert!(!is_reference("prefix <path:a#b>"));
    }
}
