//! All integration tests of sealsync, linked into one test binary.

mod support;

mod agent_dir;
mod agent_dir_daemon;
mod agent_hardening;
mod agent_kube;
mod bounds;
mod cluster;
mod fixtures;
mod git_servers;
mod git_source;
mod install;
#[cfg(feature = "kube")]
mod kube_sink;
mod ops_port;
mod sealctl;
mod sealctl_create;
mod sealctl_edit;
mod sops_interop;
