//! What the kube sink tests add to the cluster harness (`crate::cluster`): desired Secrets, and an
//! agent in this process (the sink with its drift watch) running against the cluster.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use sealsync_agent::desired::{DesiredSecret, SecretBytes, SecretKey, SmallMap, Source};
use sealsync_agent::sink::kube::{
    spawn_drift_watch, DesiredStore, DriftReport, KubeSink, MANAGED_BY_LABEL,
};
use sealsync_agent::sink::{ApplyOutcome, Sink};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

pub use crate::cluster::{b64, create_unmanaged, Cluster, OWN_NS};
use crate::support::{poll_until_async, PATIENCE};

/// The desired Secret the kube sink tests use: `password` and `user`, an `app` label and a `team`
/// annotation, from `apps/<ns>/<name>.yaml`.
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
        merge: false,
        memo: Default::default(),
    }
}

pub fn value(secret: &Secret, key: &str) -> Vec<u8> {
    secret.data.as_ref().unwrap()[key].0.clone()
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
            assert_eq!(
                sink.apply(&std::sync::Arc::new(d.clone())).await.unwrap(),
                ApplyOutcome::Created
            );
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
