//! Clients for external secret stores (HashiCorp Vault / OpenBao, AWS Secrets Manager) behind one small trait.
//!
//! The crate knows nothing of git, documents or sinks: it takes a store's configuration and remote
//! references and returns values. Only [`ErrorKind::NotFound`] is an authoritative absence; every other
//! error means "unknown right now" and the caller keeps its last good value.

#[cfg(feature = "aws")]
pub mod aws;
mod error;
// Without a provider there is nothing to limit.
#[cfg_attr(not(any(feature = "vault", feature = "aws")), allow(dead_code))]
mod limits;
#[cfg(feature = "vault")]
pub mod vault;

pub use error::{ErrorKind, ProviderError};
pub use limits::Limits;
#[cfg_attr(not(any(feature = "vault", feature = "aws")), allow(dead_code))]
mod token_source;
pub use token_source::{TokenError, TokenSource};

pub use futures_util::future::BoxFuture;
use std::fmt;
use zeroize::Zeroizing;

/// A reference to one remote secret: its key (Vault path below the mount, or AWS name/ARN) and an
/// optional pinned version (Vault KV v2: a version number; AWS: a stage or `uuid/<version id>`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RemoteRef {
    pub key: String,
    pub version: Option<String>,
}

impl RemoteRef {
    /// The current version of `key`.
    pub fn current(key: impl Into<String>) -> Self {
        RemoteRef {
            key: key.into(),
            version: None,
        }
    }

    /// A pinned version of `key`.
    pub fn pinned(key: impl Into<String>, version: impl Into<String>) -> Self {
        RemoteRef {
            key: key.into(),
            version: Some(version.into()),
        }
    }
}

/// A value read from a store: the secret's bytes (Vault KV: the secret's `data` object as JSON; AWS:
/// the SecretString's or SecretBinary's bytes) and the version id the server returned.
#[derive(Clone)]
pub struct RemoteValue {
    bytes: Zeroizing<Vec<u8>>,
    version: Option<String>,
}

impl RemoteValue {
    pub fn new(bytes: Zeroizing<Vec<u8>>, version: Option<String>) -> Self {
        RemoteValue { bytes, version }
    }

    /// The value's bytes; keep them in `Zeroizing` buffers when copying.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Gives up the value's buffer (still zeroized on drop).
    pub fn into_bytes(self) -> Zeroizing<Vec<u8>> {
        self.bytes
    }

    /// The version the server returned (Vault KV v2 version number, AWS VersionId); none for KV v1.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }
}

impl fmt::Debug for RemoteValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteValue")
            .field(
                "bytes",
                &format_args!("<{} bytes redacted>", self.bytes.len()),
            )
            .field("version", &self.version)
            .finish()
    }
}

/// What `find` looks for: secrets under `path` (Vault: a LIST of that folder; AWS: a name prefix),
/// whose name matches `name_regex`, and (AWS only) carrying every tag in `tags`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FindQuery {
    pub path: Option<String>,
    pub name_regex: Option<String>,
    pub tags: Vec<(String, String)>,
}

/// One external secret store, already configured and authenticated on demand. Object-safe, so the
/// engine can hold `Arc<dyn Provider>` per store.
pub trait Provider: Send + Sync {
    /// The store's name, as errors name it.
    fn store(&self) -> &str;

    /// Reads every reference; one result per reference, in order. Failures are per reference.
    fn fetch<'a>(
        &'a self,
        refs: &'a [RemoteRef],
    ) -> BoxFuture<'a, Vec<Result<RemoteValue, ProviderError>>>;

    /// Finds secrets by path, name and tags; returns (key, current value) pairs, sorted by key.
    fn find<'a>(
        &'a self,
        query: &'a FindQuery,
    ) -> BoxFuture<'a, Result<Vec<(String, RemoteValue)>, ProviderError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_a_value() {
        let v = RemoteValue::new(Zeroizing::new(b"hunter2".to_vec()), Some("3".into()));
        let shown = format!("{v:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("7 bytes"),
            "{shown}"
        );
    }

    #[cfg(feature = "vault")]
    #[test]
    fn vault_credentials_and_headers_stay_out_of_debug() {
        use vault::{JwtSource, VaultAuth, VaultStore};
        let auths = [
            VaultAuth::Token(Zeroizing::new("s.tok3n".into())),
            VaultAuth::AppRole {
                mount_path: "approle".into(),
                role_id: "r".into(),
                secret_id: Zeroizing::new("s.tok3n".into()),
            },
            VaultAuth::Jwt {
                mount_path: "jwt".into(),
                role: None,
                jwt: JwtSource::Inline(Zeroizing::new("s.tok3n".into())),
            },
        ];
        for auth in auths {
            let store = VaultStore {
                name: "v".into(),
                server: "https://vault:8200".into(),
                mount_path: "secret".into(),
                kv_version: Default::default(),
                namespace: None,
                ca_bundle_pem: None,
                headers: vec![("X-Api-Key".into(), "s.tok3n".into())],
                auth,
                limits: Limits::default(),
            };
            let shown = format!("{store:?}");
            assert!(
                !shown.contains("s.tok3n") && shown.contains("X-Api-Key"),
                "{shown}"
            );
        }
    }

    #[cfg(feature = "aws")]
    #[test]
    fn aws_keys_stay_out_of_debug() {
        let auth = aws::AwsAuth::Static {
            access_key_id: "AKIAEXAMPLE".into(),
            secret_access_key: Zeroizing::new("wJalrXUtnFEMI".into()),
            session_token: Some(Zeroizing::new("FwoGZXIvYXdz".into())),
        };
        let shown = format!("{auth:?}");
        assert!(
            !shown.contains("AKIA") && !shown.contains("wJalr") && !shown.contains("FwoG"),
            "{shown}"
        );
    }
}
