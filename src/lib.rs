//! sealsync: SOPS-compatible secret encryption and a GitOps agent that materializes Kubernetes Secrets.
pub mod sops;
