//! Fetching over the network transports: git://, smart HTTP(S) with tokens and TLS, and ssh with keys
//! and pinned host keys.

use std::path::Path;
use std::time::Instant;

use sealsync_agent::git::{GitAuth, GitError, GitSource};

use super::harness::{config, data, paths, sample_repo, source};
use crate::git_servers::{test_ca, Fixture, TestCa};

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

/// Set in the child process that runs an HTTPS test's body: the directory of the CA it trusts.
const CA_DIR_VAR: &str = "SEALSYNC_TEST_CA_DIR";

/// The HTTPS tests trust a test CA through `SSL_CERT_FILE` (read by rustls-native-certs, the way an
/// operator trusts a private CA in the agent's container). Every test thread shares this process's
/// environment, so it is never changed: the test runs again, alone, in a child process of this test
/// binary, and the variable is given to that child only. Answers the CA in the child (which runs the
/// body), `None` in the parent once the child passed.
fn in_child_trusting_a_test_ca(test: &str) -> Option<TestCa> {
    if let Some(dir) = std::env::var_os(CA_DIR_VAR) {
        return Some(TestCa::in_dir(Path::new(&dir)));
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = test_ca(dir.path());
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("SSL_CERT_FILE", &ca.ca_cert)
        .env(CA_DIR_VAR, dir.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("1 passed"),
        "{test} in a child process:\n{text}"
    );
    None
}

#[test]
fn smart_https_with_basic_auth_token() {
    let Some(ca) =
        in_child_trusting_a_test_ca("git_source::transports::smart_https_with_basic_auth_token")
    else {
        return;
    };
    let fx = sample_repo();
    let https = crate::git_servers::lighttpd(&fx, "x-access-token", TOKEN, Some(&ca));
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
    if in_child_trusting_a_test_ca("git_source::transports::untrusted_certificate_is_refused")
        .is_some()
    {
        untrusted_certificate_is_refused_body();
    }
}

/// A server whose certificate comes from another CA than the one trusted.
fn untrusted_certificate_is_refused_body() {
    let fx = sample_repo();
    let dir = fx.scratch("other-ca");
    let untrusted = crate::git_servers::test_ca(&dir);
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
