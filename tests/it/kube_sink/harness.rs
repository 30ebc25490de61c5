//! The scaffolding of the kube sink tests: a Kubernetes API test server with a kube client and the real
//! `kubectl`, desired Secrets, and an agent (the sink with its drift watch) running against it.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event as CoreEvent, Secret};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client, Config};
use kube_api_test_server::TestServer;
use sealsync::desired::{DesiredSecret, FingerprintKey, SecretBytes, SecretKey, SmallMap, Source};
use sealsync::sink::kube::{
    hmac_key, spawn_drift_watch, DesiredStore, DriftReport, KubeSink, Ownership, Recorder,
    MANAGED_BY_LABEL,
};
use sealsync::sink::{ApplyOutcome, Sink};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use crate::support::{poll_until_async, PATIENCE};

const KUBECTL: &str = "/usr/bin/kubectl";
pub const OWN_NS: &str = "sealsync-system";

pub struct Cluster {
    pub server: TestServer,
    pub client: Client,
    dir: tempfile::TempDir,
}

impl Cluster {
    pub async fn start() -> Cluster {
        Cluster::start_with(TestServer::builder()).await
    }

    pub async fn start_with(builder: kube_api_test_server::Builder) -> Cluster {
        let server = builder.start().await.unwrap();
        // The agent's own client (src/sink/kube/client.rs), so every kube sink test runs through it.
        let client =
            sealsync::sink::kube::client::build(Config::new(server.url().parse().unwrap()))
                .unwrap();
        let dir = tempfile::tempdir().unwrap();
        server
            .write_kubeconfig(dir.path().join("kubeconfig"))
            .unwrap();
        Cluster {
            server,
            client,
            dir,
        }
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

    /// The kubeconfig file pointing at the server (for the agent binary and kubectl).
    pub fn kubeconfig(&self) -> std::path::PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// Runs the real kubectl against the server, as a person would.
    pub fn kubectl(&self, args: &[&str]) -> String {
        self.kubectl_env(args, &[])
    }

    pub fn kubectl_env(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let cache = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(KUBECTL)
            .arg("--kubeconfig")
            .arg(self.dir.path().join("kubeconfig"))
            .arg("--cache-dir")
            .arg(cache.path())
            .args(args)
            .envs(env.iter().copied())
            .output()
            .expect("kubectl runs");
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
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

    /// Every Event message (both APIs) in `ns`.
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

pub fn desired(ns: &str, name: &str, password: &str) -> DesiredSecret {
    DesiredSecret {
        key: SecretKey::new(ns, name),
        secret_type: "Opaque".into(),
        labels: SmallMap::from([("app".to_string(), name.to_string())]),
        annotations: SmallMap::from([("team".to_string(), ns.to_string())]),
        data: SmallMap::from([
            (
                "password".to_string(),
                SecretBytes::new(password.as_bytes().to_vec()),
            ),
            ("user".to_string(), SecretBytes::new(b"app-user".to_vec())),
        ]),
        immutable: None,
        source: Source {
            path: format!("apps/{ns}/{name}.yaml"),
            commit: "abc1234def5678".into(),
        },
        adopt: false,
        memo: Default::default(),
    }
}

pub fn value(secret: &Secret, key: &str) -> Vec<u8> {
    secret.data.as_ref().unwrap()[key].0.clone()
}

pub fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The sink, its drift watch over `namespaces`, and the applied `secrets`.
pub struct Agent {
    pub sink: KubeSink,
    pub store: DesiredStore,
    pub reports: UnboundedReceiver<DriftReport>,
    stop: CancellationToken,
    watch: tokio::task::JoinHandle<()>,
}

impl Agent {
    pub async fn start(
        cluster: &Cluster,
        namespaces: &[&str],
        secrets: Vec<DesiredSecret>,
    ) -> Agent {
        Agent::start_with(cluster, cluster.sink(namespaces).await, secrets).await
    }

    /// As [`Agent::start`], with a sink made by the caller (another instance, other options).
    pub async fn start_with(
        cluster: &Cluster,
        sink: KubeSink,
        secrets: Vec<DesiredSecret>,
    ) -> Agent {
        let store = DesiredStore::new();
        let (tx, reports) = tokio::sync::mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        let namespaces: Vec<String> = sink.namespaces().map(str::to_string).collect();
        let before: Vec<usize> = namespaces
            .iter()
            .map(|ns| cluster.watch_requests(ns))
            .collect();
        let watch = spawn_drift_watch(sink.clone(), store.clone(), tx, stop.clone());
        for d in secrets {
            store.insert(d.clone());
            assert_eq!(sink.apply(&d).await.unwrap(), ApplyOutcome::Created);
        }
        // Nothing is changed by hand before every namespace's watch has listed (the watch request
        // follows the list and its `InitDone`: kube's watcher asks for it only once that is handled),
        // or has said why it cannot (a test of a refused list).
        let problems = sink.watch_problems();
        poll_until_async("the drift watch to list every namespace", || async {
            namespaces.iter().zip(&before).all(|(ns, before)| {
                cluster.watch_requests(ns) > *before || problems.borrow().contains_key(ns)
            })
        })
        .await;
        Agent {
            sink,
            store,
            reports,
            stop,
            watch,
        }
    }

    pub async fn next_report(&mut self) -> DriftReport {
        tokio::time::timeout(PATIENCE, self.reports.recv())
            .await
            .expect("a drift report")
            .expect("the channel stays open")
    }

    pub async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(PATIENCE, self.watch)
            .await
            .expect("the drift watch stops on shutdown")
            .unwrap();
    }
}

pub async fn create_unmanaged(c: &Cluster, ns: &str, name: &str, password: &str) -> Secret {
    let s = Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(BTreeMap::from([("owner".to_string(), "ops".to_string())])),
            ..ObjectMeta::default()
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

/// Waits until `ns/name` holds `password` again and carries the managed-by label; answers how long
/// that took (printed, never asserted: the suite runs on loaded machines).
pub async fn restored(c: &Cluster, ns: &str, name: &str, password: &str) -> Duration {
    let api = c.secrets(ns);
    poll_until_async(&format!("{ns}/{name} to be restored"), || {
        let api = api.clone();
        async move {
            match api.get_opt(name).await {
                Ok(Some(s)) => {
                    s.data
                        .as_ref()
                        .and_then(|d| d.get("password"))
                        .is_some_and(|v| v.0 == password.as_bytes())
                        && s.metadata
                            .labels
                            .as_ref()
                            .and_then(|l| l.get(MANAGED_BY_LABEL))
                            .is_some_and(|v| v == "sealsync")
                }
                _ => false,
            }
        }
    })
    .await
}
