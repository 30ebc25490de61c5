//! `sealctl` exit codes and the error type commands return. Codes shared with sops keep sops' numbers,
//! so scripts written against sops keep working.

use std::fmt;

use crate::keys::KeyError;
use crate::sops::creation_rules::ConfigError;
use crate::sops::file::SopsError;
use crate::sops::keygroups::KeyGroupError;
use crate::sops::metadata::MetadataError;
use crate::sops::stores::FormatError;

/// Exit codes, documented in `sealctl --help` and the README.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    Ok = 0,
    /// Any failure without a more specific code.
    Failure = 1,
    /// The input file could not be read or parsed (sops: 2).
    Input = 2,
    /// The output could not be written (sops: 3).
    Output = 3,
    /// `.sops.yaml` could not be read, or no rule matched (sops: 5).
    Config = 5,
    /// A `set`/`unset` path or value is malformed, or a path is not in the file (sops: 7).
    BadPath = 7,
    /// `check` found problems.
    Findings = 10,
    /// Some files of a batch (`rotate`, `updatekeys` on directories) failed, or `render` could not
    /// render some documents or references; the others were done.
    Partial = 20,
    /// A value cannot be encrypted without changing it, e.g. an integer beyond 64 bits (sops: 23).
    Unencryptable = 23,
    /// A value could not be decrypted: the file was tampered with or is corrupt (sops: 25).
    Tampered = 25,
    /// The MAC does not match (sops: 51).
    MacMismatch = 51,
    /// Bad command-line usage.
    Usage = 64,
    /// A `decrypt --extract` path is malformed (sops: 91).
    BadTreePath = 91,
    /// The file holds no document (sops: 92).
    NoDocument = 92,
    /// The file to encrypt or decrypt does not exist (sops: 100).
    NoFile = 100,
    /// No recipient to encrypt for (sops: 111).
    NoRecipients = 111,
    /// No identity could decrypt the data key (sops: 128).
    NoKey = 128,
    /// `edit` ended without changes (sops: 200).
    Unchanged = 200,
    /// No editor could be started (sops: 201).
    NoEditor = 201,
    /// The file is already encrypted (sops: 203).
    AlreadyEncrypted = 203,
}

/// The table printed under `sealctl --help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success
  1    failure without a more specific code
  2    the input file could not be read or parsed
  3    the output could not be written
  5    .sops.yaml could not be read, or no creation rule matched
  7    a key path or value given to set/unset is malformed, or the path is not in the file
  10   check found problems
  20   some files of a batch failed, or render could not render every Secret (the rest was done)
  23   a value cannot be encrypted as written (an integer beyond 64 bits: quote it)
  25   a value could not be decrypted: the file was altered or is corrupt
  51   MAC mismatch: the file was changed after it was encrypted
  64   bad command-line usage
  91   a --extract key path is malformed
  92   the file holds no document
  100  the file to encrypt or decrypt does not exist
  111  no recipient to encrypt for
  128  no identity could decrypt the file
  200  edit: the file was not changed
  201  edit: no editor could be started
  203  the file is already encrypted";

/// A command failure: what to print and how to exit. The message names the file and the reason and
/// never a secret value.
#[derive(Debug)]
pub struct CliError {
    pub exit: Exit,
    pub message: String,
}

impl CliError {
    pub fn new(exit: Exit, message: impl Into<String>) -> CliError {
        CliError {
            exit,
            message: message.into(),
        }
    }

    /// An error about one file: `FILE: reason`.
    pub fn file(path: &str, err: impl Into<CliError>) -> CliError {
        let mut e = err.into();
        e.message = format!("{path}: {}", e.message);
        e
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<SopsError> for CliError {
    fn from(e: SopsError) -> CliError {
        let exit = match &e {
            SopsError::Format {
                source: FormatError::Unrepresentable { .. },
                ..
            } => Exit::Unencryptable,
            SopsError::Empty => Exit::NoDocument,
            // sops reads a missing MAC as an empty one, which never matches.
            SopsError::Metadata(MetadataError::Field { field, .. }) if field == "mac" => {
                Exit::MacMismatch
            }
            SopsError::Format { .. } | SopsError::Metadata(_) => Exit::Input,
            SopsError::MacMismatch | SopsError::BadMac(_) => Exit::MacMismatch,
            SopsError::Value(_) => Exit::Tampered,
            SopsError::Keys(k) => return key_group_error(k),
            SopsError::AlreadyEncrypted => Exit::AlreadyEncrypted,
            SopsError::Rules(_) | SopsError::ForeignKeys(_) => Exit::Failure,
        };
        CliError::new(exit, e.to_string())
    }
}

fn key_group_error(e: &KeyGroupError) -> CliError {
    let exit = match e {
        KeyGroupError::NoMatchingIdentity { .. } | KeyGroupError::NotEnoughGroups { .. } => {
            Exit::NoKey
        }
        KeyGroupError::NoRecipients | KeyGroupError::EmptyGroup(_) => Exit::NoRecipients,
        KeyGroupError::BadDataKey(_) | KeyGroupError::Key(KeyError::CorruptStanza(_)) => {
            Exit::Tampered
        }
        _ => Exit::Failure,
    };
    CliError::new(exit, e.to_string())
}

impl From<KeyGroupError> for CliError {
    fn from(e: KeyGroupError) -> CliError {
        key_group_error(&e)
    }
}

impl From<KeyError> for CliError {
    fn from(e: KeyError) -> CliError {
        let exit = match e {
            KeyError::BadRecipient(_) => Exit::Usage,
            // An identity that cannot be read is a key that cannot be retrieved (sops: 128).
            KeyError::IdentityFile { .. } | KeyError::IdentityText { .. } => Exit::NoKey,
            _ => Exit::Failure,
        };
        CliError::new(exit, e.to_string())
    }
}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> CliError {
        CliError::new(Exit::Config, e.to_string())
    }
}
