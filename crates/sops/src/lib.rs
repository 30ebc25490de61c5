//! sealsync-sops: the SOPS file format and age keys, with no knowledge of git, Kubernetes or the agent.
pub mod keys;
pub mod sops;
