//! The SOPS file format: documents, value encryption, the MAC, key groups and metadata.
pub mod cipher;
pub mod creation_rules;
pub mod file;
pub mod keygroups;
pub mod metadata;
pub mod pattern;
pub mod rules;
pub mod shamir;
pub mod stores;
pub mod timestamp;
pub mod tree;
pub mod walk;

#[cfg(test)]
mod properties;
