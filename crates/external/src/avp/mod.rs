//! Secrets carrying argocd-vault-plugin placeholders: which Secrets count, their plan, and its filling.

pub mod fill;
pub mod jsonpath;
pub mod modifiers;
pub mod parse;
pub mod resolve;

pub use fill::fill;
pub use modifiers::Modifier;
pub use parse::{parse_secret, AvpSecret, Encoding, Entry, Field, Part, Placeholder, RemoteRef};
pub use resolve::{resolve, split_vault_path, RemoteSecretId};
