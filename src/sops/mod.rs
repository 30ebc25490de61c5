//! The SOPS file format: documents, value encryption, the MAC, key groups and metadata.
pub mod stores;
pub mod tree;
