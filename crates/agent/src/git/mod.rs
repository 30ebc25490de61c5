//! The git source: fetch a branch, tag or commit of a remote (shallow, cached) and read the files under the configured paths.
//!
//! ```text
//! GitSourceConfig --validate--> GitSource --fetch()--> Snapshot { commit, files[path, blob_id, content] }
//!                                          \--last_good()--> the previous Snapshot when a fetch fails
//! ```
//!
//! Fetching is blocking (gix's blocking client); from async code call it through `spawn_blocking`.
//! Remotes: `file://` and local paths, `git://`, smart HTTP(S) (optionally with a token file, sent as
//! basic auth) and ssh (with a private key file, through the system `ssh` program).
//! With allowed signers configured, a commit is read only if its SSH signature is accepted ([`signature`]).

mod auth;
mod config;
mod error;
mod fetch;
mod redact;
pub mod signature;
mod snapshot;
mod source;
mod tree;

pub use auth::DEFAULT_TOKEN_USER;
pub use config::{
    GitAuth, GitSourceConfig, DEFAULT_MAX_FILES, DEFAULT_MAX_FILE_SIZE, DEFAULT_MAX_TOTAL_BYTES,
};
pub use error::GitError;
pub use redact::redact_url;
pub use signature::{AllowedSigners, AllowedSignersError, SignatureRefusal};
pub(crate) use snapshot::CacheRepo;
pub use snapshot::{Delta, FileContent, Files, Snapshot, SnapshotChanges, SourceFile, StoredBlob};
pub use source::{FetchStats, GitSource};
