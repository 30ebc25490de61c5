//! sealsync-agent: the GitOps agent's library: git, documents, desired state, the reconcile engine, the
//! sinks, the operations port, leader election and the agent itself.

// The SOPS format and age keys live in sealsync-sops; re-exported under their old names so that
// `crate::sops::…` and `crate::keys::…` paths keep working inside this crate.
pub use sealsync_sops::{keys, sops};

pub mod agent;
pub mod desired;
pub mod documents;
pub mod external;
pub mod git;
pub mod hardening;
#[cfg(feature = "kube")]
pub mod leader;
pub mod names;
pub mod ops;
pub mod policy;
pub mod reason;
pub mod reconcile;
pub mod sink;
pub mod size;
pub mod small_map;
