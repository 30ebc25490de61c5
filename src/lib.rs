//! sealsync: SOPS-compatible secret encryption and a GitOps agent that materializes Kubernetes Secrets.
pub mod cli;
pub mod desired;
pub mod keys;
#[cfg(feature = "kube")]
pub mod leader;
pub mod names;
pub mod references;
pub mod sink;
pub mod sops;
