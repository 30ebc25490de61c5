//! All integration tests of sealsync, linked into one test binary.

mod support;

mod agent_config;
mod agent_dir;
mod agent_dir_daemon;
mod agent_hardening;
#[cfg(feature = "kube")]
mod agent_kube;
#[cfg(feature = "kube")]
mod agent_metrics;
#[cfg(feature = "kube")]
mod agent_restarts;
mod agent_status;
mod bounds;
mod bounds_agent;
#[cfg(feature = "kube")]
mod cluster;
#[cfg(feature = "kube")]
mod e2e_script;
mod exit_codes;
mod external_refs;
mod faults_common;
mod faults_disk;
mod faults_git;
mod faults_kill;
#[cfg(feature = "kube")]
mod faults_kube;
mod faults_refs;
mod fixtures;
mod git_servers;
mod git_source;
mod hostile;
#[cfg(feature = "kube")]
mod install;
#[cfg(feature = "kube")]
mod kube_sink;
mod moto;
mod ops_port;
mod references_aws;
#[cfg(feature = "kube")]
mod references_kube;
mod references_outage;
mod references_policies;
mod references_vault_auth;
mod sealctl;
mod sealctl_check;
mod sealctl_create;
mod sealctl_edit;
mod sealctl_edit_cases;
mod sealctl_identities;
mod sealctl_limits;
mod sealctl_render;
mod sealctl_writes;
mod service_account_login;
mod signed_commits;
mod sops_compat;
mod sops_forms;
mod sops_interop;
mod tenancy;
