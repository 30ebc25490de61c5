//! Signed commits (`--allowed-signers`): commits signed by the real `git` with SSH keys made by the
//! real `ssh-keygen`, served by `git daemon`, applied only when their signature is accepted. Every
//! verdict is checked against `git verify-commit` with the same allowed-signers file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::agent_dir::{agent, assert_no_plaintext, encrypted};
use crate::agent_dir_daemon::Daemon;
use crate::git_servers::{git, git_daemon, Fixture, Server};
use crate::support::{key, ONE};

/// The file every test writes and changes.
const FILE: &str = "apps/team-a/db.yaml";

/// A repository served by `git daemon`, the keys that sign its commits, and the agent's sink.
struct Signed {
    fx: Fixture,
    server: Server,
    keys: PathBuf,
    sink: PathBuf,
}

impl Signed {
    fn new() -> Signed {
        let fx = Fixture::new();
        let keys = fx.scratch("keys");
        let sink = fx.dir.path().join("secrets");
        // git daemon needs a repository with a commit to answer ls-remote; pushed by the first commit.
        fx.write("README", "signed commits\n");
        git(&fx.work, &["add", "-A"]);
        git(&fx.work, &["commit", "-q", "-m", "start"]);
        fx.push();
        let server = git_daemon(&fx);
        Signed {
            fx,
            server,
            keys,
            sink,
        }
    }

    fn url(&self) -> String {
        format!("git://127.0.0.1:{}/repo.git", self.server.port)
    }

    /// A new key pair made by `ssh-keygen` (`kind`: `ed25519`, `ecdsa`, `rsa`); returns the private key.
    fn keygen(&self, name: &str, kind: &str) -> PathBuf {
        let path = self.keys.join(name);
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", kind, "-N", "", "-C", name, "-f"])
            .arg(&path)
            .output()
            .expect("ssh-keygen (OpenSSH) must be installed");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        path
    }

    /// An allowed-signers file with one line per `(principal, options, private key)`.
    fn allowed(&self, name: &str, lines: &[(&str, &str, &Path)]) -> PathBuf {
        let mut text = String::from("# who may sign what the agent applies\n");
        for (principal, options, private) in lines {
            let public = std::fs::read_to_string(format!("{}.pub", private.display())).unwrap();
            text.push_str(&format!("{principal} {options} {}", public.trim()));
            text.push('\n');
        }
        let path = self.keys.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Writes the Secret's new value and commits it, signed by `signer` if given; returns the commit.
    fn commit(&self, value: &str, signer: Option<&Path>) -> String {
        self.stage(value);
        let message = format!("set {value}");
        match signer {
            Some(private) => git(
                &self.fx.work,
                &[
                    "-c",
                    "gpg.format=ssh",
                    "-c",
                    &format!("user.signingkey={}", private.display()),
                    "commit",
                    "-q",
                    "-S",
                    "-m",
                    &message,
                ],
            ),
            None => git(&self.fx.work, &["commit", "-q", "-m", &message]),
        };
        self.fx.push();
        self.fx.head()
    }

    fn stage(&self, value: &str) {
        self.fx
            .write(FILE, encrypted("team-a", "db", &[("password", value)], ONE));
        git(&self.fx.work, &["add", "-A"]);
    }

    /// A commit object written by hand (`git hash-object`), made the tip of `main` by a force-push.
    fn force_push_object(&self, object: &str) -> String {
        let id = git_stdin(
            &self.fx.work,
            &["hash-object", "-t", "commit", "-w", "--stdin"],
            object,
        );
        git(&self.fx.work, &["reset", "-q", "--hard", &id]);
        git(
            &self.fx.work,
            &[
                "push",
                "-q",
                "--force",
                "origin",
                &format!("{id}:refs/heads/main"),
            ],
        );
        id
    }

    /// `sealsync run --once` into the sink with `--allowed-signers allowed`.
    fn once(&self, allowed: &Path) -> Output {
        self.once_with(&["--allowed-signers", allowed.to_str().unwrap()])
    }

    /// `sealsync run --once` into the sink, with `extra` flags.
    fn once_with(&self, extra: &[&str]) -> Output {
        let out = agent()
            .args(["run", "--once", "--repo", &self.url()])
            .arg("--sink")
            .arg(format!("dir:{}", self.sink.display()))
            .arg("--cache-dir")
            .arg(self.fx.dir.path().join("cache"))
            .arg("--identity")
            .arg(key("one.agekey"))
            .args(extra)
            .output()
            .unwrap();
        assert_no_plaintext(&String::from_utf8_lossy(&out.stderr), "agent log");
        out
    }

    fn value(&self) -> Option<String> {
        std::fs::read_to_string(self.sink.join("team-a/db/password")).ok()
    }

    /// `git verify-commit` with `gpg.ssh.allowedSignersFile`: whether git accepts the commit.
    fn git_accepts(&self, allowed: &Path, commit: &str) -> bool {
        Command::new("git")
            .args(["-c", "gpg.format=ssh", "-c"])
            .arg(format!("gpg.ssh.allowedSignersFile={}", allowed.display()))
            .args(["verify-commit", commit])
            .current_dir(&self.fx.work)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap()
            .status
            .success()
    }
}

fn git_stdin(dir: &Path, args: &[&str], input: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "git {args:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Commits signed with each kind of key ssh-keygen makes are applied, as git accepts them.
#[test]
fn commits_signed_by_allowed_keys_are_applied_as_git_accepts_them() {
    let repo = Signed::new();
    let keys = [
        repo.keygen("ed25519", "ed25519"),
        repo.keygen("ecdsa", "ecdsa"),
        repo.keygen("rsa", "rsa"),
    ];
    let allowed = repo.allowed(
        "allowed_signers",
        &[
            ("alice@example.com", "namespaces=\"git\"", &keys[0]),
            ("bob@example.com", "", &keys[1]),
            ("*@ops.example.com", "valid-after=\"20200101\"", &keys[2]),
        ],
    );
    for (signer, value) in keys
        .iter()
        .zip(["s3cret-db-pass", "s3cret-rotated", "s3cret-team-b"])
    {
        let commit = repo.commit(value, Some(signer));
        assert!(repo.git_accepts(&allowed, &commit), "git refuses {commit}");
        let out = repo.once(&allowed);
        let log = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{log}");
        assert_eq!(repo.value().as_deref(), Some(value), "{log}");
        assert!(log.contains("commit signature accepted"), "{log}");
    }
}

/// What a refused commit leaves: the agent exits 1 (`--once`) naming the commit and why, the last
/// good value stays, and git refuses the commit too.
fn assert_refused(repo: &Signed, allowed: &Path, commit: &str, why: &str, reason: &str) {
    let before = repo.value();
    let out = repo.once(allowed);
    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains(&format!("commit {commit} of git remote")) && log.contains(why),
        "expected {why:?} for {commit}:\n{log}"
    );
    assert!(log.contains(reason), "{log}");
    assert_eq!(repo.value(), before, "a refused commit changed the sink");
    assert!(!repo.git_accepts(allowed, commit), "git accepts {commit}");
}

#[test]
fn unsigned_unknown_and_restricted_commits_are_refused_as_git_refuses_them() {
    let repo = Signed::new();
    let good = repo.keygen("good", "ed25519");
    let stranger = repo.keygen("stranger", "ed25519");
    let file_only = repo.keygen("file-only", "ed25519");
    let expired = repo.keygen("expired", "ecdsa");
    let allowed = repo.allowed(
        "allowed_signers",
        &[
            ("alice@example.com", "", &good),
            ("files@example.com", "namespaces=\"file\"", &file_only),
            ("old@example.com", "valid-before=\"20200101Z\"", &expired),
        ],
    );
    let first = repo.commit("s3cret-db-pass", Some(&good));
    assert!(repo.git_accepts(&allowed, &first));
    assert_eq!(repo.once(&allowed).status.code(), Some(0));
    assert_eq!(repo.value().as_deref(), Some("s3cret-db-pass"));

    let unsigned = repo.commit("s3cret-rotated", None);
    assert_refused(
        &repo,
        &allowed,
        &unsigned,
        "it is not signed",
        "unsigned_commit",
    );

    let unknown = repo.commit("s3cret-rotated", Some(&stranger));
    let fingerprint = ssh_fingerprint(&stranger);
    assert_refused(
        &repo,
        &allowed,
        &unknown,
        &format!("signed by key {fingerprint}, which is not in the allowed signers file"),
        "untrusted_signature",
    );

    let wrong_namespace = repo.commit("s3cret-rotated", Some(&file_only));
    assert_refused(
        &repo,
        &allowed,
        &wrong_namespace,
        "line 3 of the allowed signers file",
        "namespaces=\"file\" does not include \"git\"",
    );

    let too_late = repo.commit("s3cret-rotated", Some(&expired));
    assert_refused(
        &repo,
        &allowed,
        &too_late,
        "the key expired at 2020-01-01T00:00:00Z (valid-before)",
        "untrusted_signature",
    );

    // Another commit's signature on changed content: the tree of a new value under the signature
    // of the first, accepted commit.
    repo.stage("s3cret-rotated");
    let tree = git(&repo.fx.work, &["write-tree"]);
    let signed = git(&repo.fx.work, &["cat-file", "commit", &first]);
    let old_tree = git(&repo.fx.work, &["rev-parse", &format!("{first}^{{tree}}")]);
    let forged = repo.force_push_object(&format!(
        "{}\n",
        signed.replacen(&format!("tree {old_tree}"), &format!("tree {tree}"), 1)
    ));
    assert_ne!(forged, first);
    assert_refused(
        &repo,
        &allowed,
        &forged,
        "does not verify",
        "untrusted_signature",
    );

    // A signature by an allowed key, made for another purpose than git's (`ssh-keygen -Y sign -n
    // file`) over exactly the payload git would sign.
    let payload = format!(
        "tree {tree}\nauthor A <a@example.com> 1700000000 +0000\ncommitter A <a@example.com> 1700000000 +0000\n\nsigned for files\n"
    );
    let payload_file = repo.keys.join("payload");
    std::fs::write(&payload_file, &payload).unwrap();
    let out = Command::new("ssh-keygen")
        .args(["-q", "-Y", "sign", "-n", "file", "-f"])
        .arg(&good)
        .arg(&payload_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let armor = std::fs::read_to_string(payload_file.with_extension("sig")).unwrap();
    let header = format!("gpgsig {}\n", armor.trim_end().replace('\n', "\n "));
    let (headers, message) = payload.split_once("\n\n").unwrap();
    let other_purpose = repo.force_push_object(&format!("{headers}\n{header}\n{message}"));
    assert_refused(
        &repo,
        &allowed,
        &other_purpose,
        &format!(
            "signed by key {} for namespace \"file\", not for git's namespace \"git\"",
            ssh_fingerprint(&good)
        ),
        "untrusted_signature",
    );

    // An OpenPGP signature is not verified: refused, whatever it says.
    let pgp = repo.force_push_object(&format!(
        "tree {tree}\nauthor A <a@example.com> 1700000000 +0000\ncommitter A <a@example.com> 1700000000 +0000\n\
         gpgsig -----BEGIN PGP SIGNATURE-----\n \n iQEzBAABCAAdFiEE\n -----END PGP SIGNATURE-----\n\nsigned with gpg\n"
    ));
    assert_refused(
        &repo,
        &allowed,
        &pgp,
        "signed with OpenPGP; only SSH signatures are verified",
        "untrusted_signature",
    );
}

/// `ssh-keygen -l`'s fingerprint of a key (`SHA256:...`).
fn ssh_fingerprint(private: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(format!("{}.pub", private.display()))
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned()
}

/// A long-running agent: a force-push from a signed tip to an unsigned one keeps the last good commit
/// applied, and `/status`, the metrics and the log say which commit was refused and why; the next
/// signed commit is applied and clears the error.
#[test]
fn a_force_push_to_an_unsigned_tip_keeps_the_last_good_commit_and_status_says_why() {
    let repo = Signed::new();
    let good = repo.keygen("good", "ed25519");
    let allowed = repo.allowed("allowed_signers", &[("alice@example.com", "", &good)]);
    let first = repo.commit("s3cret-db-pass", Some(&good));
    let secret = repo.fx.dir.path().join("webhook-secret");
    std::fs::write(&secret, "hook-secret\n").unwrap();
    // The daemon helper appends `run` and its flags: the setting comes through the environment.
    let mut cmd = agent();
    cmd.env("SEALSYNC_ALLOWED_SIGNERS", &allowed);
    let d = Daemon::start_with(&repo.fx, &repo.url(), &repo.sink, &secret, cmd);
    assert_eq!(repo.value().as_deref(), Some("s3cret-db-pass"));

    // History rewritten: the signed tip replaced by an unsigned commit.
    git(&repo.fx.work, &["reset", "-q", "--hard", "HEAD~1"]);
    let unsigned = repo.commit("s3cret-rotated", None);
    assert!(!repo.git_accepts(&allowed, &unsigned));
    let notify = || {
        let (code, _) = d.request(
            "POST",
            "/hooks/git",
            &[("X-Gitlab-Token", "hook-secret".to_string())],
            b"{}",
        );
        assert_eq!(code, 202);
    };
    notify();
    let status = || -> serde_json::Value { serde_json::from_str(&d.get("/status").1).unwrap() };
    d.wait_until(
        || status()["git_error_reason"] == "unsigned_commit",
        "the unsigned commit refused in /status",
    );
    let now = status();
    let error = now["git_error"].as_str().unwrap();
    assert!(
        error.contains(&format!("commit {unsigned} of git remote")) && error.contains("not signed"),
        "{error}"
    );
    assert_eq!(now["commit"], first.as_str());
    assert_eq!(repo.value().as_deref(), Some("s3cret-db-pass"));
    let metrics = d.get("/metrics").1;
    assert!(
        metrics.lines().any(|l| l
            .starts_with("sealsync_errors_total{reason=\"unsigned_commit\"} ")
            && !l.ends_with(" 0")),
        "{metrics}"
    );
    let log = std::fs::read_to_string(&d.log).unwrap();
    assert!(log.contains("\"reason\":\"unsigned_commit\""), "{log}");

    // A signed commit on top: applied, and the error cleared.
    let second = repo.commit("s3cret-rotated", Some(&good));
    notify();
    d.wait_until(
        || repo.value().as_deref() == Some("s3cret-rotated"),
        "the next signed commit applied",
    );
    d.wait_until(
        || status()["commit"] == second.as_str() && status()["git_error"].is_null(),
        "the error cleared",
    );
    assert_no_plaintext(&std::fs::read_to_string(&d.log).unwrap(), "agent log");
}

/// A cache that remembers an unsigned commit (applied before signatures were required) does not
/// serve it once they are: after a restart with `--allowed-signers`, nothing of it is applied.
#[test]
fn a_remembered_unsigned_commit_is_not_applied_after_a_restart_that_requires_signatures() {
    let repo = Signed::new();
    let good = repo.keygen("good", "ed25519");
    let allowed = repo.allowed("allowed_signers", &[("alice@example.com", "", &good)]);
    repo.commit("s3cret-db-pass", None);
    assert_eq!(repo.once_with(&[]).status.code(), Some(0));
    std::fs::remove_dir_all(&repo.sink).unwrap();

    let port = crate::git_servers::free_port();
    let log = repo.fx.dir.path().join("agent.log");
    let child = agent()
        .args([
            "run",
            "--repo",
            &repo.url(),
            "--interval",
            "1h",
            "--log-format",
            "json",
        ])
        .arg("--sink")
        .arg(format!("dir:{}", repo.sink.display()))
        .arg("--cache-dir")
        .arg(repo.fx.dir.path().join("cache"))
        .arg("--identity")
        .arg(key("one.agekey"))
        .arg("--allowed-signers")
        .arg(&allowed)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let d = Daemon { child, port, log };
    let status =
        || -> serde_json::Value { serde_json::from_str(&d.get("/status").1).unwrap_or_default() };
    d.wait_until(
        || status()["git_error_reason"] == "unsigned_commit",
        "the unsigned commit refused",
    );
    assert!(status()["commit"].is_null(), "{}", status());
    assert_eq!(
        repo.value(),
        None,
        "the remembered unsigned commit was applied"
    );
    let log = std::fs::read_to_string(&d.log).unwrap();
    assert!(
        log.contains("the last good commit in the git cache is not accepted now"),
        "{log}"
    );
}

/// An allowed-signers file that cannot be used stops the start, naming the file and the line.
#[test]
fn a_malformed_allowed_signers_file_stops_the_start_naming_the_line() {
    let repo = Signed::new();
    let good = repo.keygen("good", "ed25519");
    let allowed = repo.allowed("allowed_signers", &[("alice@example.com", "", &good)]);
    let mut text = std::fs::read_to_string(&allowed).unwrap();
    text.push_str("bob@example.com cert-authority ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBIBybN6x5WS2KKbhJzM60AtUYYW/GlHfxVa44cUa2Qm\n");
    std::fs::write(&allowed, text).unwrap();
    let out = repo.once(&allowed);
    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains(&format!(
            "allowed signers file {}, line 3: cert-authority is not supported",
            allowed.display()
        )),
        "{log}"
    );
    let missing = repo.keys.join("absent");
    let out = repo.once(&missing);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "cannot read the allowed signers file {}",
            missing.display()
        )),
        "{}",
        stderr(&out)
    );
}
