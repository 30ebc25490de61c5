//! The git source's configuration: the raw [`GitSourceConfig`] users write and the validated [`Settings`] the fetcher uses.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use std::sync::Arc;

use super::error::GitError;
use super::redact::redact_url;
use super::signature::AllowedSigners;

/// Files larger than this are reported as [`super::FileContent::TooLarge`] unless configured otherwise.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 5 * 1024 * 1024;
/// Most files a snapshot may hold under the configured paths. A GitOps repository of Secrets holds
/// hundreds to a few thousand; each file costs the agent a few KiB, so 20,000 stay near 60 MiB less
/// than the shipped 128 Mi limit allows.
pub const DEFAULT_MAX_FILES: usize = 20_000;
/// Most bytes of file content read from the cache in one snapshot (files over the size limit are not
/// read, and do not count).
pub const DEFAULT_MAX_TOTAL_BYTES: u64 = 32 * 1024 * 1024;

/// Most bytes of pack one fetch may bring in. The cache lives on a memory-backed volume (64 Mi in
/// `deploy/`), and a depth-1 pack of a repository of Secrets is a few MiB at most.
pub const DEFAULT_MAX_FETCH_SIZE: u64 = 32 * 1024 * 1024;
/// No object above `max(max_file_size, MIN_OBJECT_LIMIT)` bytes is inflated while a pack is indexed:
/// room for the trees of a large repository, far under the shipped 128 Mi memory limit.
pub const MIN_OBJECT_LIMIT: u64 = 16 * 1024 * 1024;

/// How to authenticate against the remote.
///
/// Only paths are held here; the secret itself is read when a fetch needs it, so a rotated token or key
/// (a re-mounted Kubernetes Secret) takes effect at the next fetch without a restart.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum GitAuth {
    /// Anonymous access.
    #[default]
    None,
    /// An access token in a file, sent as HTTP basic auth (`https://` remotes only: never in clear text).
    /// The user name is the one in the URL (`https://oauth2@gitlab.example/...`), or `x-access-token`.
    TokenFile(PathBuf),
    /// A private key file given to the system `ssh` program (`ssh://` and `user@host:path` remotes only).
    SshKeyFile(PathBuf),
}

/// What users configure for one git source (raw values, validated by [`super::GitSource::new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSourceConfig {
    /// `file://`, a local path, `git://`, `http(s)://`, `ssh://` or scp-like `user@host:path`.
    pub url: String,
    /// A branch, a tag, a full ref name (`refs/...`) or a full commit SHA; `None` follows the remote's HEAD.
    pub reference: Option<String>,
    /// Repository-relative folders or files to read (recursively); empty means the whole repository.
    pub paths: Vec<String>,
    /// Credentials for the remote.
    pub auth: GitAuth,
    /// Where the bare cache repositories live (one per remote URL, created on first use).
    pub cache_dir: PathBuf,
    /// Files above this size are listed but never read into memory.
    pub max_file_size: u64,
    /// A commit with more files under the configured paths is refused as a whole.
    pub max_files: usize,
    /// A commit whose files (those read) hold more bytes is refused as a whole.
    pub max_total_bytes: u64,
    /// A fetch whose pack holds more bytes is stopped, and its commit refused as a whole.
    pub max_fetch_bytes: u64,
    /// For ssh: a known_hosts file that pins the server's host key (`StrictHostKeyChecking=yes`). Without it
    /// the key is trusted on first use and remembered beside the cache.
    pub ssh_known_hosts: Option<PathBuf>,
    /// When set, a commit is read only if it carries an SSH signature these signers allow
    /// (`--allowed-signers`); others are refused as a whole and the last good commit stays.
    pub allowed_signers: Option<Arc<AllowedSigners>>,
}

impl GitSourceConfig {
    /// A configuration for the whole repository at the remote's HEAD, anonymous, with the default size limit.
    pub fn new(url: impl Into<String>, cache_dir: impl Into<PathBuf>) -> Self {
        GitSourceConfig {
            url: url.into(),
            reference: None,
            paths: Vec::new(),
            auth: GitAuth::None,
            cache_dir: cache_dir.into(),
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            max_files: DEFAULT_MAX_FILES,
            max_total_bytes: DEFAULT_MAX_TOTAL_BYTES,
            max_fetch_bytes: DEFAULT_MAX_FETCH_SIZE,
            ssh_known_hosts: None,
            allowed_signers: None,
        }
    }
}

/// The revision to fetch, as understood after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reference {
    /// Whatever the remote's `HEAD` points to.
    RemoteHead,
    /// A full ref name such as `refs/heads/main`.
    FullName(String),
    /// A short name that may be a branch (`refs/heads/<name>`) or a tag (`refs/tags/<name>`).
    ShortName(String),
    /// A full commit id.
    Commit(gix::ObjectId),
}

impl Reference {
    fn parse(raw: Option<&str>) -> Result<Self, String> {
        let Some(raw) = raw.map(str::trim) else {
            return Ok(Reference::RemoteHead);
        };
        if raw.is_empty() || raw == "HEAD" {
            return Ok(Reference::RemoteHead);
        }
        if raw.len() == 40 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            let id = gix::ObjectId::from_hex(raw.to_ascii_lowercase().as_bytes()).map_err(|e| {
                format!("reference {raw:?} looks like a commit id but is not one: {e}")
            })?;
            return Ok(Reference::Commit(id));
        }
        // The same rules git applies to ref names (git-check-ref-format), so a typo fails here, not at fetch time.
        let full = if raw.starts_with("refs/") {
            raw.to_owned()
        } else {
            format!("refs/heads/{raw}")
        };
        gix::validate::reference::name(gix::bstr::BStr::new(full.as_str()))
            .map_err(|e| format!("reference {raw:?} is not a valid git ref name: {e}"))?;
        Ok(if raw.starts_with("refs/") {
            Reference::FullName(raw.to_owned())
        } else {
            Reference::ShortName(raw.to_owned())
        })
    }

    /// The user-facing spelling, for messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Reference::RemoteHead => "HEAD".into(),
            Reference::FullName(n) | Reference::ShortName(n) => n.clone(),
            Reference::Commit(id) => id.to_string(),
        }
    }
}

/// A validated configuration: everything the fetcher and the tree reader need, checked once.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The URL exactly as configured (it may carry a user name, never a password).
    pub url: String,
    /// The URL as it may appear in logs and errors.
    pub display_url: String,
    /// The user name given in the URL, used as the basic-auth user with a token.
    pub url_user: Option<String>,
    pub reference: Reference,
    /// Normalized repository-relative paths; empty means the whole repository.
    pub paths: Vec<String>,
    pub auth: GitAuth,
    /// The bare cache repository of this remote.
    pub repo_dir: PathBuf,
    pub max_file_size: u64,
    pub max_files: usize,
    pub max_total_bytes: u64,
    pub max_fetch_bytes: u64,
    pub ssh_known_hosts: Option<PathBuf>,
    pub allowed_signers: Option<Arc<AllowedSigners>>,
    /// The remote is reached through the `ssh` program.
    pub is_ssh: bool,
}

impl Settings {
    pub(crate) fn from_config(config: GitSourceConfig) -> Result<Self, GitError> {
        let display_url = redact_url(&config.url);
        let invalid = |reason: String| GitError::Config {
            url: display_url.clone(),
            reason,
        };
        let raw_url = config.url.trim();
        if raw_url.is_empty() {
            return Err(invalid("the URL is empty".into()));
        }
        let parsed = gix::url::parse(raw_url).map_err(|e| {
            invalid(format!(
                "the URL cannot be parsed: {}",
                redact_url(&e.to_string())
            ))
        })?;
        if parsed.password().is_some() {
            return Err(invalid(
                "the URL carries a password; put the token in a file and configure it as the token file instead"
                    .into(),
            ));
        }
        use gix::url::Scheme;
        let scheme = parsed.scheme.clone();
        match (&scheme, &config.auth) {
            (Scheme::File | Scheme::Git | Scheme::Http | Scheme::Https | Scheme::Ssh, GitAuth::None) => {}
            (Scheme::Https, GitAuth::TokenFile(_)) => {}
            (Scheme::Http, GitAuth::TokenFile(_)) => {
                return Err(invalid(
                    "a token is only sent over https:// (over http:// anyone on the path could read it)".into(),
                ))
            }
            (Scheme::Ssh, GitAuth::SshKeyFile(_)) => {}
            (Scheme::Ext | Scheme::Helper(_) | Scheme::HelperUrl(_), _) => {
                return Err(invalid(format!(
                    "the URL scheme {:?} is not supported (use file, git, http, https or ssh)",
                    scheme.as_str()
                )))
            }
            (_, GitAuth::TokenFile(_)) => {
                return Err(invalid(format!(
                    "a token file only applies to https:// remotes, not {}://",
                    scheme.as_str()
                )))
            }
            (_, GitAuth::SshKeyFile(_)) => {
                return Err(invalid(format!(
                    "an ssh key file only applies to ssh remotes, not {}://",
                    scheme.as_str()
                )))
            }
        }
        let reference = Reference::parse(config.reference.as_deref()).map_err(invalid)?;
        let paths = normalize_paths(&config.paths).map_err(invalid)?;
        if config.max_file_size == 0 {
            return Err(invalid("max_file_size must be greater than zero".into()));
        }
        if config.max_fetch_bytes == 0 {
            return Err(invalid("max_fetch_size must be greater than zero".into()));
        }
        if config.cache_dir.as_os_str().is_empty() {
            return Err(invalid("cache_dir is empty".into()));
        }
        let repo_dir = config.cache_dir.join(cache_repo_name(raw_url));
        Ok(Settings {
            url: raw_url.to_owned(),
            display_url,
            url_user: parsed.user().map(str::to_owned),
            reference,
            paths,
            auth: config.auth,
            repo_dir,
            max_file_size: config.max_file_size,
            max_files: config.max_files,
            max_total_bytes: config.max_total_bytes,
            max_fetch_bytes: config.max_fetch_bytes,
            ssh_known_hosts: config.ssh_known_hosts,
            allowed_signers: config.allowed_signers,
            is_ssh: scheme == Scheme::Ssh,
        })
    }

    /// The largest object a fetch may inflate (see [`MIN_OBJECT_LIMIT`]).
    pub(crate) fn max_object_size(&self) -> u64 {
        self.max_file_size.max(MIN_OBJECT_LIMIT)
    }

    /// The local ref that remembers the last good commit of this reference (kept across restarts).
    pub(crate) fn last_good_ref(&self) -> String {
        let digest = Sha256::digest(self.reference.describe().as_bytes());
        format!("refs/sealsync/last-good/{}", &hex::encode(digest)[..16])
    }
}

/// One cache repository per remote: different remotes never share refs, so a changed URL never serves
/// another remote's last good state.
fn cache_repo_name(url: &str) -> String {
    let digest = Sha256::digest(url.as_bytes());
    format!("{}.git", &hex::encode(digest)[..24])
}

/// Turns configured paths into '/'-separated repository-relative paths without `.` or empty components.
/// An empty result means the whole repository.
fn normalize_paths(paths: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for raw in paths {
        let mut parts = Vec::new();
        for part in raw.split(['/', '\\']) {
            match part {
                "" | "." => {}
                ".." => {
                    return Err(format!(
                        "path {raw:?} leaves the repository ('..' is not allowed)"
                    ))
                }
                p => parts.push(p),
            }
        }
        if parts.is_empty() {
            // "." or "/" names the repository root: the whole repository is wanted.
            return Ok(Vec::new());
        }
        let joined = parts.join("/");
        if !out.contains(&joined) {
            out.push(joined);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str, auth: GitAuth) -> Result<Settings, GitError> {
        let mut c = GitSourceConfig::new(url, "/tmp/cache");
        c.auth = auth;
        Settings::from_config(c)
    }

    #[test]
    fn paths_are_normalized() {
        let p = |v: &[&str]| normalize_paths(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            p(&["./apps/", "apps", "/base//x.yaml"]).unwrap(),
            vec!["apps", "base/x.yaml"]
        );
        assert_eq!(p(&["apps", "."]).unwrap(), Vec::<String>::new());
        assert!(p(&["apps/../../etc"]).is_err());
    }

    #[test]
    fn references_are_classified() {
        assert_eq!(Reference::parse(None).unwrap(), Reference::RemoteHead);
        assert_eq!(
            Reference::parse(Some("main")).unwrap(),
            Reference::ShortName("main".into())
        );
        assert_eq!(
            Reference::parse(Some("refs/tags/v1")).unwrap(),
            Reference::FullName("refs/tags/v1".into())
        );
        let sha = "0123456789abcdef0123456789ABCDEF01234567";
        assert!(matches!(
            Reference::parse(Some(sha)).unwrap(),
            Reference::Commit(_)
        ));
        assert!(Reference::parse(Some("bad..name")).is_err());
    }

    #[test]
    fn auth_must_fit_the_scheme() {
        assert!(settings("https://example.com/r.git", GitAuth::TokenFile("/t".into())).is_ok());
        assert!(settings("git://example.com/r.git", GitAuth::TokenFile("/t".into())).is_err());
        assert!(settings("http://example.com/r.git", GitAuth::TokenFile("/t".into())).is_err());
        assert!(settings(
            "ssh://git@example.com/r.git",
            GitAuth::SshKeyFile("/k".into())
        )
        .is_ok());
        assert!(settings("git@example.com:r.git", GitAuth::SshKeyFile("/k".into())).is_ok());
        assert!(settings(
            "https://example.com/r.git",
            GitAuth::SshKeyFile("/k".into())
        )
        .is_err());
    }

    #[test]
    fn passwords_in_urls_are_refused_without_echoing_them() {
        let err = settings("https://user:hunter2@example.com/r.git", GitAuth::None).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn each_remote_gets_its_own_cache_repository() {
        let a = settings("https://example.com/a.git", GitAuth::None).unwrap();
        let b = settings("https://example.com/b.git", GitAuth::None).unwrap();
        assert_ne!(a.repo_dir, b.repo_dir);
        assert!(a.repo_dir.starts_with("/tmp/cache"));
    }
}
