//! HashiCorp Vault / OpenBao: the store's configuration, as ESO's `vault` SecretStore provider has it.

mod auth;
mod client;
mod kv;

pub use auth::AuthCounts;
pub use client::VaultProvider;

use crate::Limits;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Where a pod's own service account token is mounted.
pub const SERVICE_ACCOUNT_TOKEN_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// The KV secrets engine's version at `mount_path`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KvVersion {
    V1,
    /// `/data/` (reads) and `/metadata/` (lists) are implied after the mount.
    #[default]
    V2,
}

/// Where a login JWT comes from.
#[derive(Clone)]
pub enum JwtSource {
    Inline(Zeroizing<String>),
    /// Read at each login, so a rotated projected token is picked up.
    File(PathBuf),
    /// Asked for at each login (a TokenRequest for a service account).
    Requested(Arc<dyn crate::TokenSource>),
}

impl JwtSource {
    /// The agent's own service account token.
    pub fn service_account() -> Self {
        JwtSource::File(PathBuf::from(SERVICE_ACCOUNT_TOKEN_FILE))
    }
}

impl fmt::Debug for JwtSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwtSource::Inline(_) => f.write_str("Inline(<redacted>)"),
            JwtSource::File(p) => f.debug_tuple("File").field(p).finish(),
            JwtSource::Requested(_) => f.write_str("Requested"),
        }
    }
}

/// How the store logs in; one token per store, renewed at about 2/3 of its TTL.
#[derive(Clone)]
pub enum VaultAuth {
    /// A token given as is; renewed if renewable, never re-obtained.
    Token(Zeroizing<String>),
    /// `auth/<mount_path>/login` with a role id and secret id (ESO default mount: `approle`).
    AppRole {
        mount_path: String,
        role_id: String,
        secret_id: Zeroizing<String>,
    },
    /// `auth/<mount_path>/login` with a service account JWT (ESO default mount: `kubernetes`).
    Kubernetes {
        mount_path: String,
        role: String,
        jwt: JwtSource,
    },
    /// `auth/<mount_path>/login` with a JWT / OIDC token (ESO default mount: `jwt`).
    Jwt {
        mount_path: String,
        role: Option<String>,
        jwt: JwtSource,
    },
}

impl fmt::Debug for VaultAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VaultAuth::Token(_) => f.write_str("Token(<redacted>)"),
            VaultAuth::AppRole {
                mount_path,
                role_id,
                ..
            } => f
                .debug_struct("AppRole")
                .field("mount_path", mount_path)
                .field("role_id", role_id)
                .field("secret_id", &"<redacted>")
                .finish(),
            VaultAuth::Kubernetes {
                mount_path,
                role,
                jwt,
            } => f
                .debug_struct("Kubernetes")
                .field("mount_path", mount_path)
                .field("role", role)
                .field("jwt", jwt)
                .finish(),
            VaultAuth::Jwt {
                mount_path,
                role,
                jwt,
            } => f
                .debug_struct("Jwt")
                .field("mount_path", mount_path)
                .field("role", role)
                .field("jwt", jwt)
                .finish(),
        }
    }
}

/// One Vault store.
#[derive(Clone)]
pub struct VaultStore {
    /// The store's name, as errors and logs name it.
    pub name: String,
    /// `https://vault.example:8200`.
    pub server: String,
    /// The KV mount, e.g. `secret`.
    pub mount_path: String,
    pub kv_version: KvVersion,
    /// Sent as `X-Vault-Namespace`.
    pub namespace: Option<String>,
    /// PEM certificates to trust instead of the system's roots.
    pub ca_bundle_pem: Option<String>,
    /// Extra request headers (values may be secret: never logged).
    pub headers: Vec<(String, String)>,
    pub auth: VaultAuth,
    pub limits: Limits,
}

impl fmt::Debug for VaultStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("VaultStore")
            .field("name", &self.name)
            .field("server", &self.server)
            .field("mount_path", &self.mount_path)
            .field("kv_version", &self.kv_version)
            .field("namespace", &self.namespace)
            .field(
                "ca_bundle_pem",
                &self.ca_bundle_pem.as_ref().map(|_| "<pem>"),
            )
            .field("header_names", &header_names)
            .field("auth", &self.auth)
            .field("limits", &self.limits)
            .finish()
    }
}
