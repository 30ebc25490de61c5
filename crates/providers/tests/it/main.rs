//! The providers against real servers on loopback (OpenBao, moto, the Kubernetes API test server), in
//! one test binary. IRSA, which needs the process environment, has its own (`tests/aws_irsa.rs`).

#[path = "../support/mod.rs"]
mod support;

#[cfg(feature = "aws")]
mod aws;
#[cfg(feature = "vault")]
mod vault;
#[cfg(feature = "vault")]
mod vault_login;
