//! Redaction of credentials from URLs and error texts before anything is logged or returned.

/// Returns `url` with any secret part replaced by `***`, safe to log.
///
/// For `http(s)://` the whole user-info is hidden, as forges accept a token in the user-name position
/// (`https://<token>@github.com/...`); elsewhere only a password is hidden (`ssh://git@host` stays readable).
/// The query string and fragment are dropped as they may carry tokens (`?private_token=...`).
/// Works on any text, parseable URL or not, and on every URL inside a longer message.
pub fn redact_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(pos) = rest.find("://") {
        let scheme_start = rest[..pos]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |i| i + 1);
        let scheme = &rest[scheme_start..pos];
        out.push_str(&rest[..pos + 3]);
        let after = &rest[pos + 3..];
        let end = after
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>' | ')'))
            .unwrap_or(after.len());
        out.push_str(&redact_authority_and_query(scheme, &after[..end]));
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn redact_authority_and_query(scheme: &str, rest: &str) -> String {
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = authority.split_at(at);
            let http = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
            match userinfo.split_once(':') {
                _ if http => format!("***{host}"),
                Some((user, _password)) => format!("{user}:***{host}"),
                None => format!("{userinfo}{host}"),
            }
        }
        None => authority.to_owned(),
    };
    let path = match path.find(['?', '#']) {
        // The smart-HTTP discovery query names the service only.
        Some(q) if path[q..].starts_with("?service=git-") && !path[q..].contains(['&', '#']) => {
            path.to_owned()
        }
        Some(q) => format!("{}?***", &path[..q]),
        None => path.to_owned(),
    };
    format!("{authority}{path}")
}

/// Removes every occurrence of each secret from `text` (defence in depth for texts built by libraries).
pub(crate) fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut text = redact_url(text);
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        text = text.replace(secret, "***");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_http_userinfo_and_queries() {
        assert_eq!(
            redact_url("https://tok3n@github.com/o/r.git"),
            "https://***@github.com/o/r.git"
        );
        assert_eq!(
            redact_url("http://u:p4ss@h:8080/r?private_token=x"),
            "http://***@h:8080/r?***"
        );
        assert_eq!(
            redact_url("https://github.com/o/r.git"),
            "https://github.com/o/r.git"
        );
    }

    #[test]
    fn keeps_the_smart_http_service_query_and_closing_parens() {
        let msg =
            "error sending request for url (https://h/r.git/info/refs?service=git-upload-pack)";
        assert_eq!(redact_url(msg), msg);
        assert_eq!(
            redact_url("(https://h/r?token=x&service=git-upload-pack)"),
            "(https://h/r?***)"
        );
    }

    #[test]
    fn hides_tokens_in_query_strings_and_fragments() {
        assert_eq!(
            redact_url("fetching https://h/r.git?access_token=ghp_x&x=1 failed"),
            "fetching https://h/r.git?*** failed"
        );
        assert_eq!(
            redact_url("http://h/r#token=abc"),
            "http://h/r?***",
            "a fragment may carry a token too"
        );
        assert_eq!(
            redact_url("ssh://git@h/r.git?key=s3cret"),
            "ssh://git@h/r.git?***"
        );
    }

    #[test]
    fn keeps_ssh_users_but_not_passwords() {
        assert_eq!(
            redact_url("ssh://git@host:22/r.git"),
            "ssh://git@host:22/r.git"
        );
        assert_eq!(
            redact_url("ssh://git:secret@host/r.git"),
            "ssh://git:***@host/r.git"
        );
        assert_eq!(
            redact_url("git@github.com:o/r.git"),
            "git@github.com:o/r.git"
        );
    }

    #[test]
    fn redacts_urls_inside_messages() {
        let msg = "Credentials provided for \"https://x-access-token:abcd@h/r\" were not accepted";
        let out = redact_url(msg);
        assert!(!out.contains("abcd"), "{out}");
        assert!(out.ends_with("were not accepted"), "{out}");
    }

    #[test]
    fn scrub_removes_bare_secrets() {
        assert_eq!(
            scrub("token s3cr3t-value leaked", &["s3cr3t-value"]),
            "token *** leaked"
        );
    }
}
