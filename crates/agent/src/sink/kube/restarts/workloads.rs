//! The API side of restarts: lists the opted-in workloads of a namespace, reads the Secrets they
//! watch, and merge-patches the new value into their pod template (field manager `sealsync`),
//! reporting each restart and each refusal (log, Event on the workload, the reports channel).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ObjectReference, PodTemplateSpec, Secret};
use k8s_openapi::NamespaceResourceScope;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use zeroize::Zeroize;

use crate::desired::FingerprintKey;
use crate::sink::kube::events::{EventKind, Recorder};
use crate::sink::kube::{status_code, FIELD_MANAGER};

use super::workload::{restart_value, secret_digest, watched, RESTARTED_FOR_ANNOTATION};
use super::{RestartOutcome, RestartReport, WorkloadKind};

/// Workloads are listed in pages of this many, so memory stays flat in a namespace of thousands.
const PAGE: u32 = 250;

/// A workload kind whose pod template can be restarted.
trait Workload:
    Resource<DynamicType = (), Scope = NamespaceResourceScope> + Clone + DeserializeOwned + Debug
{
    const KIND: WorkloadKind;
    fn template(&self) -> Option<&PodTemplateSpec>;
}

impl Workload for Deployment {
    const KIND: WorkloadKind = WorkloadKind::Deployment;
    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref().map(|s| &s.template)
    }
}

impl Workload for StatefulSet {
    const KIND: WorkloadKind = WorkloadKind::StatefulSet;
    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref().map(|s| &s.template)
    }
}

impl Workload for DaemonSet {
    const KIND: WorkloadKind = WorkloadKind::DaemonSet;
    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref().map(|s| &s.template)
    }
}

/// What the restart task needs to act.
pub(super) struct Workloads {
    pub client: Client,
    pub key: FingerprintKey,
    pub recorder: Recorder,
    pub reports: mpsc::UnboundedSender<RestartReport>,
}

/// The digest of each Secret read in one round (Err: why it could not be read), so a Secret that
/// several workloads watch is read once. Holds HMACs only, never data.
type Digests = BTreeMap<String, Result<String, String>>;

impl Workloads {
    /// Restarts the workloads of `namespace` watching any of `changed`.
    pub(super) async fn namespace(&self, namespace: &str, changed: &BTreeSet<String>) {
        let mut digests = Digests::new();
        // A namespace without the restart RBAC refuses every kind: one refusal is enough to tell.
        let granted = self
            .kind::<Deployment>(namespace, changed, &mut digests)
            .await
            && self
                .kind::<StatefulSet>(namespace, changed, &mut digests)
                .await;
        if granted {
            self.kind::<DaemonSet>(namespace, changed, &mut digests)
                .await;
        }
    }

    /// False when listing was forbidden (403).
    async fn kind<W: Workload>(
        &self,
        namespace: &str,
        changed: &BTreeSet<String>,
        digests: &mut Digests,
    ) -> bool {
        let api: Api<W> = Api::namespaced(self.client.clone(), namespace);
        let mut params = ListParams::default().limit(PAGE);
        loop {
            let page = match api.list(&params).await {
                Ok(page) => page,
                Err(e) => {
                    let plural = W::plural(&());
                    let forbidden = status_code(&e) == Some(403);
                    let why = match forbidden {
                        true => format!("the agent may not list {plural} in namespace {namespace} ({e}); workloads there that asked to be restarted were not: grant the deploy/components/workload-restarts RBAC in that namespace"),
                        false => format!("cannot list {plural} in namespace {namespace}: {e}"),
                    };
                    tracing::error!(namespace, kind = W::KIND.as_str(), secrets = ?changed, "restart refused: {why}");
                    return !forbidden;
                }
            };
            for workload in &page.items {
                self.one(workload, changed, digests).await;
            }
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => return true,
            }
        }
    }

    /// Restarts one workload if it watches a changed Secret and its value differs.
    async fn one<W: Workload>(
        &self,
        workload: &W,
        changed: &BTreeSet<String>,
        digests: &mut Digests,
    ) {
        let Some(template) = workload.template() else {
            return;
        };
        let (namespace, name) = (
            workload.namespace().unwrap_or_default(),
            workload.name_any(),
        );
        let watching = watched(workload.meta().annotations.as_ref(), template);
        let report = |secrets: Vec<String>, outcome| RestartReport {
            kind: W::KIND,
            namespace: namespace.clone(),
            name: name.clone(),
            secrets,
            outcome,
        };
        let watching = match watching {
            Ok(w) if w.is_disjoint(changed) => return,
            Ok(w) => w,
            Err(why) => {
                return self
                    .publish(workload, report(Vec::new(), RestartOutcome::Failed(why)))
                    .await
            }
        };
        let because: Vec<String> = watching.intersection(changed).cloned().collect();
        let value = match self.value(&namespace, &watching, digests).await {
            Ok(v) => v,
            Err(why) => {
                return self
                    .publish(workload, report(because, RestartOutcome::Failed(why)))
                    .await
            }
        };
        let current = template
            .metadata
            .as_ref()
            .and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.get(RESTARTED_FOR_ANNOTATION));
        if current == Some(&value) {
            return;
        }
        let patch = serde_json::json!({"spec": {"template": {"metadata": {"annotations": {
            RESTARTED_FOR_ANNOTATION: value
        }}}}});
        let api: Api<W> = Api::namespaced(self.client.clone(), &namespace);
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        let outcome = match api.patch(&name, &params, &Patch::Merge(&patch)).await {
            Ok(_) => RestartOutcome::Restarted,
            Err(e) if status_code(&e) == Some(403) => RestartOutcome::Failed(format!(
                "the agent may not patch {} in namespace {namespace} ({e}): grant the deploy/components/workload-restarts RBAC there",
                W::plural(&())
            )),
            Err(e) => RestartOutcome::Failed(format!("patching its pod template failed: {e}")),
        };
        self.publish(workload, report(because, outcome)).await;
    }

    /// The value for the Secrets `watching` of `namespace`, reading each once per round.
    async fn value(
        &self,
        namespace: &str,
        watching: &BTreeSet<String>,
        digests: &mut Digests,
    ) -> Result<String, String> {
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        for name in watching {
            if digests.contains_key(name) {
                continue;
            }
            let digest = match secrets.get_opt(name).await {
                Ok(Some(mut secret)) => {
                    let digest = secret_digest(&self.key, secret.data.as_ref());
                    for v in secret.data.iter_mut().flat_map(|d| d.values_mut()) {
                        v.0.zeroize();
                    }
                    Ok(digest)
                }
                Ok(None) => Ok(secret_digest(&self.key, None)),
                Err(e) => Err(format!("cannot read Secret {namespace}/{name}: {e}")),
            };
            digests.insert(name.clone(), digest);
        }
        let mut pairs = Vec::with_capacity(watching.len());
        for name in watching {
            match digests.get(name) {
                Some(Ok(d)) => pairs.push((name.as_str(), d.as_str())),
                Some(Err(why)) => return Err(why.clone()),
                None => return Err(format!("Secret {namespace}/{name} was not read")),
            }
        }
        Ok(restart_value(&self.key, pairs))
    }

    /// Logs the outcome, records an Event on the workload and sends the report.
    async fn publish<W: Workload>(&self, workload: &W, report: RestartReport) {
        let kind = W::KIND.as_str();
        let (event_kind, reason, note) = match &report.outcome {
            RestartOutcome::Restarted => {
                tracing::info!(kind, namespace = %report.namespace, name = %report.name, secrets = ?report.secrets, "restarted: a Secret it uses changed");
                (
                    EventKind::Normal,
                    "Restarted",
                    format!(
                        "restarted by sealsync: Secret(s) {} changed",
                        report.secrets.join(", ")
                    ),
                )
            }
            RestartOutcome::Failed(why) => {
                tracing::error!(kind, namespace = %report.namespace, name = %report.name, secrets = ?report.secrets, "restart failed: {why}");
                (
                    EventKind::Warning,
                    "RestartFailed",
                    format!("not restarted: {why}"),
                )
            }
        };
        let regarding = ObjectReference {
            api_version: Some("apps/v1".into()),
            kind: Some(kind.into()),
            namespace: Some(report.namespace.clone()),
            name: Some(report.name.clone()),
            uid: workload.meta().uid.clone(),
            ..ObjectReference::default()
        };
        self.recorder
            .publish(&regarding, event_kind, reason, "Restart", &note)
            .await;
        let _ = self.reports.send(report);
    }
}
