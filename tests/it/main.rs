//! All integration tests of sealsync, linked into one test binary.

mod support;

mod agent_dir;
mod agent_dir_daemon;
mod agent_kube;
mod bounds;
mod bounds_agent;
mod fixtures;
mod git_servers;
mod git_source;
#[cfg(feature = "kube")]
mod kube_sink;
mod sealctl;
mod sops_interop;
