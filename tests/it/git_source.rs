//! End-to-end tests of the git source against real repositories and real servers on 127.0.0.1.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;

use crate::git_servers::{git, Fixture};
use sealsync::git::{FileContent, GitAuth, GitError, GitSource, GitSourceConfig, Snapshot};

fn config(fx: &Fixture, url: String) -> GitSourceConfig {
    GitSourceConfig::new(url, fx.dir.path().join("cache"))
}

fn source(cfg: GitSourceConfig) -> GitSource {
    GitSource::new(cfg).expect("valid config")
}

fn paths(s: &Snapshot) -> Vec<&str> {
    s.files.iter().map(|f| f.path.as_str()).collect()
}

fn data<'a>(s: &'a Snapshot, path: &str) -> &'a [u8] {
    match &s
        .file(path)
        .unwrap_or_else(|| panic!("{path} missing"))
        .content
    {
        FileContent::Data(d) => d,
        other => panic!("{path}: expected data, got {other:?}"),
    }
}

/// A repository with folders, a symlink and a submodule entry.
fn sample_repo() -> Fixture {
    let fx = Fixture::new();
    fx.write(
        "apps/web/secret.yaml",
        "kind: Secret\nmetadata: {name: web}\n",
    );
    fx.write("apps/api/secret.json", r#"{"kind":"Secret"}"#);
    fx.write("apps/api/notes.txt", "not yaml, still returned\n");
    fx.write("base/common.yml", "kind: ConfigMap\n");
    fx.write("README.md", "# sample\n");
    fx.symlink("../../README.md", "apps/web/link.yaml");
    fx.commit("initial");
    // A submodule entry pointing at some commit (any id will do: it is never fetched).
    let head = fx.head();
    fx.gitlink("apps/vendored", &head);
    fx.commit("add submodule");
    fx
}

#[test]
fn file_remote_returns_regular_files_under_the_paths() {
    let fx = sample_repo();
    let mut cfg = config(&fx, fx.file_url());
    cfg.paths = vec!["apps".into()];
    let mut src = source(cfg);
    let snap = src.fetch().expect("fetch");
    assert_eq!(snap.commit, fx.head());
    assert_eq!(
        paths(&snap),
        [
            "apps/api/notes.txt",
            "apps/api/secret.json",
            "apps/web/secret.yaml"
        ],
        "symlinks, submodules and files outside the paths are left out"
    );
    assert_eq!(
        data(&snap, "apps/web/secret.yaml"),
        b"kind: Secret\nmetadata: {name: web}\n"
    );
    assert_eq!(
        snap.file("apps/api/secret.json").unwrap().blob_id,
        fx.blob_id("HEAD", "apps/api/secret.json")
    );
    assert_eq!(src.last_good().unwrap().commit, snap.commit);
}

#[test]
fn whole_repository_and_overlapping_paths_and_single_files() {
    let fx = sample_repo();
    let mut whole = source(config(&fx, fx.file_url()));
    let snap = whole.fetch().unwrap();
    assert_eq!(snap.files.len(), 5, "{:?}", paths(&snap));

    let mut cfg = config(&fx, fx.file_url());
    cfg.paths = vec![
        "./apps/web/".into(),
        "apps".into(),
        "base/common.yml".into(),
    ];
    cfg.cache_dir = fx.scratch("cache-2");
    let snap = source(cfg).fetch().unwrap();
    assert_eq!(
        paths(&snap),
        [
            "apps/api/notes.txt",
            "apps/api/secret.json",
            "apps/web/secret.yaml",
            "base/common.yml"
        ]
    );
}

#[test]
fn new_commit_changes_only_the_changed_blob() {
    let fx = sample_repo();
    let mut src = source(config(&fx, fx.file_url()));
    let first = src.fetch().unwrap();

    fx.write(
        "apps/web/secret.yaml",
        "kind: Secret\nmetadata: {name: web2}\n",
    );
    let second_commit = fx.commit("change web");
    let started = Instant::now();
    let second = src.fetch().unwrap();
    eprintln!("incremental file:// fetch: {:?}", started.elapsed());

    assert_eq!(second.commit, second_commit);
    assert_ne!(second.commit, first.commit);
    let changes = second.changes_since(&first);
    assert_eq!(changes.modified, ["apps/web/secret.yaml"]);
    assert!(
        changes.added.is_empty() && changes.removed.is_empty(),
        "{changes:?}"
    );
    for f in &second.files {
        let before = first.file(&f.path).unwrap();
        assert_eq!(
            f.blob_id == before.blob_id,
            f.path != "apps/web/secret.yaml",
            "{}",
            f.path
        );
    }
    // The cost follows the change: a commit, three trees on the path and one blob came over the wire,
    // and only that blob was read.
    let stats = src.last_fetch_stats().unwrap();
    assert!(stats.objects_received <= 5, "{stats:?}");
    assert_eq!(stats.blobs_read, 1, "{stats:?}");
    assert_eq!(stats.resolved_ref, "HEAD");

    // Nothing new: the same snapshot, nothing received, nothing read.
    let third = src.fetch().unwrap();
    assert_eq!(*third, *second);
    let stats = src.last_fetch_stats().unwrap();
    assert_eq!(
        (stats.objects_received, stats.blobs_read),
        (0, 0),
        "{stats:?}"
    );

    // History rewritten on the remote (a force-push): the new tip is fetched all the same.
    git(&fx.work, &["commit", "-q", "--amend", "-m", "rewritten"]);
    fx.push();
    let rewritten = src.fetch().unwrap();
    assert_eq!(rewritten.commit, fx.head());
    assert_eq!(rewritten.files, second.files);
}

#[test]
fn tags_full_ref_names_and_commit_ids_resolve() {
    let fx = Fixture::new();
    fx.write("app.yaml", "v: 1\n");
    let c1 = fx.commit("one");
    git(&fx.work, &["tag", "-a", "-m", "release 1", "v1"]);
    git(&fx.work, &["tag", "light1"]);
    fx.write("app.yaml", "v: 2\n");
    let c2 = fx.commit("two");
    git(&fx.work, &["checkout", "-q", "-b", "feature"]);
    fx.write("app.yaml", "v: 3\n");
    let c3 = fx.commit("three");
    git(&fx.work, &["checkout", "-q", "main"]);

    for (reference, commit, content) in [
        (None, &c2, "v: 2\n"),
        (Some("main"), &c2, "v: 2\n"),
        (Some("feature"), &c3, "v: 3\n"),
        (Some("refs/heads/feature"), &c3, "v: 3\n"),
        (Some("v1"), &c1, "v: 1\n"),
        (Some("refs/tags/v1"), &c1, "v: 1\n"),
        (Some("light1"), &c1, "v: 1\n"),
        (Some(c1.as_str()), &c1, "v: 1\n"),
        (Some(c3.as_str()), &c3, "v: 3\n"),
    ] {
        let mut cfg = config(&fx, fx.file_url());
        cfg.reference = reference.map(str::to_owned);
        let snap = source(cfg)
            .fetch()
            .unwrap_or_else(|e| panic!("{reference:?}: {e}"));
        assert_eq!(&snap.commit, commit, "{reference:?}");
        assert_eq!(data(&snap, "app.yaml"), content.as_bytes(), "{reference:?}");
    }
}

#[test]
fn an_older_commit_that_no_ref_points_at_resolves() {
    let fx = Fixture::new();
    fx.write("app.yaml", "v: 1\n");
    let c1 = fx.commit("one");
    fx.write("app.yaml", "v: 2\n");
    fx.commit("two");
    let mut cfg = config(&fx, fx.file_url());
    cfg.reference = Some(c1.clone());
    let snap = source(cfg)
        .fetch()
        .expect("protocol v2 lets a client want any reachable commit");
    assert_eq!(snap.commit, c1);
}

#[test]
fn plain_local_path_works() {
    let fx = sample_repo();
    let snap = source(config(&fx, fx.bare.display().to_string()))
        .fetch()
        .unwrap();
    assert_eq!(snap.commit, fx.head());
}

#[test]
fn files_over_the_limit_are_never_read() {
    let fx = Fixture::new();
    fx.write("small.yaml", "0123456789");
    fx.write("big.yaml", "0123456789A");
    fx.commit("sizes");
    let mut cfg = config(&fx, fx.file_url());
    cfg.max_file_size = 10;
    let snap = source(cfg).fetch().unwrap();
    assert_eq!(data(&snap, "small.yaml"), b"0123456789");
    assert_eq!(
        snap.file("big.yaml").unwrap().content,
        FileContent::TooLarge { size: 11 }
    );
    assert_eq!(
        snap.file("big.yaml").unwrap().blob_id,
        fx.blob_id("HEAD", "big.yaml")
    );
}

#[test]
fn missing_paths_refs_and_ambiguity_are_reported() {
    let fx = sample_repo();
    git(&fx.work, &["tag", "main"]);
    fx.push();

    let mut cfg = config(&fx, fx.file_url());
    cfg.paths = vec!["nope".into()];
    let err = source(cfg).fetch().unwrap_err();
    assert!(
        matches!(err, GitError::PathNotFound { ref path, .. } if path == "nope"),
        "{err}"
    );

    let mut cfg = config(&fx, fx.file_url());
    cfg.reference = Some("no-such-branch".into());
    let err = source(cfg).fetch().unwrap_err();
    assert_eq!(err.kind(), "ref_not_found", "{err}");
    assert!(err.to_string().contains("no-such-branch"), "{err}");

    let mut cfg = config(&fx, fx.file_url());
    cfg.reference = Some("0000000000000000000000000000000000000001".into());
    let err = source(cfg).fetch().unwrap_err();
    assert_eq!(err.kind(), "ref_not_found", "{err}");

    let mut cfg = config(&fx, fx.file_url());
    cfg.reference = Some("main".into());
    let err = source(cfg).fetch().unwrap_err();
    assert_eq!(err.kind(), "ambiguous", "{err}");

    let empty = Fixture::new();
    let err = source(config(&empty, empty.file_url()))
        .fetch()
        .unwrap_err();
    assert_eq!(err.kind(), "ref_not_found", "{err}");
}

#[test]
fn vanished_ref_keeps_the_last_good_snapshot_also_after_a_restart() {
    let fx = sample_repo();
    git(&fx.work, &["checkout", "-q", "-b", "release"]);
    let release = fx.commit("release");
    let mut cfg = config(&fx, fx.file_url());
    cfg.reference = Some("release".into());
    cfg.paths = vec!["apps".into()];
    let mut src = source(cfg.clone());
    let good = src.fetch().unwrap();

    git(&fx.bare, &["branch", "-D", "release"]);
    let err = src.fetch().unwrap_err();
    assert!(matches!(err, GitError::RefNotFound { .. }), "{err}");
    assert!(
        err.to_string().contains(&fx.bare.display().to_string()),
        "names the remote: {err}"
    );
    assert_eq!(src.last_good().unwrap().commit, release);

    // A restarted agent finds the last good snapshot in its cache before any fetch.
    drop(src);
    let restarted = source(cfg);
    assert_eq!(
        *restarted.last_good().expect("remembered in the cache"),
        *good
    );
}

#[test]
fn missing_repository_is_unreachable() {
    let fx = Fixture::new();
    let url = format!("file://{}/nothing-here.git", fx.dir.path().display());
    let err = source(config(&fx, url)).fetch().unwrap_err();
    assert_eq!(err.kind(), "unreachable", "{err}");
}

#[test]
fn invalid_configurations_are_refused() {
    let fx = Fixture::new();
    let bad = |f: &dyn Fn(&mut GitSourceConfig)| {
        let mut cfg = config(&fx, "https://example.com/r.git".into());
        f(&mut cfg);
        GitSource::new(cfg).unwrap_err()
    };
    assert_eq!(
        bad(&|c| c.url = "https://u:hunter2@example.com/r.git".into()).kind(),
        "config"
    );
    assert!(
        !bad(&|c| c.url = "https://u:hunter2@example.com/r.git".into())
            .to_string()
            .contains("hunter2")
    );
    assert_eq!(bad(&|c| c.paths = vec!["../x".into()]).kind(), "config");
    assert_eq!(bad(&|c| c.reference = Some("a..b".into())).kind(), "config");
    assert_eq!(
        bad(&|c| c.auth = GitAuth::SshKeyFile("/k".into())).kind(),
        "config"
    );
    assert_eq!(bad(&|c| c.max_file_size = 0).kind(), "config");
}

// ---------------------------------------------------------------------------------------------- git://

#[test]
fn git_daemon_fetch_and_unreachable_keeps_last_good() {
    let fx = sample_repo();
    let daemon = crate::git_servers::git_daemon(&fx);
    let url = format!("git://127.0.0.1:{}/repo.git", daemon.port);
    let mut cfg = config(&fx, url.clone());
    cfg.paths = vec!["apps/web".into()];
    let mut src = source(cfg);

    let started = Instant::now();
    let first = src.fetch().expect("git:// fetch");
    eprintln!("initial git:// fetch: {:?}", started.elapsed());
    assert_eq!(first.commit, fx.head());
    assert_eq!(paths(&first), ["apps/web/secret.yaml"]);

    fx.write("apps/web/secret.yaml", "changed\n");
    fx.commit("change");
    let started = Instant::now();
    let second = src.fetch().expect("incremental git:// fetch");
    eprintln!("incremental git:// fetch: {:?}", started.elapsed());
    assert_eq!(data(&second, "apps/web/secret.yaml"), b"changed\n");

    daemon.stop();
    let err = src.fetch().unwrap_err();
    assert!(matches!(err, GitError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains(&url), "{err}");
    assert_eq!(*src.last_good().unwrap(), *second);
}

// ------------------------------------------------------------------------------------------ smart HTTP

const TOKEN: &str = "ghp_Sup3rSecretTokenValue0123456789";

fn token_file(fx: &Fixture, name: &str, token: &str) -> std::path::PathBuf {
    let p = fx.scratch("tokens").join(name);
    std::fs::write(&p, format!("{token}\n")).unwrap();
    p
}

#[test]
fn smart_http_public_and_incremental() {
    let fx = sample_repo();
    let http = crate::git_servers::lighttpd(&fx, "x-access-token", TOKEN, None);
    let mut cfg = config(&fx, format!("http://127.0.0.1:{}/git/repo.git", http.port));
    cfg.paths = vec!["apps".into(), "base".into()];
    let mut src = source(cfg);
    let started = Instant::now();
    let first = src.fetch().expect("http fetch");
    eprintln!("initial http fetch: {:?}", started.elapsed());
    assert_eq!(first.commit, fx.head());
    assert_eq!(first.files.len(), 4);

    fx.write("base/common.yml", "kind: ConfigMap\ndata: {}\n");
    fx.commit("base");
    let started = Instant::now();
    let second = src.fetch().unwrap();
    eprintln!("incremental http fetch: {:?}", started.elapsed());
    assert_eq!(second.changes_since(&first).modified, ["base/common.yml"]);
}

/// One CA for the whole test process, trusted through `SSL_CERT_FILE` (read by rustls-native-certs, the way an
/// operator trusts a private CA in the agent's container). Set once, before any HTTPS connection is made.
fn trusted_test_ca() -> &'static crate::git_servers::TestCa {
    static CA: OnceLock<(tempfile::TempDir, crate::git_servers::TestCa)> = OnceLock::new();
    let (_, ca) = CA.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let ca = crate::git_servers::test_ca(dir.path());
        std::env::set_var("SSL_CERT_FILE", &ca.ca_cert);
        (dir, ca)
    });
    ca
}

#[test]
fn smart_https_with_basic_auth_token() {
    let fx = sample_repo();
    let https = crate::git_servers::lighttpd(&fx, "x-access-token", TOKEN, Some(trusted_test_ca()));
    let url = format!("https://127.0.0.1:{}/private/repo.git", https.port);

    // Without credentials the server says 401.
    let mut cfg = config(&fx, url.clone());
    let err = source(cfg.clone()).fetch().unwrap_err();
    assert!(matches!(err, GitError::Auth { .. }), "{err}");
    assert!(err.to_string().contains("none are configured"), "{err}");

    // A wrong token is refused with an Auth error that does not echo it.
    cfg.auth = GitAuth::TokenFile(token_file(&fx, "wrong", "wrong-token-value-42"));
    cfg.cache_dir = fx.scratch("cache-wrong");
    let err = source(cfg.clone()).fetch().unwrap_err();
    assert!(matches!(err, GitError::Auth { .. }), "{err}");
    assert!(
        !format!("{err} {err:?}").contains("wrong-token-value-42"),
        "{err:?}"
    );

    // The right token works, over public and private paths alike.
    cfg.auth = GitAuth::TokenFile(token_file(&fx, "right", TOKEN));
    cfg.cache_dir = fx.scratch("cache-right");
    let mut src = source(cfg.clone());
    let started = Instant::now();
    let good = src.fetch().expect("fetch with token");
    eprintln!("initial https fetch with token: {:?}", started.elapsed());
    assert_eq!(good.commit, fx.head());

    // The user name in the URL replaces the default one (the server only knows x-access-token).
    let mut other_user = cfg.clone();
    other_user.url = format!("https://oauth2@127.0.0.1:{}/private/repo.git", https.port);
    other_user.cache_dir = fx.scratch("cache-user");
    let err = source(other_user).fetch().unwrap_err();
    assert!(matches!(err, GitError::Auth { .. }), "{err}");
    assert!(err.to_string().contains("https://***@127.0.0.1"), "{err}");

    // The server goes away: Unreachable, last good kept, no credentials in the text.
    https.stop();
    let err = src.fetch().unwrap_err();
    assert!(matches!(err, GitError::Unreachable { .. }), "{err}");
    let text = format!("{err} {err:?}");
    assert!(!text.contains(TOKEN), "{text}");
    assert!(text.contains(&url), "names the remote: {text}");
    assert_eq!(*src.last_good().unwrap(), *good);
}

#[test]
fn untrusted_certificate_is_refused() {
    let fx = sample_repo();
    let dir = fx.scratch("other-ca");
    let untrusted = crate::git_servers::test_ca(&dir);
    trusted_test_ca();
    let https = crate::git_servers::lighttpd_unchecked(&fx, "x-access-token", TOKEN, &untrusted);
    let mut cfg = config(
        &fx,
        format!("https://127.0.0.1:{}/private/repo.git", https.port),
    );
    cfg.auth = GitAuth::TokenFile(token_file(&fx, "t", TOKEN));
    let err = source(cfg).fetch().unwrap_err();
    assert!(matches!(err, GitError::Tls { .. }), "{err}");
    assert!(
        !matches!(err, GitError::Auth { .. }),
        "a TLS failure must not look like a wrong token: {err}"
    );
    assert!(!format!("{err} {err:?}").contains(TOKEN));
}

#[test]
fn tokens_are_never_sent_over_plain_http() {
    let fx = Fixture::new();
    let mut cfg = config(&fx, "http://127.0.0.1:1/r.git".into());
    cfg.auth = GitAuth::TokenFile(token_file(&fx, "t", TOKEN));
    let err = GitSource::new(cfg).unwrap_err();
    assert_eq!(err.kind(), "config", "{err}");
}

#[test]
fn closed_port_is_unreachable() {
    let fx = Fixture::new();
    let port = crate::git_servers::free_port();
    let mut cfg = config(&fx, format!("https://127.0.0.1:{port}/r.git"));
    cfg.auth = GitAuth::TokenFile(token_file(&fx, "t", TOKEN));
    let err = source(cfg).fetch().unwrap_err();
    assert!(matches!(err, GitError::Unreachable { .. }), "{err}");
    assert!(!format!("{err} {err:?}").contains(TOKEN));
}

// ----------------------------------------------------------------------------------------------- ssh

#[test]
fn ssh_with_a_private_key_file() {
    let fx = sample_repo();
    let sshd = crate::git_servers::sshd(&fx);
    let url = format!(
        "ssh://{}@127.0.0.1:{}{}",
        sshd.user,
        sshd.server.port,
        fx.bare.display()
    );
    let mut cfg = config(&fx, url.clone());
    cfg.auth = GitAuth::SshKeyFile(sshd.client_key.clone());
    cfg.paths = vec!["apps/web".into()];
    let mut src = source(cfg.clone());
    let started = Instant::now();
    let snap = src.fetch().expect("ssh fetch");
    eprintln!("initial ssh fetch: {:?}", started.elapsed());
    assert_eq!(snap.commit, fx.head());
    assert_eq!(paths(&snap), ["apps/web/secret.yaml"]);

    fx.write("apps/web/secret.yaml", "over ssh\n");
    fx.commit("ssh change");
    let snap = src.fetch().expect("incremental ssh fetch");
    assert_eq!(data(&snap, "apps/web/secret.yaml"), b"over ssh\n");

    // A key the server does not know is an Auth error.
    let other = fx.scratch("other-key").join("id");
    keygen(&other);
    let mut wrong = cfg.clone();
    wrong.auth = GitAuth::SshKeyFile(other);
    wrong.cache_dir = fx.scratch("cache-ssh-wrong");
    let err = source(wrong).fetch().unwrap_err();
    eprintln!("unknown ssh key: {err}");
    assert!(matches!(err, GitError::Auth { .. }), "{err}");

    // A missing key file is named in an Auth error before ssh runs.
    let mut missing = cfg.clone();
    missing.auth = GitAuth::SshKeyFile(Path::new("/nonexistent/key").into());
    let err = source(missing).fetch().unwrap_err();
    assert!(
        matches!(err, GitError::Auth { .. }) && err.to_string().contains("/nonexistent/key"),
        "{err}"
    );

    // A pinned host key: the right one works, another one is refused.
    let pinned = fx.scratch("pinned").join("known_hosts");
    let host_pub = std::fs::read_to_string(sshd.host_key.with_extension("pub")).unwrap();
    std::fs::write(
        &pinned,
        format!("[127.0.0.1]:{} {host_pub}", sshd.server.port),
    )
    .unwrap();
    let mut pin = cfg.clone();
    pin.ssh_known_hosts = Some(pinned.clone());
    pin.cache_dir = fx.scratch("cache-ssh-pinned");
    source(pin.clone())
        .fetch()
        .expect("pinned host key matches");
    let other_host = fx.scratch("other-host").join("key");
    keygen(&other_host);
    let other_pub = std::fs::read_to_string(other_host.with_extension("pub")).unwrap();
    std::fs::write(
        &pinned,
        format!("[127.0.0.1]:{} {other_pub}", sshd.server.port),
    )
    .unwrap();
    pin.cache_dir = fx.scratch("cache-ssh-pinned-2");
    let err = source(pin).fetch().unwrap_err();
    eprintln!("changed host key: {err}");
    assert!(
        matches!(err, GitError::Auth { .. }) && err.to_string().contains("host key"),
        "{err}"
    );

    sshd.server.stop();
    let err = src.fetch().unwrap_err();
    assert!(matches!(err, GitError::Unreachable { .. }), "{err}");
    assert!(src.last_good().is_some());
}

fn keygen(path: &Path) {
    let st = std::process::Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-f",
            path.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(st.success());
}

// ------------------------------------------------------------------------------------- cache upkeep

#[test]
fn the_cache_is_rebuilt_when_packs_pile_up() {
    let fx = Fixture::new();
    fx.write("n.yaml", "0");
    fx.commit("0");
    let mut src = source(config(&fx, fx.file_url()));
    src.fetch().unwrap();
    let started = Instant::now();
    for i in 1..=70 {
        fx.write("n.yaml", i.to_string());
        git(&fx.work, &["commit", "-q", "-am", &i.to_string()]);
        git(&fx.work, &["push", "-q", "origin", "main"]);
        let snap = src.fetch().unwrap();
        assert_eq!(data(&snap, "n.yaml"), i.to_string().as_bytes());
    }
    eprintln!("70 incremental file:// fetches: {:?}", started.elapsed());
    let packs = std::fs::read_dir(fx.dir.path().join("cache"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "git"))
        .map(|e| {
            std::fs::read_dir(e.path().join("objects/pack"))
                .unwrap()
                .count()
        })
        .sum::<usize>();
    // Each pack has a .pack, an .idx (and briefly a .keep): without rebuilds there would be 71 packs.
    assert!(
        packs < 2 * 64,
        "{packs} pack files: the cache was never rebuilt"
    );
}

// ------------------------------------------------------------------------------------------- webhook

#[test]
fn github_signature_matches_openssl() {
    let secret = b"webhook-secret";
    let body = br#"{"ref":"refs/heads/main","after":"0123"}"#;
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", "webhook-secret", "-r"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    let hex = String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let header = format!("sha256={hex}");
    assert!(sealsync::ops::verify_github(secret, body, &header));

    let mut tampered = body.to_vec();
    tampered[10] ^= 1;
    assert!(!sealsync::ops::verify_github(secret, &tampered, &header));

    // The documented example from GitHub's "Validating webhook deliveries".
    assert!(sealsync::ops::verify_github(
        b"It's a Secret to Everybody",
        b"Hello, World!",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    ));
    assert!(sealsync::ops::verify_gitlab(b"gl-token", "gl-token"));
    assert!(!sealsync::ops::verify_gitlab(b"gl-token", "gl-tokem"));
}
