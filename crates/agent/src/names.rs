//! Kubernetes name rules, as the API server validates them: DNS-1123 subdomains (object names), DNS-1123
//! labels (namespaces) and Secret data keys.

/// Why a name is invalid, in the API server's words where it has them.
pub type NameError = String;

fn alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// A DNS-1123 label: at most 63 characters, lowercase alphanumerics and '-', starting and ending with
/// an alphanumeric (namespaces).
pub fn dns_label(name: &str) -> Result<(), NameError> {
    let b = name.as_bytes();
    if b.is_empty() {
        return Err("must not be empty".into());
    }
    if b.len() > 63 {
        return Err(format!(
            "must be no more than 63 characters (is {})",
            b.len()
        ));
    }
    if !b.iter().all(|&c| alnum(c) || c == b'-') || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return Err("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character".into());
    }
    Ok(())
}

/// A DNS-1123 subdomain: at most 253 characters, dot-separated labels of lowercase alphanumerics and
/// '-' (most object names, Secrets included).
pub fn dns_subdomain(name: &str) -> Result<(), NameError> {
    let b = name.as_bytes();
    if b.is_empty() {
        return Err("must not be empty".into());
    }
    if b.len() > 253 {
        return Err(format!(
            "must be no more than 253 characters (is {})",
            b.len()
        ));
    }
    let ok = name.split('.').all(|part| {
        let p = part.as_bytes();
        !p.is_empty()
            && p.iter().all(|&c| alnum(c) || c == b'-')
            && alnum(p[0])
            && alnum(p[p.len() - 1])
    });
    if !ok {
        return Err("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character".into());
    }
    Ok(())
}

/// A key of a Secret's `data`: at most 253 characters of alphanumerics, '-', '_' and '.', not `.` or `..`.
pub fn secret_key(key: &str) -> Result<(), NameError> {
    if key.is_empty() {
        return Err("must not be empty".into());
    }
    if key.len() > 253 {
        return Err(format!(
            "must be no more than 253 characters (is {})",
            key.len()
        ));
    }
    if key == "." || key == ".." {
        return Err("must not be '.' or '..'".into());
    }
    if !key
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
    {
        return Err(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.'".into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_subdomains() {
        assert!(dns_label("team-a").is_ok());
        assert!(dns_label("Team").is_err());
        assert!(dns_label("-a").is_err());
        assert!(dns_label(&"a".repeat(64)).is_err());
        assert!(dns_subdomain("db.credentials-1").is_ok());
        assert!(dns_subdomain("a..b").is_err());
        assert!(dns_subdomain("under_score").is_err());
        assert!(secret_key("tls.crt").is_ok());
        assert!(secret_key("a/b").is_err());
        assert!(secret_key("..").is_err());
    }
}
