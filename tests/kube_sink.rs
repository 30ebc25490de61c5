//! The Kubernetes sink, the drift watch and leader election against the kube-api-test-server, with
//! the real kube client and the real `kubectl` making changes by hand.
#![cfg(feature = "kube")]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event as CoreEvent, Secret};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client, Config};
use kube_api_test_server::{FaultSpec, TestServer, Verb};
use sealsync::desired::{DesiredSecret, FingerprintKey, SecretBytes, SecretKey, Source};
use sealsync::leader::{LeaderConfig, LeaderElector};
use sealsync::sink::kube::{
    hmac_key, spawn_drift_watch, DesiredStore, DriftKind, DriftReport, KubeSink, Recorder,
    FINGERPRINT_ANNOTATION, MANAGED_BY_LABEL,
};
use sealsync::sink::{ApplyOutcome, Sink, SinkError};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

const KUBECTL: &str = "/usr/bin/kubectl";
const OWN_NS: &str = "sealsync-system";
/// How long a revert may take. The requirement is "within a second"; the deadline is the outcome
/// asserted, not a benchmark, and the observed times are printed.
const REVERT_DEADLINE: Duration = Duration::from_secs(1);

struct Cluster {
    server: TestServer,
    client: Client,
    dir: tempfile::TempDir,
}

impl Cluster {
    async fn start() -> Cluster {
        Cluster::start_with(TestServer::builder()).await
    }

    async fn start_with(builder: kube_api_test_server::Builder) -> Cluster {
        let server = builder.start().await.unwrap();
        let client = Client::try_from(Config::new(server.url().parse().unwrap())).unwrap();
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

    fn secrets(&self, ns: &str) -> Api<Secret> {
        Api::namespaced(self.client.clone(), ns)
    }

    async fn sink(&self, namespaces: &[&str]) -> KubeSink {
        let key = hmac_key::load_or_create(self.client.clone(), OWN_NS)
            .await
            .unwrap();
        KubeSink::new(
            self.client.clone(),
            OWN_NS,
            namespaces.iter().map(|s| s.to_string()).collect(),
            key,
            Recorder::new(self.client.clone(), "sealsync-test-0"),
        )
    }

    /// Runs the real kubectl against the server, as a person would.
    fn kubectl(&self, args: &[&str]) -> String {
        self.kubectl_env(args, &[])
    }

    fn kubectl_env(&self, args: &[&str], env: &[(&str, &str)]) -> String {
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

    /// Every Event message (both APIs) in `ns`.
    async fn event_notes(&self, ns: &str) -> Vec<(String, String, String)> {
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

fn desired(ns: &str, name: &str, password: &str) -> DesiredSecret {
    DesiredSecret {
        key: SecretKey::new(ns, name),
        secret_type: "Opaque".into(),
        labels: BTreeMap::from([("app".to_string(), name.to_string())]),
        annotations: BTreeMap::from([("team".to_string(), ns.to_string())]),
        data: BTreeMap::from([
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

fn value(secret: &Secret, key: &str) -> Vec<u8> {
    secret.data.as_ref().unwrap()[key].0.clone()
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Polls `check` until it holds or `deadline` passes; answers how long it took.
async fn within<F, Fut>(deadline: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return Some(start.elapsed());
        }
        if start.elapsed() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The sink, its drift watch over `namespaces`, and the applied `secrets`.
struct Agent {
    sink: KubeSink,
    store: DesiredStore,
    reports: UnboundedReceiver<DriftReport>,
    stop: CancellationToken,
    watch: tokio::task::JoinHandle<()>,
}

impl Agent {
    async fn start(cluster: &Cluster, namespaces: &[&str], secrets: Vec<DesiredSecret>) -> Agent {
        let sink = cluster.sink(namespaces).await;
        let store = DesiredStore::new();
        let (tx, reports) = tokio::sync::mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        let watch = spawn_drift_watch(sink.clone(), store.clone(), tx, stop.clone());
        for d in secrets {
            store.insert(d.clone());
            assert_eq!(sink.apply(&d).await.unwrap(), ApplyOutcome::Created);
        }
        // Let the watches list and settle before anything is changed by hand.
        tokio::time::sleep(Duration::from_millis(300)).await;
        Agent {
            sink,
            store,
            reports,
            stop,
            watch,
        }
    }

    async fn next_report(&mut self) -> DriftReport {
        tokio::time::timeout(Duration::from_secs(5), self.reports.recv())
            .await
            .expect("a drift report within 5 s")
            .expect("the channel stays open")
    }

    async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.watch)
            .await
            .expect("the drift watch stops on shutdown")
            .unwrap();
    }
}

#[tokio::test]
async fn apply_creates_updates_and_leaves_unchanged_secrets_alone() {
    let c = Cluster::start().await;
    let sink = c.sink(&["team-a"]).await;
    let mut d = desired("team-a", "db", "hunter2-initial");

    assert_eq!(sink.apply(&d).await.unwrap(), ApplyOutcome::Created);
    let live = c.secrets("team-a").get("db").await.unwrap();
    assert_eq!(value(&live, "password"), b"hunter2-initial");
    assert_eq!(live.type_.as_deref(), Some("Opaque"));
    let labels = live.metadata.labels.clone().unwrap();
    assert_eq!(labels[MANAGED_BY_LABEL], "sealsync");
    assert_eq!(labels["app"], "db");
    let ann = live.metadata.annotations.clone().unwrap();
    assert_eq!(ann["sealsync.dev/source"], "apps/team-a/db.yaml");
    assert_eq!(ann["sealsync.dev/commit"], "abc1234def5678");
    assert_eq!(ann["team"], "team-a");
    let key = hmac_key::load_or_create(c.client.clone(), OWN_NS)
        .await
        .unwrap();
    assert_eq!(ann[FINGERPRINT_ANNOTATION], d.fingerprint(&key));
    let managers: Vec<(String, String)> = live
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .map(|m| (m.manager.unwrap(), m.operation.unwrap()))
        .collect();
    assert_eq!(managers, [("sealsync".to_string(), "Apply".to_string())]);

    // Unchanged: a GET and no write.
    c.server.clear_requests();
    assert_eq!(sink.apply(&d).await.unwrap(), ApplyOutcome::Unchanged);
    let verbs: Vec<String> = c.server.requests().iter().map(|r| r.verb.clone()).collect();
    assert_eq!(verbs, ["get"]);
    // A new commit with the same content is no change either.
    d.source.commit = "fedcba9876".into();
    assert_eq!(sink.apply(&d).await.unwrap(), ApplyOutcome::Unchanged);

    d.data.insert(
        "password".into(),
        SecretBytes::new(b"hunter2-rotated".to_vec()),
    );
    d.data.remove("user");
    assert_eq!(sink.apply(&d).await.unwrap(), ApplyOutcome::Updated);
    let live = c.secrets("team-a").get("db").await.unwrap();
    assert_eq!(value(&live, "password"), b"hunter2-rotated");
    assert!(
        !live.data.as_ref().unwrap().contains_key("user"),
        "a key removed from git is removed"
    );
    assert_eq!(
        live.metadata.annotations.unwrap()["sealsync.dev/commit"],
        "fedcba9876"
    );
    assert_eq!(sink.apply(&d).await.unwrap(), ApplyOutcome::Unchanged);

    // Its label removed while no drift watch runs: still the object sealsync wrote, so it is
    // relabelled by the next apply rather than refused.
    c.secrets("team-a")
        .patch(
            "db",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!(
                {"metadata": {"labels": {MANAGED_BY_LABEL: null}}}
            )),
        )
        .await
        .unwrap();
    assert_eq!(sink.apply(&d).await.unwrap(), ApplyOutcome::Updated);
    let live = c.secrets("team-a").get("db").await.unwrap();
    assert_eq!(live.metadata.labels.unwrap()[MANAGED_BY_LABEL], "sealsync");
}

#[tokio::test]
async fn secrets_outside_the_permitted_namespaces_are_refused_without_a_request() {
    let c = Cluster::start().await;
    let sink = c.sink(&["team-a"]).await;
    c.server.clear_requests();
    let err = sink
        .apply(&desired("team-b", "db", "pw-b"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SinkError::Other(ref m) if m.contains("team-b")),
        "{err}"
    );
    assert!(sink.delete(&SecretKey::new("team-b", "db")).await.is_err());
    assert!(c.server.requests().is_empty());
    assert!(c.secrets("team-b").get_opt("db").await.unwrap().is_none());
}

async fn create_unmanaged(c: &Cluster, ns: &str, name: &str, password: &str) -> Secret {
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

#[tokio::test]
async fn an_unmanaged_secret_is_refused_and_untouched_unless_adopted() {
    let c = Cluster::start().await;
    let sink = c.sink(&["team-a"]).await;
    let before = create_unmanaged(&c, "team-a", "db", "theirs-pw").await;

    let mut d = desired("team-a", "db", "ours-pw");
    c.server.clear_requests();
    assert_eq!(
        sink.apply(&d).await.unwrap(),
        ApplyOutcome::RefusedUnmanaged
    );
    let writes: Vec<_> = c
        .server
        .requests()
        .into_iter()
        .filter(|r| r.resource == "secrets" && r.verb != "get")
        .collect();
    assert!(writes.is_empty(), "nothing written: {writes:?}");
    let after = c.secrets("team-a").get("db").await.unwrap();
    assert_eq!(
        after.metadata.resource_version,
        before.metadata.resource_version
    );
    assert_eq!(value(&after, "password"), b"theirs-pw");
    let notes = c.event_notes("team-a").await;
    assert!(
        notes.iter().any(|(reason, ty, note)| reason == "Unmanaged"
            && ty == "Warning"
            && note.contains("apps/team-a/db.yaml")),
        "{notes:?}"
    );
    // Refused again on the next reconcile: no second Event about the same Secret.
    assert_eq!(
        sink.apply(&d).await.unwrap(),
        ApplyOutcome::RefusedUnmanaged
    );
    let warnings = c
        .event_notes("team-a")
        .await
        .into_iter()
        .filter(|(reason, _, _)| reason == "Unmanaged")
        .count();
    assert_eq!(warnings, 1);
    assert!(sink.list_managed().await.unwrap().is_empty());
    assert!(matches!(
        sink.delete(&d.key).await,
        Err(SinkError::Conflict { .. })
    ));
    assert!(c.secrets("team-a").get_opt("db").await.unwrap().is_some());

    d.adopt = true;
    assert_eq!(sink.apply(&d).await.unwrap(), ApplyOutcome::Updated);
    let adopted = c.secrets("team-a").get("db").await.unwrap();
    assert_eq!(value(&adopted, "password"), b"ours-pw");
    assert_eq!(
        adopted.metadata.uid, before.metadata.uid,
        "same object, adopted"
    );
    assert_eq!(
        adopted.metadata.labels.unwrap()[MANAGED_BY_LABEL],
        "sealsync"
    );
    assert_eq!(sink.apply(&d).await.unwrap(), ApplyOutcome::Unchanged);
}

#[tokio::test]
async fn immutable_secrets_and_type_changes_are_recreated() {
    let c = Cluster::start().await;
    let sink = c.sink(&["team-a"]).await;
    let mut d = desired("team-a", "frozen", "v1-pw");
    d.immutable = Some(true);
    assert_eq!(sink.apply(&d).await.unwrap(), ApplyOutcome::Created);
    let first = c.secrets("team-a").get("frozen").await.unwrap();
    assert_eq!(first.immutable, Some(true));
    assert_eq!(sink.apply(&d).await.unwrap(), ApplyOutcome::Unchanged);

    d.data
        .insert("password".into(), SecretBytes::new(b"v2-pw".to_vec()));
    assert_eq!(sink.apply(&d).await.unwrap(), ApplyOutcome::Updated);
    let second = c.secrets("team-a").get("frozen").await.unwrap();
    assert_eq!(value(&second, "password"), b"v2-pw");
    assert_ne!(
        second.metadata.uid, first.metadata.uid,
        "deleted and created again"
    );
    assert_eq!(second.immutable, Some(true));

    d.secret_type = "kubernetes.io/basic-auth".into();
    d.data = BTreeMap::from([
        ("username".to_string(), SecretBytes::new(b"u".to_vec())),
        ("password".to_string(), SecretBytes::new(b"v3-pw".to_vec())),
    ]);
    d.immutable = None;
    assert_eq!(sink.apply(&d).await.unwrap(), ApplyOutcome::Updated);
    let third = c.secrets("team-a").get("frozen").await.unwrap();
    assert_eq!(third.type_.as_deref(), Some("kubernetes.io/basic-auth"));
    assert_eq!(sink.apply(&d).await.unwrap(), ApplyOutcome::Unchanged);
}

#[tokio::test]
async fn list_managed_sees_only_labelled_secrets_in_permitted_namespaces() {
    let c = Cluster::start().await;
    let wide = c.sink(&["team-a", "team-b", "team-c"]).await;
    for (ns, name) in [("team-a", "one"), ("team-b", "two"), ("team-c", "three")] {
        wide.apply(&desired(ns, name, "pw")).await.unwrap();
    }
    create_unmanaged(&c, "team-a", "manual", "pw").await;

    let sink = c.sink(&["team-a", "team-b"]).await;
    c.server.clear_requests();
    let mut listed = sink.list_managed().await.unwrap();
    listed.sort_by(|a, b| a.key.cmp(&b.key));
    let keys: Vec<String> = listed.iter().map(|m| m.key.to_string()).collect();
    assert_eq!(keys, ["team-a/one", "team-b/two"]);
    assert_eq!(
        listed[0].source_path.as_deref(),
        Some("apps/team-a/one.yaml")
    );
    // This sink instance has not written or checked these objects: their fingerprint annotation is not
    // trusted (a hand edit of the values leaves it unchanged), so none is reported.
    assert_eq!(listed[0].fingerprint, None);
    let requests = c.server.requests();
    let by_writer = wide.list_managed().await.unwrap();
    let one = by_writer.iter().find(|m| m.key.name == "one").unwrap();
    assert_eq!(one.fingerprint.as_ref().map(String::len), Some(64));
    for r in requests {
        assert_eq!(r.verb, "list");
        assert!(
            r.path.starts_with("/api/v1/namespaces/team-"),
            "never cluster-wide: {}",
            r.path
        );
        assert!(
            r.query
                .contains("labelSelector=app.kubernetes.io%2Fmanaged-by%3Dsealsync"),
            "{}",
            r.query
        );
    }
}

#[tokio::test]
async fn delete_removes_only_managed_secrets() {
    let c = Cluster::start().await;
    let sink = c.sink(&["team-a"]).await;
    let d = desired("team-a", "db", "pw");
    sink.apply(&d).await.unwrap();
    sink.delete(&d.key).await.unwrap();
    assert!(c.secrets("team-a").get_opt("db").await.unwrap().is_none());
    // Already gone: fine.
    sink.delete(&d.key).await.unwrap();
    let deletes: Vec<_> = c
        .server
        .requests()
        .into_iter()
        .filter(|r| r.verb == "delete")
        .collect();
    assert_eq!(deletes.len(), 1);
}

#[tokio::test]
async fn the_fingerprint_key_is_created_once_and_shared() {
    let c = Cluster::start().await;
    let (a, b) = tokio::join!(
        hmac_key::load_or_create(c.client.clone(), OWN_NS),
        hmac_key::load_or_create(c.client.clone(), OWN_NS)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.expose(), b.expose());
    assert_eq!(a.expose().len(), 32);
    let again = hmac_key::load_or_create(c.client.clone(), OWN_NS)
        .await
        .unwrap();
    assert_eq!(again.expose(), a.expose());
    let stored = c.secrets(OWN_NS).get(hmac_key::KEY_SECRET).await.unwrap();
    assert_eq!(value(&stored, "key"), a.expose());
    assert!(
        !stored
            .metadata
            .labels
            .unwrap_or_default()
            .contains_key(MANAGED_BY_LABEL),
        "the key is not a managed Secret that could be pruned"
    );
    // Fingerprints are HMACs under it: a different key gives a different fingerprint.
    let d = desired("team-a", "db", "pw");
    assert_ne!(
        d.fingerprint(&a),
        d.fingerprint(&FingerprintKey::new(vec![0; 32]))
    );
}

/// Waits until `ns/name` holds `password` again and carries the managed-by label.
async fn restored(c: &Cluster, ns: &str, name: &str, password: &str) -> Option<Duration> {
    let api = c.secrets(ns);
    within(REVERT_DEADLINE, || {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_by_kubectl_patch_label_removal_and_delete_is_reverted() {
    let c = Cluster::start().await;
    let mut agent = Agent::start(
        &c,
        &["team-a"],
        vec![desired("team-a", "db", "s3cret-db-pw")],
    )
    .await;
    let api = c.secrets("team-a");

    // Edited with kubectl patch.
    c.kubectl(&[
        "-n",
        "team-a",
        "patch",
        "secret",
        "db",
        "--type",
        "merge",
        "-p",
        &format!(r#"{{"data":{{"password":"{}"}}}}"#, b64("hacked")),
    ]);
    let took = restored(&c, "team-a", "db", "s3cret-db-pw").await;
    eprintln!("revert after kubectl patch: {took:?}");
    assert!(
        took.is_some(),
        "kubectl patch reverted within {REVERT_DEADLINE:?}"
    );
    let report = agent.next_report().await;
    assert_eq!(
        (report.key.to_string(), report.kind),
        ("team-a/db".into(), DriftKind::Edited)
    );

    // The managed-by label removed.
    c.kubectl(&[
        "-n",
        "team-a",
        "label",
        "secret",
        "db",
        "app.kubernetes.io/managed-by-",
    ]);
    let took = restored(&c, "team-a", "db", "s3cret-db-pw").await;
    eprintln!("revert after kubectl label ...-: {took:?}");
    assert!(took.is_some(), "label removal reverted");
    assert_eq!(agent.next_report().await.kind, DriftKind::LabelRemoved);

    // Deleted.
    let uid = api.get("db").await.unwrap().metadata.uid;
    c.kubectl(&["-n", "team-a", "delete", "secret", "db"]);
    let took = restored(&c, "team-a", "db", "s3cret-db-pw").await;
    eprintln!("revert after kubectl delete: {took:?}");
    assert!(took.is_some(), "deletion reverted");
    assert_ne!(
        api.get("db").await.unwrap().metadata.uid,
        uid,
        "created again"
    );
    assert_eq!(agent.next_report().await.kind, DriftKind::Deleted);

    // A key added by hand is drift too: values are sealsync's alone.
    c.kubectl(&[
        "-n",
        "team-a",
        "patch",
        "secret",
        "db",
        "-p",
        &format!(r#"{{"data":{{"backdoor":"{}"}}}}"#, b64("x")),
    ]);
    let gone = within(REVERT_DEADLINE, || async {
        let s = api.get("db").await.unwrap();
        !s.data.unwrap().contains_key("backdoor")
    })
    .await;
    assert!(gone.is_some(), "the added key is removed");
    assert_eq!(agent.next_report().await.kind, DriftKind::Edited);

    let notes: Vec<String> = c
        .event_notes("team-a")
        .await
        .into_iter()
        .filter(|(reason, ty, _)| reason == "DriftReverted" && ty == "Normal")
        .map(|(_, _, note)| note)
        .collect();
    assert!(
        notes.contains(
            &"edited by hand (fields changed by manager \"kubectl-patch\"); restored from apps/team-a/db.yaml at abc1234"
                .to_string()
        ),
        "{notes:#?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("label app.kubernetes.io/managed-by removed by hand")),
        "{notes:#?}"
    );
    assert!(
        notes
            .contains(&"deleted by hand; restored from apps/team-a/db.yaml at abc1234".to_string()),
        "{notes:#?}"
    );
    for n in &notes {
        assert!(!n.contains("s3cret-db-pw") && !n.contains("hacked"), "{n}");
    }

    // Our own writes are not drift: nothing more is reported.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(agent.reports.try_recv().is_err());
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_by_kubectl_edit_is_reverted() {
    let c = Cluster::start().await;
    let mut agent = Agent::start(
        &c,
        &["team-a"],
        vec![desired("team-a", "api", "api-token-1")],
    )
    .await;
    // kubectl edit with an "editor" that rewrites the value, as a person would in vi.
    let editor = format!(
        "sed -i -e 's/^  password: .*/  password: {}/'",
        b64("typed-by-hand")
    );
    c.kubectl_env(
        &["-n", "team-a", "edit", "secret", "api"],
        &[("KUBE_EDITOR", editor.as_str())],
    );
    let took = restored(&c, "team-a", "api", "api-token-1").await;
    eprintln!("revert after kubectl edit: {took:?}");
    assert!(took.is_some());
    assert_eq!(agent.next_report().await.kind, DriftKind::Edited);
    let notes = c.event_notes("team-a").await;
    assert!(
        notes
            .iter()
            .any(|(_, _, n)| n.contains("manager \"kubectl-edit\"")),
        "{notes:#?}"
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revert_converges_through_failing_patches() {
    let c = Cluster::start().await;
    let mut agent = Agent::start(&c, &["team-a"], vec![desired("team-a", "db", "good-pw")]).await;
    let api = c.secrets("team-a");
    // The next 3 PATCHes (the reverts) fail; the edit by hand is a PUT, unaffected.
    c.server.fail_next(
        FaultSpec::new(Verb::Patch, 500)
            .resource("secrets")
            .times(3),
    );
    c.server.clear_requests();
    let mut edited = api.get("db").await.unwrap();
    edited
        .data
        .as_mut()
        .unwrap()
        .insert("password".into(), ByteString(b"bad-pw".to_vec()));
    api.replace(
        "db",
        &PostParams {
            field_manager: Some("kubectl-edit".into()),
            ..PostParams::default()
        },
        &edited,
    )
    .await
    .unwrap();
    let took = restored(&c, "team-a", "db", "good-pw").await;
    eprintln!("revert through 3 failed PATCHes: {took:?}");
    assert!(took.is_some());
    let patches: Vec<u16> = c
        .server
        .requests()
        .into_iter()
        .filter(|r| r.verb == "patch" && r.resource == "secrets")
        .map(|r| r.status)
        .collect();
    assert_eq!(&patches[..4], [500, 500, 500, 200]);
    assert_eq!(agent.next_report().await.kind, DriftKind::Edited);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_revert_stops_when_the_secret_is_no_longer_desired() {
    let c = Cluster::start().await;
    let mut agent = Agent::start(&c, &["team-a"], vec![desired("team-a", "db", "good-pw")]).await;
    c.server.fail_next(
        FaultSpec::new(Verb::Patch, 500)
            .resource("secrets")
            .times(1000),
    );
    let api = c.secrets("team-a");
    let mut edited = api.get("db").await.unwrap();
    edited
        .data
        .as_mut()
        .unwrap()
        .insert("password".into(), ByteString(b"bad-pw".to_vec()));
    api.replace("db", &PostParams::default(), &edited)
        .await
        .unwrap();
    let patches = || {
        c.server
            .requests()
            .into_iter()
            .filter(|r| r.verb == "patch" && r.resource == "secrets")
            .count()
    };
    let retried = within(Duration::from_secs(2), || async { patches() >= 3 }).await;
    assert!(retried.is_some(), "the revert is retried");
    // Pruned from git: nothing left to put back, so the retries end.
    agent.store.remove(&SecretKey::new("team-a", "db"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let settled = patches();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(patches(), settled, "no more attempts");
    assert!(agent.reports.try_recv().is_err(), "nothing was reverted");
    c.server.clear_faults();
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_reverted_after_watches_drop_and_history_is_compacted() {
    // No bookmarks during the test: they would move the watcher's resourceVersion to the newest one,
    // which compaction keeps valid.
    let c = Cluster::start_with(TestServer::builder().bookmark_interval(Duration::from_secs(3600)))
        .await;
    let mut agent = Agent::start(&c, &["team-a"], vec![desired("team-a", "db", "good-pw")]).await;

    c.server.drop_watches();
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.kubectl(&[
        "-n",
        "team-a",
        "patch",
        "secret",
        "db",
        "--type",
        "merge",
        "-p",
        &format!(r#"{{"data":{{"password":"{}"}}}}"#, b64("after-drop")),
    ]);
    let took = restored(&c, "team-a", "db", "good-pw").await;
    eprintln!("revert after dropped watches: {took:?}");
    assert!(took.is_some(), "reverted after the watches were dropped");
    assert_eq!(agent.next_report().await.kind, DriftKind::Edited);

    // Forget history and end the watches: resuming from the old resourceVersion answers 410, the
    // watcher lists again, and a Secret deleted meanwhile is still put back.
    c.server.clear_requests();
    // A write the watch does not see makes its resourceVersion an old one.
    create_unmanaged(&c, "team-z", "elsewhere", "pw").await;
    c.server.compact();
    c.server.drop_watches();
    c.secrets("team-a")
        .delete("db", &Default::default())
        .await
        .unwrap();
    let took = restored(&c, "team-a", "db", "good-pw").await;
    eprintln!("revert after compaction (410): {took:?}");
    assert!(took.is_some(), "reverted after 410 Gone");
    assert_eq!(agent.next_report().await.kind, DriftKind::Deleted);
    let watch_statuses: Vec<(String, u16)> = c
        .server
        .requests()
        .into_iter()
        .filter(|r| r.resource == "secrets" && (r.verb == "watch" || r.verb == "list"))
        .map(|r| (r.verb, r.status))
        .collect();
    // The resumed watch is answered with an ERROR event (410 Expired) and the watcher lists again.
    assert!(
        watch_statuses
            .windows(2)
            .any(|w| w[0].0 == "watch" && w[1] == ("list".to_string(), 200)),
        "the watcher listed again after the expired watch: {watch_statuses:?}"
    );

    // And once more after the re-list, through the fresh watch.
    c.kubectl(&[
        "-n",
        "team-a",
        "patch",
        "secret",
        "db",
        "--type",
        "merge",
        "-p",
        &format!(r#"{{"data":{{"password":"{}"}}}}"#, b64("after-relist")),
    ]);
    assert!(restored(&c, "team-a", "db", "good-pw").await.is_some());
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_is_metadata_only_per_namespace_and_ignores_undesired_secrets() {
    let c = Cluster::start().await;
    c.server.clear_requests();
    let mut agent = Agent::start(
        &c,
        &["team-a", "team-b"],
        vec![
            desired("team-a", "db", "pw-a"),
            desired("team-b", "db", "pw-b"),
        ],
    )
    .await;
    let watches: Vec<_> = c
        .server
        .requests()
        .into_iter()
        .filter(|r| r.resource == "secrets" && (r.verb == "watch" || r.verb == "list"))
        .collect();
    assert!(!watches.is_empty());
    for r in &watches {
        assert!(r.path.starts_with("/api/v1/namespaces/team-"), "{}", r.path);
        assert!(
            r.query
                .contains("labelSelector=app.kubernetes.io%2Fmanaged-by%3Dsealsync"),
            "{}",
            r.query
        );
    }
    // No longer desired (being pruned): a change is left alone.
    agent.store.remove(&SecretKey::new("team-b", "db"));
    c.kubectl(&[
        "-n",
        "team-b",
        "patch",
        "secret",
        "db",
        "--type",
        "merge",
        "-p",
        &format!(r#"{{"data":{{"password":"{}"}}}}"#, b64("changed")),
    ]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        value(&c.secrets("team-b").get("db").await.unwrap(), "password"),
        b"changed"
    );
    assert!(agent.reports.try_recv().is_err());
    assert!(agent.sink.list_managed().await.unwrap().len() == 2);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_event_message_label_or_annotation_carries_a_value() {
    let c = Cluster::start().await;
    let plaintexts = ["PLAINTEXT-alpha-7f3a", "PLAINTEXT-beta-91c2", "app-user"];
    let mut agent = Agent::start(
        &c,
        &["team-a"],
        vec![
            desired("team-a", "one", plaintexts[0]),
            desired("team-a", "two", plaintexts[1]),
        ],
    )
    .await;
    // Every kind of revert, an adoption and a refusal, so every message kind is written.
    c.kubectl(&[
        "-n",
        "team-a",
        "patch",
        "secret",
        "one",
        "--type",
        "merge",
        "-p",
        &format!(
            r#"{{"data":{{"password":"{}"}}}}"#,
            b64("PLAINTEXT-hand-edit")
        ),
    ]);
    c.kubectl(&[
        "-n",
        "team-a",
        "label",
        "secret",
        "two",
        "app.kubernetes.io/managed-by-",
    ]);
    for _ in 0..2 {
        agent.next_report().await;
    }
    c.kubectl(&["-n", "team-a", "delete", "secret", "one"]);
    agent.next_report().await;
    create_unmanaged(&c, "team-a", "three", "PLAINTEXT-theirs").await;
    let mut three = desired("team-a", "three", "PLAINTEXT-gamma-11aa");
    assert_eq!(
        agent.sink.apply(&three).await.unwrap(),
        ApplyOutcome::RefusedUnmanaged
    );
    three.adopt = true;
    assert_eq!(
        agent.sink.apply(&three).await.unwrap(),
        ApplyOutcome::Updated
    );

    let notes = c.event_notes("team-a").await;
    assert!(notes.len() >= 5, "{notes:#?}");
    let secrets = c
        .secrets("team-a")
        .list(&ListParams::default())
        .await
        .unwrap();
    let mut texts: Vec<String> = notes
        .into_iter()
        .map(|(r, _, n)| format!("{r} {n}"))
        .collect();
    for s in &secrets.items {
        for map in [&s.metadata.labels, &s.metadata.annotations]
            .into_iter()
            .flatten()
        {
            texts.extend(map.iter().map(|(k, v)| format!("{k}={v}")));
        }
    }
    let key = hmac_key::load_or_create(c.client.clone(), OWN_NS)
        .await
        .unwrap();
    for p in plaintexts.iter().chain(&[
        "PLAINTEXT-hand-edit",
        "PLAINTEXT-theirs",
        "PLAINTEXT-gamma-11aa",
    ]) {
        for t in &texts {
            assert!(
                !t.contains(p) && !t.contains(&b64(p)),
                "{t:?} carries {p:?}"
            );
        }
    }
    // The fingerprint is an HMAC, not a plain SHA-256 of the value.
    use sha2::Digest;
    let plain = hex::encode(sha2::Sha256::digest(plaintexts[0]));
    assert!(texts.iter().all(|t| !t.contains(&plain)));
    assert!(key.expose().len() >= 32);
    agent.stop().await;
}

fn lease_config(identity: &str, duration: Duration) -> LeaderConfig {
    let mut config = LeaderConfig::new(OWN_NS, identity);
    config.lease_duration = duration;
    config.renew_interval = Duration::from_millis(300);
    config.renew_deadline = duration.mul_f32(0.66);
    config.retry_interval = Duration::from_millis(200);
    config
}

async fn holder(c: &Cluster) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(c.client.clone(), OWN_NS);
    leases
        .get_opt("sealsync-leader")
        .await
        .unwrap()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_of_two_candidates_leads_and_the_other_takes_over_when_it_dies() {
    let c = Cluster::start().await;
    let duration = Duration::from_secs(2);
    let (a_rx, a) = LeaderElector::new(c.client.clone(), lease_config("pod-a", duration)).spawn();
    let (b_rx, b) = LeaderElector::new(c.client.clone(), lease_config("pod-b", duration)).spawn();
    let one = within(Duration::from_secs(3), || async {
        *a_rx.borrow() || *b_rx.borrow()
    })
    .await;
    assert!(one.is_some(), "someone leads");
    for _ in 0..10 {
        assert!(*a_rx.borrow() ^ *b_rx.borrow(), "exactly one leads");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (leader, follower, follower_rx, name) = if *a_rx.borrow() {
        (a, b, b_rx, "pod-b")
    } else {
        (b, a, a_rx, "pod-a")
    };
    assert_ne!(holder(&c).await.as_deref(), Some(name));

    // The leader dies without releasing: the other waits out the lease (from when it last saw it
    // renewed, up to one renew interval before the death), then takes over.
    let died = Instant::now();
    leader.abort();
    let took = within(duration + Duration::from_secs(2), || async {
        *follower_rx.borrow()
    })
    .await;
    eprintln!(
        "takeover after the leader died: {:?}",
        took.map(|_| died.elapsed())
    );
    assert!(
        took.is_some(),
        "takeover within the lease duration (+ one retry)"
    );
    assert!(
        died.elapsed() >= duration.mul_f32(0.75),
        "not before the lease could expire: {:?}",
        died.elapsed()
    );
    assert_eq!(holder(&c).await.as_deref(), Some(name));
    follower.release().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_lease_is_taken_over_at_once() {
    let c = Cluster::start().await;
    let duration = Duration::from_secs(15);
    let mut slow_retry = lease_config("pod-a", duration);
    slow_retry.retry_interval = Duration::from_secs(10);
    let (a_rx, a) = LeaderElector::new(c.client.clone(), slow_retry.clone()).spawn();
    assert!(within(Duration::from_secs(2), || async { *a_rx.borrow() })
        .await
        .is_some());
    slow_retry.identity = "pod-b".into();
    let (b_rx, b) = LeaderElector::new(c.client.clone(), slow_retry).spawn();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!*b_rx.borrow());

    let released = Instant::now();
    a.release().await.unwrap();
    assert!(!*a_rx.borrow(), "no longer leading after release");
    let took = within(Duration::from_secs(2), || async { *b_rx.borrow() }).await;
    eprintln!("takeover after release: {took:?}");
    assert!(
        took.is_some(),
        "taken over at once (a 15 s lease, a 10 s retry), after {:?}",
        released.elapsed()
    );
    assert_eq!(holder(&c).await.as_deref(), Some("pod-b"));
    b.release().await.unwrap();
    assert_eq!(holder(&c).await, None, "released: holderIdentity is null");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_updates_are_conditional_on_the_resource_version() {
    // Two candidates racing on a fresh, free lease: the API server accepts one update only.
    let c = Cluster::start().await;
    let leases: Api<Lease> = Api::namespaced(c.client.clone(), OWN_NS);
    let free = Lease {
        metadata: ObjectMeta {
            name: Some("sealsync-leader".into()),
            ..ObjectMeta::default()
        },
        spec: Some(Default::default()),
    };
    leases.create(&PostParams::default(), &free).await.unwrap();
    let mut electors = Vec::new();
    for id in ["pod-a", "pod-b", "pod-c"] {
        electors.push(
            LeaderElector::new(c.client.clone(), lease_config(id, Duration::from_secs(5))).spawn(),
        );
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let leading: Vec<bool> = electors.iter().map(|(rx, _)| *rx.borrow()).collect();
    assert_eq!(leading.iter().filter(|l| **l).count(), 1, "{leading:?}");
    let updates = c
        .server
        .requests()
        .into_iter()
        .filter(|r| r.resource == "leases" && r.verb == "update" && r.status == 409)
        .count();
    eprintln!("lease update conflicts seen: {updates}");
    for (_, h) in electors {
        h.release().await.unwrap();
    }
    // Patch with SSA is never used for the lease (a forced apply would defeat the guard).
    assert!(c
        .server
        .requests()
        .iter()
        .all(|r| r.resource != "leases" || r.verb != "patch"));
}
