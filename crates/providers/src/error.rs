//! The providers' one error type, classified so the engine can act on it.

/// What kind of failure: the engine keeps the last good value on all but `NotFound`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The store says the secret (or version) does not exist: 404 / ResourceNotFoundException.
    /// The only kind that may ever lead to deleting what was written from it.
    NotFound,
    /// 403 / AccessDenied: a policy denies this key (after one re-login if the token had expired).
    Denied,
    /// Connection refused, timeout, 5xx, a sealed Vault.
    Unavailable,
    /// 429 / ThrottlingException.
    Throttled,
    /// The value is over the size limit; refused, never truncated.
    TooLarge,
    /// Bad configuration, bad reference or a response that cannot be understood.
    Invalid,
}

impl ErrorKind {
    /// A stable label for logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::Denied => "denied",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Throttled => "throttled",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Invalid => "invalid",
        }
    }
}

/// An error about one remote key of one store. Messages name the store and the key and say why;
/// they never carry a value, a token or a credential.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("store {store}: {key}: not found: {detail}")]
    NotFound {
        store: String,
        key: String,
        detail: String,
    },
    #[error("store {store}: {key}: access denied: {detail}")]
    Denied {
        store: String,
        key: String,
        detail: String,
    },
    #[error("store {store}: {key}: unavailable: {detail}")]
    Unavailable {
        store: String,
        key: String,
        detail: String,
    },
    #[error("store {store}: {key}: throttled: {detail}")]
    Throttled {
        store: String,
        key: String,
        detail: String,
    },
    #[error(
        "store {store}: {key}: value of {size} bytes or more is over the limit of {limit} bytes"
    )]
    TooLarge {
        store: String,
        key: String,
        size: u64,
        limit: u64,
    },
    #[error("store {store}: {key}: invalid: {detail}")]
    Invalid {
        store: String,
        key: String,
        detail: String,
    },
}

impl ProviderError {
    /// Builds an error of `kind` (for `TooLarge` use [`ProviderError::too_large`]).
    /// `detail` often quotes the server (Vault's `errors`, an AWS message): it is folded onto one line
    /// and cut at `MAX_DETAIL` characters, so that a server can neither split a log line nor fill one.
    pub fn new(kind: ErrorKind, store: &str, key: &str, detail: impl Into<String>) -> Self {
        let (store, key, detail) = (store.to_owned(), key.to_owned(), one_line(&detail.into()));
        match kind {
            ErrorKind::NotFound => ProviderError::NotFound { store, key, detail },
            ErrorKind::Denied => ProviderError::Denied { store, key, detail },
            ErrorKind::Unavailable => ProviderError::Unavailable { store, key, detail },
            ErrorKind::Throttled => ProviderError::Throttled { store, key, detail },
            ErrorKind::TooLarge | ErrorKind::Invalid => {
                ProviderError::Invalid { store, key, detail }
            }
        }
    }

    pub fn too_large(store: &str, key: &str, size: u64, limit: u64) -> Self {
        ProviderError::TooLarge {
            store: store.to_owned(),
            key: key.to_owned(),
            size,
            limit,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            ProviderError::NotFound { .. } => ErrorKind::NotFound,
            ProviderError::Denied { .. } => ErrorKind::Denied,
            ProviderError::Unavailable { .. } => ErrorKind::Unavailable,
            ProviderError::Throttled { .. } => ErrorKind::Throttled,
            ProviderError::TooLarge { .. } => ErrorKind::TooLarge,
            ProviderError::Invalid { .. } => ErrorKind::Invalid,
        }
    }

    /// Worth retrying later: the store was unreachable or asked us to slow down.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind(), ErrorKind::Unavailable | ErrorKind::Throttled)
    }

    /// The same error for another key (a store-wide failure reported for each reference).
    pub fn for_key(&self, key: &str) -> Self {
        match self {
            ProviderError::TooLarge {
                store, size, limit, ..
            } => Self::too_large(store, key, *size, *limit),
            ProviderError::NotFound { store, detail, .. }
            | ProviderError::Denied { store, detail, .. }
            | ProviderError::Unavailable { store, detail, .. }
            | ProviderError::Throttled { store, detail, .. }
            | ProviderError::Invalid { store, detail, .. } => {
                Self::new(self.kind(), store, key, detail.clone())
            }
        }
    }
}

/// What an error chain says at its end (a refused connection, an unknown certificate issuer), where
/// the outer layers only say a request failed.
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

/// The longest server detail an error keeps (characters).
const MAX_DETAIL: usize = 400;

/// `text` with every run of whitespace (newlines, tabs) made one space, at most `MAX_DETAIL`
/// characters of it.
fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_DETAIL + 3));
    for (i, word) in text.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
        if out.chars().count() > MAX_DETAIL {
            let cut: String = out.chars().take(MAX_DETAIL).collect();
            return cut + "...";
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server's multi-line message (Vault: "1 error occurred:\n\t* permission denied\n\n") is
    /// one line in the error (before: it split the agent's log lines), and a long one is cut.
    #[test]
    fn server_details_are_one_bounded_line() {
        let e = ProviderError::new(
            ErrorKind::Denied,
            "SecretStore a/b",
            "app/x",
            "HTTP 403: 1 error occurred:\n\t* permission denied\n\n",
        );
        let text = e.to_string();
        assert!(!text.contains('\n') && !text.contains('\t'), "{text:?}");
        assert!(
            text.contains("HTTP 403: 1 error occurred: * permission denied"),
            "{text}"
        );
        let long = ProviderError::new(ErrorKind::Invalid, "s", "k", "x".repeat(100_000));
        assert!(long.to_string().len() < 600, "{}", long.to_string().len());
    }

    #[test]
    fn messages_name_store_and_key() {
        let e = ProviderError::new(ErrorKind::Denied, "vault-a", "app/db", "permission denied");
        assert_eq!(
            e.to_string(),
            "store vault-a: app/db: access denied: permission denied"
        );
        assert_eq!(e.kind().label(), "denied");
        assert!(!e.is_retryable());
        let t = ProviderError::too_large("s", "k", 2_000_000, 1_048_576).for_key("k2");
        assert_eq!(t.kind(), ErrorKind::TooLarge);
        assert!(t.to_string().contains("k2"));
    }
}
