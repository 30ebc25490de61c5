//! sealsync: SOPS-compatible secret encryption and a GitOps agent that materializes Kubernetes Secrets.
pub mod agent;
pub mod cli;
pub mod desired;
pub mod documents;
pub mod git;
pub mod hardening;
pub mod keys;
#[cfg(feature = "kube")]
pub mod leader;
pub mod names;
pub mod ops;
pub mod policy;
pub mod reconcile;
pub mod references;
pub mod sink;
pub mod small_map;
pub mod sops;
