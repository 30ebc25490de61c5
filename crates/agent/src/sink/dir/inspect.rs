//! What is on disk for one Secret, compared with what git wants: absent, not sealsync's, or managed
//! and either intact or drifted (a value, key, link or mode changed by hand).

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use zeroize::Zeroizing;

use super::layout::{self, DATA_LINK, DIR_MODE, FILE_MODE};
use super::metadata::{self, Marker, Record};
use super::Failure;
use crate::desired::{SecretBytes, SmallMap};

/// Values are compared a chunk at a time, through one zeroized buffer.
const CHUNK: usize = 8 * 1024;

#[derive(Debug)]
pub(super) enum OnDisk {
    Absent,
    /// A directory of that name without sealsync's metadata file.
    Unmanaged,
    Managed {
        /// `None`: the metadata file is there but unreadable.
        recorded: Option<Record>,
        /// Why the files differ from the desired values (`None`: a reader sees exactly them).
        drift: Option<String>,
    },
}

/// Whether the Secret directory exists, refusing symlinks at the namespace or Secret level.
pub(super) fn existing_dir(namespace_dir: &Path, secret_dir: &Path) -> Result<bool, Failure> {
    Ok(layout::real_dir(namespace_dir, "namespace directory")?
        && layout::real_dir(secret_dir, "Secret directory")?)
}

pub(super) fn inspect(
    namespace_dir: &Path,
    secret_dir: &Path,
    data: &SmallMap<SecretBytes>,
) -> Result<OnDisk, Failure> {
    if !existing_dir(namespace_dir, secret_dir)? {
        return Ok(OnDisk::Absent);
    }
    Ok(match metadata::read(secret_dir)? {
        Marker::Missing => OnDisk::Unmanaged,
        Marker::Present(recorded) => OnDisk::Managed {
            recorded,
            drift: drift(secret_dir, data).err(),
        },
    })
}

/// `Ok` when the directory holds exactly `data` in the layout `layout::write` makes. Any error while
/// looking (a file gone, unreadable, replaced) is drift: rewriting either repairs it or fails with a
/// real error of its own.
fn drift(secret_dir: &Path, data: &SmallMap<SecretBytes>) -> Result<(), String> {
    check_mode(secret_dir, true, "the Secret directory")?;
    let version = fs::read_link(secret_dir.join(DATA_LINK))
        .map_err(|_| format!("{DATA_LINK} is missing or not a symbolic link"))?;
    let version = version
        .to_str()
        .filter(|v| layout::is_version_name(v))
        .ok_or_else(|| format!("{DATA_LINK} does not point to a version directory"))?;
    let version_dir = secret_dir.join(version);
    check_mode(&version_dir, true, "the version directory")?;

    let mut files = BTreeSet::new();
    for entry in fs::read_dir(&version_dir).map_err(|e| format!("listing {version}: {e}"))? {
        let entry = entry.map_err(|e| format!("listing {version}: {e}"))?;
        files.insert(entry.file_name());
    }
    if !files
        .iter()
        .map(|f| f.to_str())
        .eq(data.keys().map(|k| Some(k.as_str())))
    {
        return Err("the version directory does not hold exactly the desired keys".into());
    }

    for (key, value) in data {
        let linked =
            fs::read_link(secret_dir.join(key)).is_ok_and(|t| t == layout::key_link_target(key));
        if !linked {
            return Err(format!(
                "key {key:?} is missing or not a symlink into {DATA_LINK}"
            ));
        }
        same_contents(&version_dir.join(key), value.expose())
            .map_err(|why| format!("key {key:?}: {why}"))?;
    }

    for entry in fs::read_dir(secret_dir).map_err(|e| format!("listing the directory: {e}"))? {
        let name = entry
            .map_err(|e| format!("listing the directory: {e}"))?
            .file_name();
        let name = name.to_string_lossy();
        if !name.starts_with("..") && !data.contains_key(name.as_ref()) {
            return Err(format!("unexpected entry {name:?} among the keys"));
        }
        // Another version directory is one an interrupted write left (its values may be old
        // plaintext): rewriting prunes it.
        if layout::is_version_name(&name) && name != version {
            return Err(format!(
                "{name} is a version directory left by an interrupted write"
            ));
        }
    }
    Ok(())
}

/// A real directory (or regular file) with exactly the mode sealsync gives it.
fn check_mode(path: &Path, dir: bool, what: &str) -> Result<(), String> {
    let meta = fs::symlink_metadata(path).map_err(|e| format!("{what}: {e}"))?;
    let (right_kind, want) = if dir {
        (meta.file_type().is_dir(), DIR_MODE)
    } else {
        (meta.file_type().is_file(), FILE_MODE)
    };
    if !right_kind {
        return Err(format!("{what} was replaced"));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode != want {
        return Err(format!("{what} has mode {mode:04o}, not {want:04o}"));
    }
    Ok(())
}

/// Whether the regular file at `path` (mode 0400) holds exactly `expected`, streaming it through a
/// zeroized buffer so no copy of the value outlives the comparison.
fn same_contents(path: &Path, expected: &[u8]) -> Result<(), String> {
    check_mode(path, false, "its file")?;
    let mut file = File::open(path).map_err(|e| format!("opening its file: {e}"))?;
    let len = file
        .metadata()
        .map_err(|e| format!("reading its file: {e}"))?
        .len();
    if len != expected.len() as u64 {
        return Err("the value differs".into());
    }
    let mut buf = Zeroizing::new(vec![0u8; CHUNK]);
    let mut offset = 0;
    loop {
        let n = match file.read(&mut buf[..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("reading its file: {e}")),
        };
        // A mismatch here is about drift on the agent's own disk, not a secret check an attacker
        // could time: a plain comparison is fine.
        if expected.get(offset..offset + n) != Some(&buf[..n]) {
            return Err("the value differs".into());
        }
        offset += n;
    }
    if offset != expected.len() {
        return Err("the value differs".into());
    }
    Ok(())
}
