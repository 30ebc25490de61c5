//! A Kubernetes API test server and `sealsync` agents running against it, for the end-to-end tests:
//! the cluster (with `kubectl` as the administrator), agent processes with their logs and
//! operations endpoints, and polling with a generous deadline.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kube_api_test_server::{TestServer, TokenIdentity};

use crate::git_servers::{free_port, Fixture};
use crate::support::{key, poll_until_or};

pub struct Cluster {
    // The runtime hosts the API server's tasks for as long as the test runs.
    _runtime: tokio::runtime::Runtime,
    server: Option<TestServer>,
    /// The administrator's kubeconfig (`kubectl` and kube-rs clients that need no identity).
    pub kubeconfig: PathBuf,
    cache: tempfile::TempDir,
}

impl Cluster {
    pub fn start(dir: &Path) -> Cluster {
        Cluster::start_with(dir, false)
    }

    /// A cluster that authenticates by token and enforces RBAC; `kubectl` is the administrator.
    pub fn start_rbac(dir: &Path) -> Cluster {
        Cluster::start_with(dir, true)
    }

    fn start_with(dir: &Path, rbac: bool) -> Cluster {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime
            .block_on(TestServer::builder().rbac(rbac).start())
            .expect("the test API server starts");
        let kubeconfig = dir.join("kubeconfig");
        server.write_kubeconfig(&kubeconfig).unwrap();
        Cluster {
            _runtime: runtime,
            server: Some(server),
            kubeconfig,
            cache: tempfile::tempdir().unwrap(),
        }
    }

    pub fn server(&self) -> &TestServer {
        self.server.as_ref().expect("running until dropped")
    }

    /// A kubeconfig at `path` that authenticates as `identity` (with a token made up for it).
    pub fn kubeconfig_as(&self, path: &Path, identity: TokenIdentity) -> PathBuf {
        let token = format!("token-for-{}", identity.username.replace(':', "-"));
        self.server().add_token(&token, identity);
        std::fs::write(path, self.server().kubeconfig_for_token(&token)).unwrap();
        path.to_path_buf()
    }

    pub fn kubectl(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.cache.path())
            .args(args)
            .output()
            .expect("kubectl is preinstalled on this machine kind");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// A key of a Secret in team-a, decoded.
    pub fn value(&self, name: &str, key: &str) -> Option<String> {
        self.value_in("team-a", name, key)
    }

    pub fn value_in(&self, namespace: &str, name: &str, key: &str) -> Option<String> {
        let (ok, out) = self.kubectl(&[
            "get",
            "secret",
            name,
            "-n",
            namespace,
            "-o",
            &format!("jsonpath={{.data.{key}}}"),
        ]);
        if !ok || out.is_empty() {
            return None;
        }
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(out.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self._runtime.block_on(server.shutdown());
        }
    }
}

/// A running `sealsync` process; killed when dropped.
pub struct Agent {
    pub child: Child,
    pub port: u16,
    log: PathBuf,
}

impl Agent {
    /// Starts `command` (a `sealsync` command listening on `port`) with stderr logged to `log`.
    pub fn spawn(mut command: Command, port: u16, log: PathBuf) -> Agent {
        let child = command
            .env_remove("SOPS_AGE_KEY_FILE")
            .env_remove("SOPS_AGE_KEY")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Agent { child, port, log }
    }

    /// The agent of the kube-sink tests: team-a's Secrets from `apps/`, polling hourly, with a 5 s
    /// leader Lease (a takeover waits for it to expire; the default is 15 s).
    pub fn start(fx: &Fixture, cluster: &Cluster, name: &str) -> Agent {
        let port = free_port();
        let log = fx.dir.path().join(format!("{name}.log"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_sealsync"));
        command
            .args([
                "run",
                "--sink",
                "kube",
                "--interval",
                "1h",
                "--namespace-policy",
                "apps/**=team-a",
                "--lease-duration",
                "5s",
            ])
            .arg("--repo")
            .arg(format!("file://{}", fx.bare.display()))
            .arg("--identity")
            .arg(key("one.agekey"))
            .arg("--cache-dir")
            .arg(fx.dir.path().join(format!("cache-{name}")))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .env("KUBECONFIG", &cluster.kubeconfig)
            .env("POD_NAMESPACE", "sealsync")
            .env("POD_NAME", name);
        Agent::spawn(command, port, log)
    }

    /// The body of a 200 answer to `GET path`, else `None`.
    pub fn get(&self, path: &str) -> Option<String> {
        self.get_any(path)
            .and_then(|(code, body)| (code == 200).then_some(body))
    }

    /// The status code and body of `GET path`, `None` when nothing answers.
    pub fn get_any(&self, path: &str) -> Option<(u16, String)> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut resp = String::new();
        s.read_to_string(&mut resp).ok()?;
        let code = resp.get(9..12)?.parse().ok()?;
        let body = resp
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Some((code, body))
    }

    pub fn leading(&self) -> bool {
        self.get("/status")
            .is_some_and(|s| s.contains("\"leader\":true"))
    }

    /// `/readyz` answers 200.
    pub fn ready(&self) -> bool {
        self.get("/readyz").is_some()
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM, as the kubelet does to stop a pod, and waits for the exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid fits pid_t");
        // SAFETY: kill(2) on our own child's pid, which has not been reaped yet.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        self.child.wait().unwrap()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it holds (`support::poll_until`); panics with the agents' logs if it never does.
pub fn wait(what: &str, agents: &[&Agent], check: impl FnMut() -> bool) -> Duration {
    poll_until_or(what, check, || {
        let logs: Vec<String> = agents.iter().map(|a| a.logs()).collect();
        format!("agent logs:\n{}", logs.join("\n---\n"))
    })
}
