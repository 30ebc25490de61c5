//! The file formats sops reads and writes — YAML, JSON, dotenv, INI and binary — each turning bytes into
//! documents (`Map`s) and back, knowing nothing of encryption.
//!
//! An encrypted file keeps its metadata under a top-level `sops` key in every document. Formats that
//! cannot nest (dotenv, INI) flatten that map on the way out and rebuild it on the way in, so the rest of
//! the crate always sees a nested `sops` map.

pub mod binary;
pub mod dotenv;
pub mod flatten;
pub mod ini;
pub mod json;
pub mod yaml;

use std::path::Path;

use super::tree::{Map, Value};

/// The key under which every store keeps sops metadata.
pub const METADATA_KEY: &str = "sops";

/// Why a file could not be read or written in its format. Messages never quote values from the input.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("too large or too deep: {0}")]
    Limit(String),
    /// A value the format can hold but sops cannot encrypt without changing it (an integer beyond 64
    /// bits).
    #[error("line {line}, column {column}: {message}")]
    Unrepresentable {
        line: usize,
        column: usize,
        message: String,
    },
}

/// How a store lays out what it writes: sops' `stores: {yaml: {indent: N}, json: {indent: N}}` and
/// `--indent`. `None` keeps sops' default (4 spaces for YAML, a tab for JSON).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    pub indent: Option<usize>,
}

/// A file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    Yaml,
    Json,
    Dotenv,
    Ini,
    Binary,
}

impl Format {
    /// The format sops picks for a path (`formats.FormatForPath`): by a case-sensitive suffix of the
    /// name, so a file named exactly `.env` is dotenv and `app.YAML` is binary; binary when none matches.
    pub fn from_path(path: &Path) -> Format {
        let name = path.file_name().map(|n| n.to_string_lossy());
        let name = name.as_deref().unwrap_or("");
        if name.ends_with(".yaml") || name.ends_with(".yml") {
            Format::Yaml
        } else if name.ends_with(".json") {
            Format::Json
        } else if name.ends_with(".env") {
            Format::Dotenv
        } else if name.ends_with(".ini") {
            Format::Ini
        } else {
            Format::Binary
        }
    }

    /// Parses a `--input-type` / `--output-type` name, as sops spells them.
    pub fn from_name(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            "dotenv" | "env" => Some(Format::Dotenv),
            "ini" => Some(Format::Ini),
            "binary" => Some(Format::Binary),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
            Format::Dotenv => "dotenv",
            Format::Ini => "ini",
            Format::Binary => "binary",
        }
    }

    /// The store that reads and writes this format.
    pub fn store(self) -> &'static dyn Store {
        match self {
            Format::Yaml => &yaml::YamlStore,
            Format::Json => &json::JsonStore,
            Format::Dotenv => &dotenv::DotenvStore,
            Format::Ini => &ini::IniStore,
            Format::Binary => &binary::BinaryStore,
        }
    }
}

/// Reads and writes one file format. Plain files are what people edit; encrypted files carry a `sops`
/// entry (a nested `Map`) at the top level of every document.
pub trait Store: Sync {
    /// Parses a plain (decrypted) file into its documents.
    fn load_plain(&self, input: &[u8]) -> Result<Vec<Map>, FormatError>;

    /// Parses an encrypted file into its documents, each with its `sops` entry as a nested map.
    fn load_encrypted(&self, input: &[u8]) -> Result<Vec<Map>, FormatError> {
        self.load_plain(input)
    }

    /// Writes documents as a plain file.
    fn emit_plain(&self, docs: &[Map]) -> Result<Vec<u8>, FormatError>;

    /// `emit_plain` with a layout; stores without a layout to choose ignore it.
    fn emit_plain_with(&self, docs: &[Map], _layout: Layout) -> Result<Vec<u8>, FormatError> {
        self.emit_plain(docs)
    }

    /// `emit_encrypted` with a layout; stores without a layout to choose ignore it.
    fn emit_encrypted_with(&self, docs: &[Map], _layout: Layout) -> Result<Vec<u8>, FormatError> {
        self.emit_encrypted(docs)
    }

    /// Writes documents that each carry a `sops` entry as an encrypted file.
    fn emit_encrypted(&self, docs: &[Map]) -> Result<Vec<u8>, FormatError> {
        self.emit_plain(docs)
    }

    /// Writes one value on its own, for `decrypt --extract`: a scalar as its bare text, a map or list
    /// in this format.
    fn emit_value(&self, value: &Value) -> Result<Vec<u8>, FormatError>;
}

/// Bounds every parser enforces, so that no input can exhaust memory or the stack.
pub mod limits {
    /// Deepest nesting of maps and lists accepted.
    pub const MAX_DEPTH: usize = 128;
    /// Most nodes a file may hold, aliases expanded included. A Kubernetes object is at most 1 MiB
    /// (etcd's limit), a few thousand keys; 200,000 nodes of this crate's tree stay near 20 MiB, so a
    /// 5 MiB file of `[0,0,0,...]` cannot take the agent near its 128 MiB limit.
    pub const MAX_NODES: usize = 200_000;
    /// Most nodes that aliases may copy in one file, counted as each alias is met and before it is
    /// copied: a "billion laughs" is refused after at most this much work, not after expanding.
    pub const MAX_ALIAS_NODES: usize = 10_000;
    /// Most bytes of scalar text that aliases may copy in one file (a short anchored string aliased
    /// thousands of times stays under `MAX_ALIAS_NODES` yet could be long).
    pub const MAX_ALIAS_BYTES: usize = 1 << 20;
}
