//! The reconcile engine: desired state computed from a git snapshot (re-decrypting only files whose
//! blob changed), then applied to a sink, with managed Secrets whose source left git pruned behind a
//! guard against mass deletion.

mod apply;
pub mod desired_state;

pub use apply::{plan_prune, Applier, ApplyReport, PrunePlan, SecretResult};
pub use desired_state::{DesiredState, Engine, EngineSettings};
