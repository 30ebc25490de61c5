//! The `sealsync` agent: configuration, start-up and the reconcile loop around the engine.

pub mod args;
pub mod config;
mod config_file;
pub mod dir;
#[cfg(feature = "kube")]
pub mod kube;
pub mod launch;
pub mod malloc;
pub mod report;
mod resolver;
pub mod run;
pub mod settings;
