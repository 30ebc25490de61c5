//! Secret key names: Kubernetes' rule for them, and ESO's conversion of remote names into keys.

use crate::external_secret::ConversionStrategy;
use crate::limits::MAX_KEY_NAME;

/// Kubernetes' rule for a Secret data key (`IsConfigMapKey`): 1–253 characters of `[-._a-zA-Z0-9]`,
/// not `.`, `..` nor starting with `..`.
pub fn check_key_name(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("empty key".into());
    }
    if key.len() > MAX_KEY_NAME {
        return Err(format!(
            "{} characters exceed the limit of {MAX_KEY_NAME}",
            key.len()
        ));
    }
    if let Some(c) = key
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
    {
        return Err(format!(
            "invalid character {c:?}: only alphanumerics, '-', '.' and '_' are allowed"
        ));
    }
    if key == "." || key == ".." || key.starts_with("..") {
        return Err("must not be '.' or '..' nor start with '..'".into());
    }
    Ok(())
}

/// An RFC 1123 subdomain (a Secret name): at most 253 characters of lowercase alphanumerics, `-`
/// and `.`, each dot-separated label starting and ending with an alphanumeric.
pub fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253
        && !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// ESO's `conversionStrategy` applied to a remote name (`dataFrom` keys without a rewrite): every
/// character that is not a letter, a digit, `-`, `.` or `_` becomes `_` (`Default`) or `_UXXXX_`
/// (`Unicode`, the code point in lowercase hex, at least four digits). Letters and digits are
/// Unicode's, as in Go; Kubernetes then refuses non-ASCII ones in [`check_key_name`].
pub fn convert_key(strategy: ConversionStrategy, name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_alphanumeric() || matches!(c, '-' | '.' | '_') {
            out.push(c);
        } else {
            match strategy {
                ConversionStrategy::Default => out.push('_'),
                ConversionStrategy::Unicode => out.push_str(&format!("_U{:04x}_", c as u32)),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names() {
        assert!(check_key_name("tls.crt").is_ok());
        assert!(check_key_name("DB_PASSWORD-1").is_ok());
        for bad in ["", ".", "..", "..x", "a/b", "a b", "ключ", &"k".repeat(254)] {
            assert!(check_key_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn conversion_as_eso_does() {
        assert_eq!(
            convert_key(ConversionStrategy::Default, "app/db/password"),
            "app_db_password"
        );
        assert_eq!(convert_key(ConversionStrategy::Unicode, "a/b"), "a_U002f_b");
        assert_eq!(
            convert_key(ConversionStrategy::Unicode, "a\u{1F600}"),
            "a_U1f600_"
        );
        assert_eq!(convert_key(ConversionStrategy::Default, "já"), "já");
    }

    #[test]
    fn subdomains() {
        assert!(is_dns_subdomain("db-credentials"));
        assert!(is_dns_subdomain("a.b-c"));
        for bad in ["", "A", "-a", "a-", "a..b", "a_b"] {
            assert!(!is_dns_subdomain(bad), "{bad:?} accepted");
        }
    }
}
