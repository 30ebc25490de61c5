//! The one cluster harness of the integration tests: the Kubernetes API test server with the agent's
//! own kube client and the real `kubectl` as the administrator, for async tests in the test's runtime
//! and for synchronous ones (in a runtime of its own); `sealsync` agent processes running against it
//! with their logs and operations endpoints; and waiting for them (`support::poll_until`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event as CoreEvent, Secret};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::ByteString;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client, Config};
use kube_api_test_server::{TestServer, TokenIdentity};
use sealsync_agent::desired::FingerprintKey;
use sealsync_agent::sink::kube::{hmac_key, KubeSink, Ownership, Recorder};

use crate::git_servers::{free_port, Fixture};
use crate::support::{key, poll_until_or};

const KUBECTL: &str = "/usr/bin/kubectl";
/// The namespace the in-process agents run in (their fingerprint key and Lease live there).
pub const OWN_NS: &str = "sealsync-system";

pub struct Cluster {
    pub server: TestServer,
    /// The agent's own client (src/sink/kube/client.rs), so every test runs through it.
    pub client: Client,
    /// The kubeconfig of the administrator, and kubectl's cache.
    dir: tempfile::TempDir,
    /// For synchronous tests: the runtime hosting the server's tasks as long as the test runs
    /// (dropped last, after the server).
    _runtime: Option<tokio::runtime::Runtime>,
}

impl Cluster {
    /// A server on the calling test's runtime.
    pub async fn start() -> Cluster {
        Cluster::start_with(TestServer::builder()).await
    }

    pub async fn start_with(builder: kube_api_test_server::Builder) -> Cluster {
        let server = builder.start().await.expect("the test API server starts");
        Cluster::around(server, None)
    }

    /// For a synchronous test: a server on a runtime of its own.
    pub fn start_blocking() -> Cluster {
        Cluster::start_blocking_with(TestServer::builder())
    }

    /// As [`Cluster::start_blocking`], authenticating by token and enforcing RBAC; `kubectl` is the
    /// administrator.
    pub fn start_blocking_rbac() -> Cluster {
        Cluster::start_blocking_with(TestServer::builder().rbac(true))
    }

    pub fn start_blocking_with(builder: kube_api_test_server::Builder) -> Cluster {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime
            .block_on(builder.start())
            .expect("the test API server starts");
        // The client's tasks start on the runtime current while it is built.
        let cluster = {
            let _entered = runtime.enter();
            Cluster::around(server, None)
        };
        Cluster {
            _runtime: Some(runtime),
            ..cluster
        }
    }

    fn around(server: TestServer, runtime: Option<tokio::runtime::Runtime>) -> Cluster {
        let client =
            sealsync_agent::sink::kube::client::build(Config::new(server.url().parse().unwrap()))
                .unwrap();
        let dir = tempfile::tempdir().unwrap();
        server
            .write_kubeconfig(dir.path().join("kubeconfig"))
            .unwrap();
        Cluster {
            server,
            client,
            dir,
            _runtime: runtime,
        }
    }

    /// The administrator's kubeconfig (for `kubectl` and the agent binary).
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// A kubeconfig at `path` that authenticates as `identity` (with a token made up for it).
    pub fn kubeconfig_as(&self, path: &Path, identity: TokenIdentity) -> PathBuf {
        let token = format!("token-for-{}", identity.username.replace(':', "-"));
        self.server.add_token(&token, identity);
        std::fs::write(path, self.server.kubeconfig_for_token(&token)).unwrap();
        path.to_path_buf()
    }

    /// Runs the real kubectl as the administrator, as a person would: whether it succeeded, and
    /// its output and errors.
    pub fn try_kubectl(&self, args: &[&str]) -> (bool, String) {
        self.try_kubectl_env(args, &[])
    }

    fn try_kubectl_env(&self, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
        let out = Command::new(KUBECTL)
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .arg("--cache-dir")
            .arg(self.dir.path().join("kubectl-cache"))
            .args(args)
            .envs(env.iter().copied())
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

    /// Runs kubectl and answers its output; panics if it fails.
    pub fn kubectl(&self, args: &[&str]) -> String {
        self.kubectl_env(args, &[])
    }

    pub fn kubectl_env(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let (ok, out) = self.try_kubectl_env(args, env);
        assert!(ok, "kubectl {args:?} failed: {out}");
        out
    }

    /// A key of a Secret in team-a, decoded (through kubectl).
    pub fn value(&self, name: &str, key: &str) -> Option<String> {
        self.value_in("team-a", name, key)
    }

    pub fn value_in(&self, namespace: &str, name: &str, key: &str) -> Option<String> {
        let (ok, out) = self.try_kubectl(&[
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

    pub fn secrets(&self, ns: &str) -> Api<Secret> {
        Api::namespaced(self.client.clone(), ns)
    }

    /// The fingerprint key every sink of this cluster shares, created on first use.
    pub async fn fingerprint_key(&self) -> FingerprintKey {
        hmac_key::load_or_create(self.client.clone(), OWN_NS)
            .await
            .unwrap()
    }

    pub async fn sink(&self, namespaces: &[&str]) -> KubeSink {
        self.sink_as(namespaces, Ownership::default_for(OWN_NS))
            .await
    }

    /// A sink of the agent instance `ownership` describes.
    pub async fn sink_as(&self, namespaces: &[&str], ownership: Ownership) -> KubeSink {
        let key = self.fingerprint_key().await;
        KubeSink::with_ownership(
            self.client.clone(),
            OWN_NS,
            namespaces.iter().map(|s| s.to_string()).collect(),
            key,
            Recorder::new(self.client.clone(), "sealsync-test-0"),
            ownership,
        )
    }

    /// `kubectl patch --type merge` of the `password` value of `ns/name`, as a person would.
    pub fn patch_password(&self, ns: &str, name: &str, password: &str) -> String {
        self.kubectl(&[
            "-n",
            ns,
            "patch",
            "secret",
            name,
            "--type",
            "merge",
            "-p",
            &format!(r#"{{"data":{{"password":"{}"}}}}"#, b64(password)),
        ])
    }

    /// Replaces `ns/name` (a PUT, as `kubectl edit` does) with its `password` value changed.
    pub async fn replace_password(
        &self,
        ns: &str,
        name: &str,
        password: &str,
        params: &PostParams,
    ) {
        let api = self.secrets(ns);
        let mut edited = api.get(name).await.unwrap();
        edited
            .data
            .as_mut()
            .unwrap()
            .insert("password".into(), ByteString(password.as_bytes().to_vec()));
        api.replace(name, params, &edited).await.unwrap();
    }

    /// Watches of Secrets in `namespace` the server has answered so far.
    pub fn watch_requests(&self, namespace: &str) -> usize {
        let path = format!("/namespaces/{namespace}/secrets");
        self.server
            .requests()
            .iter()
            .filter(|r| r.verb == "watch" && r.resource == "secrets" && r.path.contains(&path))
            .count()
    }

    /// The status of every PATCH of a Secret the server has answered, in order.
    pub fn secret_patches(&self) -> Vec<u16> {
        self.server
            .requests()
            .into_iter()
            .filter(|r| r.verb == "patch" && r.resource == "secrets")
            .map(|r| r.status)
            .collect()
    }

    /// Every Event (both APIs) in `ns`: reason, type and message.
    pub async fn event_notes(&self, ns: &str) -> Vec<(String, String, String)> {
        let events: Api<Event> = Api::namespaced(self.client.clone(), ns);
        let mut out: Vec<(String, String, String)> = events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|e| {
                (
                    e.reason.unwrap_or_default(),
                    e.type_.unwrap_or_default(),
                    e.note.unwrap_or_default(),
                )
            })
            .collect();
        let core: Api<CoreEvent> = Api::namespaced(self.client.clone(), ns);
        out.extend(
            core.list(&ListParams::default())
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|e| {
                    (
                        e.reason.unwrap_or_default(),
                        e.type_.unwrap_or_default(),
                        e.message.unwrap_or_default(),
                    )
                }),
        );
        out
    }
}

pub fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A Secret in `ns` without sealsync's label, owned by someone else.
pub async fn create_unmanaged(c: &Cluster, ns: &str, name: &str, password: &str) -> Secret {
    let s = Secret {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.into()),
            labels: Some(BTreeMap::from([("owner".to_string(), "ops".to_string())])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "password".to_string(),
            ByteString(password.as_bytes().to_vec()),
        )])),
        ..Secret::default()
    };
    c.secrets(ns)
        .create(&PostParams::default(), &s)
        .await
        .unwrap()
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
        Agent::start_with(fx, cluster, name, |command| {
            command.args(["--interval", "1h"]);
        })
    }

    /// As [`Agent::start`], with more arguments or environment set by `more`, which must pass
    /// `--interval`.
    pub fn start_with(
        fx: &Fixture,
        cluster: &Cluster,
        name: &str,
        more: impl FnOnce(&mut Command),
    ) -> Agent {
        let port = free_port();
        let log = fx.dir.path().join(format!("{name}.log"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_sealsync"));
        command
            .args([
                "run",
                "--sink",
                "kube",
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
            .env("KUBECONFIG", cluster.kubeconfig())
            .env("POD_NAMESPACE", "sealsync")
            .env("POD_NAME", name);
        more(&mut command);
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
        s.set_read_timeout(Some(crate::support::PATIENCE)).ok()?;
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
