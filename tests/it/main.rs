//! All integration tests of sealsync, linked into one test binary.

mod support;

mod bounds;
mod fixtures;
mod sealctl;
mod sops_interop;
