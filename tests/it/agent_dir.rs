//! End-to-end tests of the `sealsync` agent with the dir sink, through real git servers on loopback:
//! initial sync, updates, pruning and its guard, per-file isolation, an unreachable remote, key
//! rollover, and a scan of everything the agent emitted for plaintext. The long-running agent's tests
//! (webhooks, passes over what changed) are in `agent_dir_daemon.rs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sealsync_sops::keys::parse_recipient_list;
use sealsync_sops::sops::file::{encrypt, EncryptionSpec};
use sealsync_sops::sops::rules::RuleSet;
use sealsync_sops::sops::stores::Format;

use crate::git_servers::{git_daemon, lighttpd, Fixture};
use crate::support::{key, ONE, TWO};

/// Every plaintext value these tests put into git; none may appear in anything the agent emits.
const PLAINTEXTS: [&str; 6] = [
    "s3cret-db-pass",
    "s3cret-api-token",
    "s3cret-rotated",
    "s3cret-team-b",
    "s3cret-second-key",
    "s3cret-webhook-value",
];

fn secret_yaml(ns: &str, name: &str, pairs: &[(&str, &str)]) -> String {
    let mut s = format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {ns}\ntype: Opaque\nstringData:\n");
    for (k, v) in pairs {
        s.push_str(&format!("  {k}: {v}\n"));
    }
    s
}

pub(crate) fn encrypted(ns: &str, name: &str, pairs: &[(&str, &str)], recipients: &str) -> Vec<u8> {
    let spec = EncryptionSpec {
        groups: vec![parse_recipient_list(recipients).unwrap()],
        threshold: 0,
        rules: RuleSet {
            encrypted_regex: Some("^(data|stringData)$".into()),
            ..Default::default()
        },
    };
    encrypt(secret_yaml(ns, name, pairs).as_bytes(), Format::Yaml, &spec).unwrap()
}

pub(crate) fn agent() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sealsync"));
    for var in [
        "SOPS_AGE_KEY_FILE",
        "SOPS_AGE_KEY",
        "POD_NAMESPACE",
        "POD_NAME",
        "KUBERNETES_SERVICE_HOST",
    ] {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null());
    cmd
}

struct Run {
    out: Output,
    sink: PathBuf,
}

impl Run {
    fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
    fn logs(&self) -> String {
        format!(
            "{}{}",
            String::from_utf8_lossy(&self.out.stdout),
            String::from_utf8_lossy(&self.out.stderr)
        )
    }
    fn value(&self, ns: &str, name: &str, key: &str) -> Option<String> {
        std::fs::read_to_string(self.sink.join(ns).join(name).join(key)).ok()
    }
}

fn once(fx: &Fixture, url: &str, sink: &Path, identities: &[&str], extra: &[&str]) -> Run {
    let mut cmd = agent();
    cmd.args(["run", "--once", "--repo", url])
        .arg("--sink")
        .arg(format!("dir:{}", sink.display()))
        .arg("--cache-dir")
        .arg(fx.dir.path().join("cache"));
    for id in identities {
        cmd.arg("--identity").arg(key(id));
    }
    cmd.args(extra);
    let out = cmd.output().unwrap();
    let run = Run {
        out,
        sink: sink.to_path_buf(),
    };
    assert_no_plaintext(&run.logs(), "agent output");
    run
}

pub(crate) fn assert_no_plaintext(text: &str, what: &str) {
    for p in PLAINTEXTS {
        assert!(!text.contains(p), "{what} leaked a secret value:\n{text}");
    }
}

pub(crate) fn two_team_repo(fx: &Fixture) {
    fx.write(
        "apps/team-a/db.yaml",
        encrypted("team-a", "db", &[("password", "s3cret-db-pass")], ONE),
    );
    fx.write(
        "apps/team-a/api.yaml",
        encrypted("team-a", "api", &[("token", "s3cret-api-token")], ONE),
    );
    fx.write(
        "apps/team-b/mail.yaml",
        encrypted("team-b", "mail", &[("password", "s3cret-team-b")], ONE),
    );
    fx.write(
        "apps/team-b/config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ignored\n  namespace: team-b\n",
    );
    fx.commit("two teams");
    fx.push();
}

/// A restarted agent on an unchanged commit finds every file left in its git cache (not in memory):
/// the pass loads them before the engine, which reads no git, computes the desired state.
#[test]
fn a_restart_on_an_unchanged_commit_reads_the_files_from_the_git_cache() {
    let fx = Fixture::new();
    two_team_repo(&fx);
    let url = format!("file://{}", fx.bare.display());
    let first = once(
        &fx,
        &url,
        &fx.dir.path().join("first"),
        &["one.agekey"],
        &[],
    );
    assert_eq!(first.code(), 0, "{}", first.logs());
    let again = once(
        &fx,
        &url,
        &fx.dir.path().join("again"),
        &["one.agekey"],
        &[],
    );
    assert_eq!(again.code(), 0, "{}", again.logs());
    assert_eq!(
        again.value("team-a", "db", "password").as_deref(),
        Some("s3cret-db-pass")
    );
    assert_eq!(
        again.value("team-b", "mail", "password").as_deref(),
        Some("s3cret-team-b")
    );
}

#[test]
fn initial_sync_update_prune_and_guard_over_file_url() {
    let fx = Fixture::new();
    two_team_repo(&fx);
    let sink = fx.dir.path().join("secrets");
    let url = format!("file://{}", fx.bare.display());
    let run = once(&fx, &url, &sink, &["one.agekey"], &[]);
    assert_eq!(run.code(), 0, "{}", run.logs());
    assert_eq!(
        run.value("team-a", "db", "password").as_deref(),
        Some("s3cret-db-pass")
    );
    assert_eq!(
        run.value("team-b", "mail", "password").as_deref(),
        Some("s3cret-team-b")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let f = std::fs::metadata(sink.join("team-a/db/password")).unwrap();
        assert_eq!(f.permissions().mode() & 0o777, 0o400);
        let d = std::fs::metadata(sink.join("team-a/db")).unwrap();
        assert_eq!(d.permissions().mode() & 0o777, 0o700);
    }

    // A commit changing one Secret updates it.
    fx.write(
        "apps/team-a/api.yaml",
        encrypted("team-a", "api", &[("token", "s3cret-rotated")], ONE),
    );
    fx.commit("rotate the api token");
    fx.push();
    let run = once(&fx, &url, &sink, &["one.agekey"], &[]);
    assert_eq!(run.code(), 0, "{}", run.logs());
    assert_eq!(
        run.value("team-a", "api", "token").as_deref(),
        Some("s3cret-rotated")
    );

    // Removing one of three is within the default share and is pruned.
    fx.remove("apps/team-b/mail.yaml");
    fx.commit("drop mail");
    fx.push();
    let run = once(&fx, &url, &sink, &["one.agekey"], &[]);
    assert_eq!(run.code(), 0, "{}", run.logs());
    assert!(!sink.join("team-b/mail").exists(), "pruned");
    assert!(run.logs().contains("pruned"), "{}", run.logs());

    // Removing both remaining Secrets (100%) is refused: exit 2, nothing deleted.
    fx.remove("apps/team-a/db.yaml");
    fx.remove("apps/team-a/api.yaml");
    fx.write("README.md", "nothing here\n");
    fx.commit("remove everything");
    fx.push();
    let run = once(&fx, &url, &sink, &["one.agekey"], &[]);
    assert_eq!(run.code(), 2, "{}", run.logs());
    assert!(
        run.logs().contains("refusing to prune 2 of 2"),
        "{}",
        run.logs()
    );
    assert_eq!(
        run.value("team-a", "db", "password").as_deref(),
        Some("s3cret-db-pass")
    );
    // An explicit, larger share lets it through.
    let run = once(
        &fx,
        &url,
        &sink,
        &["one.agekey"],
        &["--prune-max-share", "1"],
    );
    assert_eq!(run.code(), 0, "{}", run.logs());
    assert!(!sink.join("team-a/db").exists());
}

#[test]
fn a_broken_file_is_isolated_and_named() {
    let fx = Fixture::new();
    two_team_repo(&fx);
    fx.write(
        "apps/team-b/broken.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: [unclosed\n",
    );
    fx.write("apps/team-b/tampered.yaml", {
        let mut bytes = encrypted("team-b", "tampered", &[("p", "s3cret-team-b")], ONE);
        let text = String::from_utf8(bytes.clone())
            .unwrap()
            .replace("namespace: team-b", "namespace: team-c");
        bytes = text.into_bytes();
        bytes
    });
    fx.commit("one broken, one tampered");
    fx.push();
    let daemon = git_daemon(&fx);
    let sink = fx.dir.path().join("secrets");
    let url = format!("git://127.0.0.1:{}/repo.git", daemon.port);
    let run = once(&fx, &url, &sink, &["one.agekey"], &[]);
    assert_eq!(run.code(), 2, "{}", run.logs());
    let logs = run.logs();
    assert!(
        logs.contains("apps/team-b/broken.yaml") && logs.contains("cannot parse"),
        "{logs}"
    );
    assert!(
        logs.contains("apps/team-b/tampered.yaml") && logs.contains("MAC mismatch"),
        "{logs}"
    );
    assert_eq!(
        run.value("team-a", "db", "password").as_deref(),
        Some("s3cret-db-pass")
    );
    assert!(!sink.join("team-c").exists());
}

#[test]
fn unreachable_remote_leaves_the_sink_untouched() {
    let fx = Fixture::new();
    two_team_repo(&fx);
    let sink = fx.dir.path().join("secrets");
    let http = lighttpd(&fx, "user", "unused-password", None);
    let url = format!("http://127.0.0.1:{}/git/repo.git", http.port);
    let run = once(&fx, &url, &sink, &["one.agekey"], &[]);
    assert_eq!(run.code(), 0, "{}", run.logs());
    let before = run.value("team-a", "db", "password");
    drop(http);
    let run = once(&fx, &url, &sink, &["one.agekey"], &[]);
    assert_eq!(run.code(), 1, "{}", run.logs());
    assert!(run.logs().contains("unreachable"), "{}", run.logs());
    assert_eq!(
        run.value("team-a", "db", "password"),
        before,
        "last good values stay"
    );
}

#[test]
fn key_rollover_with_two_identities() {
    let fx = Fixture::new();
    fx.write(
        "s/db.yaml",
        encrypted("app", "db", &[("p", "s3cret-db-pass")], ONE),
    );
    fx.commit("old key");
    fx.push();
    let sink = fx.dir.path().join("secrets");
    let url = format!("file://{}", fx.bare.display());
    // The agent holds both the old and the new identity during the rollover.
    let both = ["one.agekey", "two.agekey"];
    assert_eq!(once(&fx, &url, &sink, &both, &[]).code(), 0);
    fx.write(
        "s/db.yaml",
        encrypted(
            "app",
            "db",
            &[("p", "s3cret-second-key")],
            &format!("{ONE},{TWO}"),
        ),
    );
    fx.commit("both keys");
    fx.push();
    assert_eq!(once(&fx, &url, &sink, &both, &[]).code(), 0);
    fx.write(
        "s/db.yaml",
        encrypted("app", "db", &[("p", "s3cret-second-key")], TWO),
    );
    fx.commit("new key only");
    fx.push();
    let run = once(&fx, &url, &sink, &["two.agekey"], &[]);
    assert_eq!(run.code(), 0, "{}", run.logs());
    assert_eq!(
        run.value("app", "db", "p").as_deref(),
        Some("s3cret-second-key")
    );
    // The retired identity alone no longer decrypts; the value stays, and the error says why.
    let run = once(&fx, &url, &sink, &["one.agekey"], &[]);
    assert_eq!(run.code(), 2);
    assert!(
        run.logs().contains("no identity can decrypt"),
        "{}",
        run.logs()
    );
    assert_eq!(
        run.value("app", "db", "p").as_deref(),
        Some("s3cret-second-key")
    );
}

#[test]
fn leftovers_of_a_crash_are_removed_and_a_loose_root_tightened_by_the_next_pass() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new();
    two_team_repo(&fx);
    let url = fx.file_url();
    // An emptyDir-like root: 0777.
    let sink = fx.scratch("secrets");
    std::fs::set_permissions(&sink, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert_eq!(once(&fx, &url, &sink, &["one.agekey"], &[]).code(), 0);
    let root_mode = std::fs::metadata(&sink).unwrap().permissions().mode() & 0o7777;
    assert_eq!(root_mode, 0o750, "the root is no longer writable by others");
    // A crash while a new Secret was being assembled leaves its staging directory with plaintext.
    let staging = sink.join("team-a/..sealsync-new-00000000deadbeef");
    std::fs::create_dir_all(staging.join("..2026_01_01_00_00_00.000000001")).unwrap();
    std::fs::write(
        staging.join("..2026_01_01_00_00_00.000000001/password"),
        "s3cret-db-pass",
    )
    .unwrap();
    let run = once(&fx, &url, &sink, &["one.agekey"], &[]);
    assert_eq!(run.code(), 0, "{}", run.logs());
    assert!(!staging.exists(), "the staging directory is removed");
    assert_eq!(
        run.value("team-a", "db", "password").as_deref(),
        Some("s3cret-db-pass")
    );
}
