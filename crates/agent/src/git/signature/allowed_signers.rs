//! The OpenSSH allowed-signers file (ssh-keygen(1), "ALLOWED SIGNERS"), read once at start-up into the
//! keys that may sign the commits the agent applies.
//!
//! One signer a line: `principals [options] keytype base64-key [comment]`. Blank lines and lines
//! starting with `#` are skipped. Principals are a comma-separated pattern list, quoted when they hold
//! spaces; the options are `namespaces="pattern-list"`, `valid-after="time"`, `valid-before="time"`
//! (times `YYYYMMDD[HHMM[SS]]`, in UTC with a `Z` or `UTC` suffix, else in the local time zone) and
//! `cert-authority`, which is refused here: the agent verifies plain keys, not certificates.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use ssh_key::public::KeyData;
use ssh_key::{Algorithm, EcdsaCurve, HashAlg, PublicKey};

/// At most this many bytes are read: an allowed-signers file is a few lines per team member.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The signers of an allowed-signers file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedSigners {
    path: PathBuf,
    signers: Vec<Signer>,
}

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signer {
    /// One-based, for messages.
    pub line: usize,
    /// As written (without quotes): reported, never matched, as `git verify-commit` ties no principal
    /// to the committer.
    pub principals: String,
    pub key: KeyData,
    /// The `namespaces` pattern list; `None` allows every namespace.
    pub namespaces: Option<String>,
    pub valid_after: Option<SystemTime>,
    pub valid_before: Option<SystemTime>,
}

/// Why the allowed-signers file cannot be used. Names the file and the line, never a line's content
/// beyond the option or key type at fault.
#[derive(Debug, thiserror::Error)]
pub enum AllowedSignersError {
    #[error("cannot read the allowed signers file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the allowed signers file {} is larger than {MAX_FILE_BYTES} bytes", path.display())]
    TooLarge { path: PathBuf },
    #[error("the allowed signers file {} lists no signer: every commit would be refused", path.display())]
    Empty { path: PathBuf },
    #[error("allowed signers file {}, line {line}: {reason}", path.display())]
    Line {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

impl AllowedSigners {
    /// Reads and validates the file: every line must parse, and at least one signer be listed.
    pub fn load(path: &Path) -> Result<AllowedSigners, AllowedSignersError> {
        use std::io::Read;
        let read = |source| AllowedSignersError::Read {
            path: path.to_owned(),
            source,
        };
        let mut text = String::new();
        std::fs::File::open(path)
            .map_err(read)?
            .take(MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(read)?;
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(AllowedSignersError::TooLarge {
                path: path.to_owned(),
            });
        }
        AllowedSigners::parse(path, &text)
    }

    /// Parses the text of the file at `path` (named in errors).
    pub fn parse(path: &Path, text: &str) -> Result<AllowedSigners, AllowedSignersError> {
        let mut signers = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = raw.trim_start_matches([' ', '\t', '\r']);
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let signer = parse_line(line, content).map_err(|reason| AllowedSignersError::Line {
                path: path.to_owned(),
                line,
                reason,
            })?;
            signers.push(signer);
        }
        if signers.is_empty() {
            return Err(AllowedSignersError::Empty {
                path: path.to_owned(),
            });
        }
        Ok(AllowedSigners {
            path: path.to_owned(),
            signers,
        })
    }

    /// The file the signers were read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many signers (lines) the file lists.
    pub fn len(&self) -> usize {
        self.signers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.signers.is_empty()
    }

    /// The lines that list exactly this key, in file order.
    pub(crate) fn lines_of<'a>(&'a self, key: &'a KeyData) -> impl Iterator<Item = &'a Signer> {
        self.signers.iter().filter(move |s| &s.key == key)
    }
}

/// `principals [options] key`, with leading blanks already removed.
fn parse_line(line: usize, content: &str) -> Result<Signer, String> {
    let (principals, rest) = split_token(content)?;
    if principals.is_empty() {
        return Err("no principals before the key".into());
    }
    let rest = rest.trim_start_matches([' ', '\t']);
    if rest.is_empty() {
        return Err("no key after the principals".into());
    }
    // As ssh-keygen: what follows the principals is a key, or else options and then a key.
    let (options, key) = match PublicKey::from_openssh(rest) {
        Ok(key) => (Options::default(), key),
        Err(key_error) => {
            let (options, key_text) = split_options(rest);
            // A broken key reads as options: name the key, the likelier mistake.
            if looks_like_key_type(options) {
                return Err(format!(
                    "the {} key cannot be read ({key_error})",
                    clip(options)
                ));
            }
            let key_text = key_text.trim_start_matches([' ', '\t']);
            if key_text.is_empty() {
                return Err("no key after the options".into());
            }
            let options = Options::parse(options)?;
            let key = PublicKey::from_openssh(key_text)
                .map_err(|e| format!("the key cannot be read ({e})"))?;
            (options, key)
        }
    };
    if options.cert_authority {
        return Err(
            "cert-authority is not supported: the agent verifies signatures by plain keys, \
             not by certificates; list each signer's public key instead"
                .into(),
        );
    }
    check_algorithm(key.algorithm())?;
    Ok(Signer {
        line,
        principals: principals.to_owned(),
        key: key.key_data().clone(),
        namespaces: options.namespaces,
        valid_after: options.valid_after,
        valid_before: options.valid_before,
    })
}

/// The first token: up to a blank, or a quoted string (which may hold blanks).
fn split_token(text: &str) -> Result<(&str, &str), String> {
    if let Some(quoted) = text.strip_prefix('"') {
        let end = quoted
            .find('"')
            .ok_or("the principals' closing quote is missing")?;
        return Ok((&quoted[..end], &quoted[end + 1..]));
    }
    let end = text.find([' ', '\t']).unwrap_or(text.len());
    Ok((&text[..end], &text[end..]))
}

/// The options token, up to the first blank outside quotes, and what follows it.
fn split_options(text: &str) -> (&str, &str) {
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ' ' | '\t' if !quoted => return (&text[..i], &text[i..]),
            _ => {}
        }
    }
    (text, "")
}

fn looks_like_key_type(token: &str) -> bool {
    ["ssh-", "ecdsa-", "sk-", "rsa-"]
        .iter()
        .any(|p| token.starts_with(p))
}

/// The algorithms whose signatures the agent verifies.
fn check_algorithm(algorithm: Algorithm) -> Result<(), String> {
    match algorithm {
        Algorithm::Ed25519
        | Algorithm::Rsa { .. }
        | Algorithm::Ecdsa {
            curve: EcdsaCurve::NistP256 | EcdsaCurve::NistP384,
        } => Ok(()),
        other => Err(format!(
            "{} keys are not supported (ssh-ed25519, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384 and \
             ssh-rsa are)",
            other.as_str()
        )),
    }
}

/// The options of one line.
#[derive(Debug, Default)]
struct Options {
    cert_authority: bool,
    namespaces: Option<String>,
    valid_after: Option<SystemTime>,
    valid_before: Option<SystemTime>,
}

impl Options {
    /// `option[,option...]`; names are case-insensitive, values quoted (`\"` is a literal quote).
    fn parse(text: &str) -> Result<Options, String> {
        let mut options = Options::default();
        let mut rest = text;
        while !rest.is_empty() {
            let name_end = rest.find([',', '=']).unwrap_or(rest.len());
            let name = rest[..name_end].to_ascii_lowercase();
            rest = &rest[name_end..];
            if name == "cert-authority" && !rest.starts_with('=') {
                options.cert_authority = true;
            } else {
                let value;
                (value, rest) = match rest.strip_prefix('=') {
                    Some(after) => dequote(after).map_err(|why| format!("option {name}: {why}"))?,
                    None => return Err(format!("unknown option {:?}", clip(&name))),
                };
                let duplicate = || format!("option {name} is given twice");
                match name.as_str() {
                    "namespaces" => {
                        if options.namespaces.replace(value).is_some() {
                            return Err(duplicate());
                        }
                    }
                    "valid-after" | "valid-before" => {
                        let at = parse_time(&value).map_err(|why| format!("{name}: {why}"))?;
                        let slot = if name == "valid-after" {
                            &mut options.valid_after
                        } else {
                            &mut options.valid_before
                        };
                        if slot.replace(at).is_some() {
                            return Err(duplicate());
                        }
                    }
                    _ => return Err(format!("unknown option {:?}", clip(&name))),
                }
            }
            match rest.strip_prefix(',') {
                Some("") => return Err("the options end with a comma".into()),
                Some(next) => rest = next,
                None if rest.is_empty() => {}
                None => return Err("the options must be separated by commas".into()),
            }
        }
        if let (Some(after), Some(before)) = (options.valid_after, options.valid_before) {
            if before <= after {
                return Err("valid-before is not after valid-after".into());
            }
        }
        Ok(options)
    }
}

/// At most a few characters of a bad option name: a message names it, it never echoes a line.
fn clip(name: &str) -> String {
    name.chars().take(32).collect()
}

/// `"value"` and what follows the closing quote.
fn dequote(text: &str) -> Result<(String, &str), String> {
    let inner = text
        .strip_prefix('"')
        .ok_or("the value must be in double quotes")?;
    let mut value = String::new();
    let mut chars = inner.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &inner[i + 1..])),
            '\\' if inner[i + 1..].starts_with('"') => {
                value.push('"');
                chars.next();
            }
            c => value.push(c),
        }
    }
    Err("the closing quote is missing".into())
}

/// `YYYYMMDD`, `YYYYMMDDHHMM` or `YYYYMMDDHHMMSS`, with `Z` or `UTC` for UTC, else local time (as
/// ssh-keygen reads them).
fn parse_time(text: &str) -> Result<SystemTime, String> {
    let upper = text.to_ascii_uppercase();
    let (digits, utc) = match upper
        .strip_suffix('Z')
        .or_else(|| upper.strip_suffix("UTC"))
    {
        Some(d) => (d, true),
        None => (upper.as_str(), false),
    };
    let bad = || format!("{text:?} is not a time of the form YYYYMMDD[HHMM[SS]][Z]");
    if !digits.bytes().all(|b| b.is_ascii_digit()) || ![8, 12, 14].contains(&digits.len()) {
        return Err(bad());
    }
    let field = |at: usize| &digits[at..(at + 2).min(digits.len())];
    let (hour, minute, second) = match digits.len() {
        8 => ("00", "00", "00"),
        12 => (field(8), field(10), "00"),
        _ => (field(8), field(10), field(12)),
    };
    let rfc3339 = format!(
        "{}-{}-{}T{hour}:{minute}:{second}Z",
        &digits[..4],
        &digits[4..6],
        &digits[6..8]
    );
    // humantime checks the calendar (months, days, leap years); the zone is applied after.
    let as_utc = humantime::parse_rfc3339(&rfc3339).map_err(|_| bad())?;
    let at = if utc { as_utc } else { local_to_utc(as_utc)? };
    if at <= SystemTime::UNIX_EPOCH {
        return Err(format!("{text:?} is not after 1970"));
    }
    Ok(at)
}

/// The instant at which the local wall clock reads what `wall` reads in UTC.
#[cfg(unix)]
fn local_to_utc(wall: SystemTime) -> Result<SystemTime, String> {
    let seconds = wall
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| "the time is before 1970".to_string())?
        .as_secs();
    let seconds = libc::time_t::try_from(seconds).map_err(|_| "the time is too far ahead")?;
    // SAFETY: gmtime_r writes only into the `tm` it is given; mktime reads that `tm` and the
    // process's time zone. Both are given valid pointers to a local value.
    let local = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::gmtime_r(&seconds, &mut tm).is_null() {
            return Err("the time cannot be converted".into());
        }
        // Let mktime find whether daylight saving time applies then.
        tm.tm_isdst = -1;
        libc::mktime(&mut tm)
    };
    u64::try_from(local)
        .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
        .map_err(|_| "the time cannot be converted to the local time zone".into())
}

#[cfg(not(unix))]
fn local_to_utc(wall: SystemTime) -> Result<SystemTime, String> {
    Ok(wall)
}

/// The key's fingerprint as `ssh-keygen -l` prints it (`SHA256:...`).
pub(crate) fn fingerprint(key: &KeyData) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

#[cfg(test)]
#[path = "allowed_signers_tests.rs"]
mod tests;
