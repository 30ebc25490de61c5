//! The kubelet's `AtomicWriter` layout on disk: version directories, the `..data` swap, key symlinks,
//! exact modes, and the creation and removal of whole Secret directories.

use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;

use super::metadata::{self, Record};
use super::{Context, Failure};
use crate::desired::{SecretBytes, SmallMap};

/// Directories: owner only.
pub(super) const DIR_MODE: u32 = 0o700;
/// Files: readable by the owner only, written once and never modified in place.
pub(super) const FILE_MODE: u32 = 0o400;

/// The symlink naming the current version directory; readers resolve it once per read.
pub(super) const DATA_LINK: &str = "..data";
/// Where the next `..data` is made before it is renamed over the current one.
const DATA_LINK_TMP: &str = "..data_tmp";
/// Where a key's symlink is made before it is renamed over whatever holds that name.
const KEY_LINK_TMP: &str = "..key_tmp";
/// A new Secret directory is assembled under this prefix in the namespace directory, then renamed
/// into place, so it appears complete with its metadata (a Secret name cannot start with '.').
const STAGING_PREFIX: &str = "..sealsync-new-";
/// A deleted Secret directory is first renamed to this prefix, so it disappears at once.
const DELETING_PREFIX: &str = "..sealsync-old-";

/// Writes every value into a new version directory, publishes it, links the keys, and records
/// `record`. Whatever was in `secret_dir` before (by sealsync or by hand) is replaced.
pub(super) fn write(
    secret_dir: &Path,
    data: &SmallMap<SecretBytes>,
    record: &Record,
) -> Result<(), Failure> {
    // First, so that entries can be made in it even if someone changed its mode.
    set_mode_if_needed(secret_dir, DIR_MODE).context(|| "restoring the directory's mode".into())?;
    let version = write_version(secret_dir, data)?;
    if let Err(failure) = publish(secret_dir, &version) {
        let _ = remove_tree(&secret_dir.join(&version));
        return Err(failure);
    }
    link_keys(secret_dir, data)?;
    prune(secret_dir, data, &version)?;
    // Last: the recorded fingerprint is only ever that of values fully in place.
    metadata::write(secret_dir, record)
}

/// Creates a Secret directory that does not exist yet: assembled aside, then renamed into place.
pub(super) fn create(
    namespace_dir: &Path,
    secret_dir: &Path,
    data: &SmallMap<SecretBytes>,
    record: &Record,
) -> Result<(), Failure> {
    let staging = staging_dir(namespace_dir)?;
    let result = write(&staging, data, record).and_then(|()| {
        fs::rename(&staging, secret_dir)
            .context(|| "moving the new Secret directory into place".into())
    });
    if result.is_err() {
        let _ = remove_tree(&staging);
    }
    result
}

/// Removes a Secret directory, then its namespace directory if that is left empty.
pub(super) fn remove(namespace_dir: &Path, secret_dir: &Path) -> Result<(), Failure> {
    let doomed = namespace_dir.join(format!("{DELETING_PREFIX}{:016x}", rand::random::<u64>()));
    fs::rename(secret_dir, &doomed)
        .context(|| "moving the Secret directory away to delete it".into())?;
    remove_tree(&doomed).context(|| "removing the Secret directory".into())?;
    match fs::remove_dir(namespace_dir) {
        Ok(()) => Ok(()),
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::DirectoryNotEmpty | io::ErrorKind::NotFound
            ) =>
        {
            Ok(())
        }
        Err(err) => Err(err).context(|| "removing the empty namespace directory".into()),
    }
}

/// Whether `path` is a real directory (`false`: nothing there). A symlink or a file is an error:
/// following a symlink planted under the root could write anywhere.
pub(super) fn real_dir(path: &Path, what: &str) -> Result<bool, Failure> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_dir() => Ok(true),
        Ok(_) => Err(Failure(format!(
            "the {what} exists but is not a directory (a symbolic link or a file); left alone"
        ))),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(err).context(|| format!("reading the {what}")),
    }
}

/// Names of the real subdirectories of `dir` (symlinks and non-UTF-8 names skipped).
pub(super) fn subdirectories(dir: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
    }
    Ok(names)
}

/// Creates `path` and its missing parents (for the sink's root), the last one with exactly 0700.
pub(super) fn create_dir_all(path: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)?;
    fs::set_permissions(path, Permissions::from_mode(DIR_MODE))
}

/// Creates a directory with exactly 0700. The mode given to mkdir(2) can only lose bits to the umask,
/// so it is never wider than 0700; the chmod then puts back what a strict umask took away.
pub(super) fn create_dir(path: &Path) -> io::Result<()> {
    DirBuilder::new().mode(DIR_MODE).create(path)?;
    fs::set_permissions(path, Permissions::from_mode(DIR_MODE))
}

/// Creates a new file holding `bytes`, with exactly 0400 from the start. open(2) with O_CREAT returns
/// a writable descriptor whatever the mode, so the file is never writable or readable by others.
pub(super) fn create_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)?;
    file.set_permissions(Permissions::from_mode(FILE_MODE))?;
    // No fsync: after a crash, the next pass compares every value and rewrites what is not intact.
    file.write_all(bytes)
}

/// Removes a file, symlink or directory tree if present; never follows a symlink.
pub(super) fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_dir() => remove_tree(path),
        Ok(_) => fs::remove_file(path),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    }
}

/// Removes a directory tree sealsync owns. Unlinking needs write permission on a directory, so the
/// mode sealsync gave it (and its subdirectories) is put back first, in case someone changed it.
fn remove_tree(path: &Path) -> io::Result<()> {
    let _ = fs::set_permissions(path, Permissions::from_mode(DIR_MODE));
    if let Ok(entries) = fs::read_dir(path) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                let _ = fs::set_permissions(entry.path(), Permissions::from_mode(DIR_MODE));
            }
        }
    }
    // Symlink-safe: std removes entries relative to an open directory, never following links.
    fs::remove_dir_all(path)
}

fn set_mode_if_needed(path: &Path, mode: u32) -> io::Result<()> {
    if fs::symlink_metadata(path)?.permissions().mode() & 0o7777 != mode {
        fs::set_permissions(path, Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// A fresh staging directory in the namespace directory, which is created (0700) if missing.
fn staging_dir(namespace_dir: &Path) -> Result<PathBuf, Failure> {
    // A concurrent delete may remove the namespace directory once it is empty: try again then.
    let mut attempts = 0;
    loop {
        attempts += 1;
        if !real_dir(namespace_dir, "namespace directory")? {
            match create_dir(namespace_dir) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
                Err(err) => return Err(err).context(|| "creating the namespace directory".into()),
            }
        }
        match unique_dir(namespace_dir, |rng| {
            format!("{STAGING_PREFIX}{:016x}", rng.gen::<u64>())
        }) {
            Ok(name) => return Ok(namespace_dir.join(name)),
            Err(err) if err.kind() == io::ErrorKind::NotFound && attempts < 3 => continue,
            Err(err) => return Err(err).context(|| "creating a staging directory".into()),
        }
    }
}

/// Creates a new 0700 directory in `parent` under a name from `name` (retried on a collision).
fn unique_dir(
    parent: &Path,
    name: impl Fn(&mut rand::rngs::ThreadRng) -> String,
) -> io::Result<String> {
    let mut rng = rand::thread_rng();
    let mut last = None;
    for _ in 0..16 {
        let candidate = name(&mut rng);
        match create_dir(&parent.join(&candidate)) {
            Ok(()) => return Ok(candidate),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => last = Some(err),
            Err(err) => return Err(err),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists)))
}

/// Writes every value into a new version directory, named like the kubelet's
/// (`..2006_01_02_15_04_05.<random digits>`, UTC), and returns its name.
fn write_version(secret_dir: &Path, data: &SmallMap<SecretBytes>) -> Result<String, Failure> {
    let stamp = utc_stamp(SystemTime::now());
    let version = unique_dir(secret_dir, |rng| {
        format!("..{stamp}.{:09}", rng.gen_range(0..1_000_000_000u32))
    })
    .context(|| "creating a version directory".into())?;
    let dir = secret_dir.join(&version);
    for (key, value) in data {
        if let Err(err) = create_file(&dir.join(key), value.expose()) {
            let _ = remove_tree(&dir);
            return Err(err).context(|| format!("writing key {key:?}"));
        }
    }
    Ok(version)
}

/// Points `..data` at `version` in one rename(2): readers see the old version or the new one.
fn publish(secret_dir: &Path, version: &str) -> Result<(), Failure> {
    let link = secret_dir.join(DATA_LINK);
    // A `..data` that is not a symlink was made by hand; a symlink cannot be renamed over a directory.
    if fs::symlink_metadata(&link).is_ok_and(|m| !m.file_type().is_symlink()) {
        remove_if_present(&link).context(|| format!("removing a {DATA_LINK} made by hand"))?;
    }
    let tmp = secret_dir.join(DATA_LINK_TMP);
    remove_if_present(&tmp).context(|| format!("removing a stale {DATA_LINK_TMP}"))?;
    symlink(version, &tmp).context(|| format!("creating {DATA_LINK_TMP}"))?;
    fs::rename(&tmp, &link).context(|| format!("renaming {DATA_LINK_TMP} to {DATA_LINK}"))
}

/// The target of a key's symlink: through `..data`, so that one rename switches every key.
pub(super) fn key_link_target(key: &str) -> PathBuf {
    PathBuf::from(format!("{DATA_LINK}/{key}"))
}

/// Makes each `<key>` a symlink to `..data/<key>`, replacing (atomically) whatever holds the name.
fn link_keys(secret_dir: &Path, data: &SmallMap<SecretBytes>) -> Result<(), Failure> {
    let tmp = secret_dir.join(KEY_LINK_TMP);
    for key in data.keys() {
        let path = secret_dir.join(key);
        let target = key_link_target(key);
        if fs::read_link(&path).is_ok_and(|t| t == target) {
            continue;
        }
        if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_dir()) {
            remove_tree(&path)
                .context(|| format!("removing a directory made by hand at key {key:?}"))?;
        }
        remove_if_present(&tmp).context(|| format!("removing a stale {KEY_LINK_TMP}"))?;
        symlink(&target, &tmp).context(|| format!("creating the symlink of key {key:?}"))?;
        fs::rename(&tmp, &path)
            .context(|| format!("renaming the symlink of key {key:?} into place"))?;
    }
    Ok(())
}

/// Removes what the new version no longer has: keys that left, entries made by hand among the keys,
/// older version directories and temporaries. Unknown hidden (`..`) entries are left alone.
fn prune(secret_dir: &Path, data: &SmallMap<SecretBytes>, version: &str) -> Result<(), Failure> {
    let entries = fs::read_dir(secret_dir).context(|| "listing the Secret directory".into())?;
    for entry in entries {
        let entry = entry.context(|| "listing the Secret directory".into())?;
        let name = entry.file_name();
        let keep = if name.as_bytes().starts_with(b"..") {
            name.to_str().is_none_or(|n| {
                !(matches!(n, DATA_LINK_TMP | KEY_LINK_TMP | metadata::FILE_TMP)
                    || (is_version_name(n) && n != version))
            })
        } else {
            name.to_str().is_some_and(|n| data.contains_key(n))
        };
        if !keep {
            remove_if_present(&entry.path())
                .context(|| format!("removing {:?}", name.to_string_lossy()))?;
        }
    }
    Ok(())
}

/// Whether `name` is what an interrupted `create` or `remove` leaves in a namespace directory.
pub(super) fn is_leftover_name(name: &str) -> bool {
    name.starts_with(STAGING_PREFIX) || name.starts_with(DELETING_PREFIX)
}

/// Whether `name` is a version directory's: `..YYYY_MM_DD_HH_MM_SS.<digits>`.
pub(super) fn is_version_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("..") else {
        return false;
    };
    let b = rest.as_bytes();
    b.len() > 20
        && b[..19].iter().enumerate().all(|(i, c)| match i {
            4 | 7 | 10 | 13 | 16 => *c == b'_',
            _ => c.is_ascii_digit(),
        })
        && b[19] == b'.'
        && b[20..].iter().all(u8::is_ascii_digit)
}

/// `YYYY_MM_DD_HH_MM_SS` in UTC, as the kubelet names version directories.
pub(super) fn utc_stamp(now: SystemTime) -> String {
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}_{month:02}_{day:02}_{:02}_{:02}_{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}
