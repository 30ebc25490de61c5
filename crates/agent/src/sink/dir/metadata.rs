//! The `..sealsync.json` file beside a Secret's keys: the mark that sealsync manages the directory, and
//! what it applied there (fingerprint, source, type) — never a value.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{layout, Context, Failure};
use crate::desired::DesiredSecret;

/// The file's name. It starts with `..`, which no key written by this sink can (see `validate_keys`).
pub(super) const FILE: &str = "..sealsync.json";
/// Where a new version is written before it is renamed over `FILE`.
pub(super) const FILE_TMP: &str = "..sealsync.json.tmp";

/// A record is a few hundred bytes; anything much larger was not written by sealsync.
const MAX_LEN: u64 = 64 * 1024;

/// The on-disk schema, kept apart from `DesiredSecret` so the file format changes only on purpose.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Record {
    pub version: u32,
    pub namespace: String,
    pub name: String,
    #[serde(rename = "type")]
    pub secret_type: String,
    /// HMAC of what was applied (`DesiredSecret::fingerprint`), never a plain hash of the values.
    pub fingerprint: String,
    pub source: SourceRecord,
    /// `sealsync.dev/prune: disabled`: pruning releases the directory (removes this file) instead of
    /// deleting it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SourceRecord {
    pub path: String,
    pub commit: String,
}

impl Record {
    pub fn new(desired: &DesiredSecret, fingerprint: String) -> Record {
        Record {
            version: 1,
            namespace: desired.key.namespace.clone(),
            name: desired.key.name.clone(),
            secret_type: desired.secret_type.clone(),
            fingerprint,
            source: SourceRecord {
                path: desired.source.path.clone(),
                commit: desired.source.commit.clone(),
            },
            keep: desired.kept_on_removal(),
        }
    }
}

/// Whether a Secret directory carries the metadata file, and what it says if it can be read.
#[derive(Debug)]
pub(super) enum Marker {
    Missing,
    /// `None`: the file is there (so the directory is sealsync's) but unreadable or corrupt.
    Present(Option<Record>),
}

/// Reads `secret_dir/..sealsync.json`. Only a regular file counts as the mark: a symlink or a
/// directory of that name was not made by sealsync.
pub(super) fn read(secret_dir: &Path) -> Result<Marker, Failure> {
    let path = secret_dir.join(FILE);
    let meta = match fs::symlink_metadata(&path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Marker::Missing),
        Err(err) => return Err(err).context(|| format!("reading {FILE}")),
    };
    let kind = meta.file_type();
    if !kind.is_file() {
        return Ok(Marker::Missing);
    }
    let mut text = Vec::new();
    let read = fs::File::open(&path).and_then(|f| f.take(MAX_LEN + 1).read_to_end(&mut text));
    match read {
        Ok(_) if text.len() as u64 <= MAX_LEN => {
            Ok(Marker::Present(serde_json::from_slice(&text).ok()))
        }
        Ok(_) => Ok(Marker::Present(None)),
        Err(err) => Err(err).context(|| format!("reading {FILE}")),
    }
}

/// Removes the metadata file: the directory stays, no longer sealsync's.
pub(super) fn remove(secret_dir: &Path) -> Result<(), Failure> {
    layout::remove_if_present(&secret_dir.join(FILE)).context(|| format!("removing {FILE}"))
}

/// Replaces the metadata file atomically (written beside it, then renamed over it).
pub(super) fn write(secret_dir: &Path, record: &Record) -> Result<(), Failure> {
    let mut text = serde_json::to_vec_pretty(record)
        .map_err(|err| Failure(format!("encoding {FILE}: {err}")))?;
    text.push(b'\n');
    let tmp = secret_dir.join(FILE_TMP);
    layout::remove_if_present(&tmp).context(|| format!("removing a stale {FILE_TMP}"))?;
    layout::create_file(&tmp, &text).context(|| format!("writing {FILE_TMP}"))?;
    fs::rename(&tmp, secret_dir.join(FILE)).context(|| format!("renaming {FILE_TMP} to {FILE}"))
}
