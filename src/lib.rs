//! sealsync: SOPS-compatible secret encryption and a GitOps agent that materializes Kubernetes Secrets.
pub mod cli;
pub mod desired;
pub mod keys;
pub mod names;
pub mod ops;
pub mod references;
pub mod sink;
pub mod sops;
