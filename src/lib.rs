//! sealsync: SOPS-compatible secret encryption and a GitOps agent that materializes Kubernetes Secrets.
pub mod git;
pub mod sops;
