//! Writing (server-side apply, forced, field manager `sealsync`), comparing, listing and deleting
//! this instance's managed Secrets; an existing Secret it does not own is refused — another
//! instance's always, an unmanaged one unless its document asks for adoption, the agent allows it
//! (`--allow-adopt`) and no other controller owns it.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, Preconditions};
use serde_json::{json, Map, Value};
use zeroize::Zeroize;

use super::events::{secret_ref, EventKind};
use super::{
    api_error, status_code, Backoff, KubeSink, Ownership, Written, COMMIT_ANNOTATION,
    FIELD_MANAGER, FINGERPRINT_ANNOTATION, INSTANCE_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE,
    MANAGED_SELECTOR, SOURCE_ANNOTATION,
};
use crate::desired::{
    DesiredSecret, FingerprintKey, SecretKey, SmallMap, PRUNE_ANNOTATION, PRUNE_DISABLED,
};
use crate::reason::Reason;
use crate::sink::{ApplyOutcome, Listing, ManagedSecret, Sink, SinkError};

/// A Secret read from (or about to be sent to) the API server; its values are zeroized on drop.
pub(crate) struct LiveSecret(pub Secret);

impl Deref for LiveSecret {
    type Target = Secret;
    fn deref(&self) -> &Secret {
        &self.0
    }
}

impl Drop for LiveSecret {
    fn drop(&mut self) {
        if let Some(map) = self.0.data.as_mut() {
            for value in map.values_mut() {
                value.0.zeroize();
            }
        }
        if let Some(map) = self.0.string_data.as_mut() {
            for value in map.values_mut() {
                value.zeroize();
            }
        }
    }
}

/// Whether the object carries `app.kubernetes.io/managed-by: sealsync`.
pub(crate) fn is_managed(meta: &ObjectMeta) -> bool {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(MANAGED_BY_LABEL))
        .is_some_and(|v| v == MANAGED_BY_VALUE)
}

/// Who a live Secret belongs to, as one instance sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// This instance (its label, or managed and unlabelled while this instance claims those).
    Us,
    /// Another sealsync instance, by name (`(unlabelled)` for one written before instances existed).
    OtherInstance(String),
    /// Not managed by sealsync.
    Unmanaged,
}

pub fn owner_of(meta: &ObjectMeta, ownership: &Ownership) -> Owner {
    if !is_managed(meta) {
        return Owner::Unmanaged;
    }
    match meta.labels.as_ref().and_then(|l| l.get(INSTANCE_LABEL)) {
        Some(name) if *name == ownership.instance => Owner::Us,
        Some(name) => Owner::OtherInstance(name.clone()),
        None if ownership.claims_unlabelled => Owner::Us,
        None => Owner::OtherInstance("(unlabelled)".into()),
    }
}

/// Why `live`, not managed by sealsync, may not be adopted (None: it may). Adoption is the operator's
/// decision (`--allow-adopt`) as much as the file's, and never takes what another controller owns.
fn adoption_refusal(live: &Secret, allow_adopt: bool) -> Option<String> {
    let meta = &live.metadata;
    if !allow_adopt {
        return Some("its document asks to adopt it (sealsync.dev/adopt), but this agent does not allow adoption: start it with --allow-adopt (SEALSYNC_ALLOW_ADOPT=true) to let documents take over existing Secrets".into());
    }
    if let Some(owner) = meta.owner_references.as_ref().and_then(|o| o.first()) {
        return Some(format!(
            "not adopted: it is owned by {} {} (ownerReferences); sealsync never takes a Secret another controller owns",
            owner.kind, owner.name
        ));
    }
    if let Some(manager) = meta.labels.as_ref().and_then(|l| l.get(MANAGED_BY_LABEL)) {
        return Some(format!(
            "not adopted: it carries {MANAGED_BY_LABEL}={manager}, another manager's; sealsync never takes a Secret another controller manages"
        ));
    }
    // A controller that applies the values server-side (Flux, Argo CD...) owns them; a person's
    // kubectl does not make the Secret a controller's.
    let controller = meta.managed_fields.iter().flatten().find(|e| {
        e.operation.as_deref() == Some("Apply")
            && e.manager
                .as_deref()
                .is_some_and(|m| m != FIELD_MANAGER && !m.starts_with("kubectl"))
            && e.fields_v1
                .as_ref()
                .is_some_and(|f| f.0.get("f:data").is_some() || f.0.get("f:stringData").is_some())
    });
    controller.map(|e| {
        format!(
            "not adopted: field manager {} applies its data (managedFields); sealsync never takes a Secret another controller manages",
            e.manager.as_deref().unwrap_or_default()
        )
    })
}

fn desired_type(d: &DesiredSecret) -> &str {
    if d.secret_type.is_empty() {
        "Opaque"
    } else {
        &d.secret_type
    }
}

/// The apply configuration: exactly the fields sealsync owns, nothing else (server-side apply then
/// removes what sealsync owned before and no longer sets).
fn desired_object(d: &DesiredSecret, fingerprint: &str, instance: &str) -> LiveSecret {
    let owned = |map: &SmallMap<String>| -> BTreeMap<String, String> {
        map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    };
    let mut labels = owned(&d.labels);
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY_VALUE.into());
    labels.insert(INSTANCE_LABEL.into(), instance.into());
    let mut annotations = owned(&d.annotations);
    annotations.insert(SOURCE_ANNOTATION.into(), d.source.path.clone());
    annotations.insert(COMMIT_ANNOTATION.into(), d.source.commit.clone());
    annotations.insert(FINGERPRINT_ANNOTATION.into(), fingerprint.into());
    let data = d
        .data
        .iter()
        .map(|(k, v)| (k.clone(), ByteString(v.expose().to_vec())))
        .collect();
    LiveSecret(Secret {
        metadata: ObjectMeta {
            name: Some(d.key.name.clone()),
            namespace: Some(d.key.namespace.clone()),
            labels: Some(labels),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        type_: Some(desired_type(d).into()),
        data: Some(data),
        immutable: d.immutable,
        ..Secret::default()
    })
}

fn data_equal(live: &Secret, d: &DesiredSecret) -> bool {
    let empty = BTreeMap::new();
    let live_data = live.data.as_ref().unwrap_or(&empty);
    live_data.len() == d.data.len()
        && d.data
            .iter()
            .all(|(k, v)| live_data.get(k).is_some_and(|l| l.0 == v.expose()))
}

fn contains_all(have: Option<&BTreeMap<String, String>>, want: &SmallMap<String>) -> bool {
    want.iter()
        .all(|(k, v)| have.and_then(|h| h.get(k)) == Some(v))
}

/// Whether the live Secret already is what `d` declares: type, values, immutability, sealsync's
/// labels and annotations and the fingerprint of the content. Labels and annotations others added
/// are theirs and do not count. The commit annotation records the commit the content was last
/// written from, so a new commit that leaves a Secret as it was does not rewrite it.
pub(crate) fn matches(live: &Secret, d: &DesiredSecret, fingerprint: &str, instance: &str) -> bool {
    let annotations = live.metadata.annotations.as_ref();
    let annotation = |name: &str| annotations.and_then(|a| a.get(name)).map(String::as_str);
    live.type_.as_deref().unwrap_or("Opaque") == desired_type(d)
        && data_equal(live, d)
        && live.immutable.unwrap_or(false) == d.immutable.unwrap_or(false)
        && is_managed(&live.metadata)
        && live
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(INSTANCE_LABEL))
            .map(String::as_str)
            == Some(instance)
        && contains_all(live.metadata.labels.as_ref(), &d.labels)
        && contains_all(annotations, &d.annotations)
        && annotation(SOURCE_ANNOTATION) == Some(d.source.path.as_str())
        && annotation(FINGERPRINT_ANNOTATION) == Some(fingerprint)
        && annotation(COMMIT_ANNOTATION).is_some()
}

/// `type` can never change, and an immutable Secret's values cannot either: such a change needs the
/// Secret deleted and created again.
fn needs_recreate(live: &Secret, d: &DesiredSecret) -> bool {
    let type_changes = live.type_.as_deref().unwrap_or("Opaque") != desired_type(d);
    let frozen =
        live.immutable == Some(true) && (!data_equal(live, d) || d.immutable != Some(true));
    type_changes || frozen
}

pub(crate) fn written_of(meta: &ObjectMeta) -> Written {
    Written {
        uid: meta.uid.clone().unwrap_or_default(),
        resource_version: meta.resource_version.clone().unwrap_or_default(),
    }
}

impl KubeSink {
    /// The live Secret, values included (zeroized on drop).
    pub(crate) async fn get_live(&self, key: &SecretKey) -> Result<Option<LiveSecret>, SinkError> {
        let api = self.secrets(&key.namespace);
        retrying(key, || api.get_opt(&key.name))
            .await
            .map(|s| s.map(LiveSecret))
            .map_err(|e| api_error(key, "get", e))
    }

    /// Makes the Secret equal to `d`, whoever changed it: a forced server-side apply takes back every
    /// field another manager took by editing it. Answers what the write produced.
    pub(crate) async fn write(
        &self,
        d: &Arc<DesiredSecret>,
        live: Option<&Secret>,
    ) -> Result<Written, SinkError> {
        let key = &d.key;
        let api = self.secrets(&key.namespace);
        if let Some(live) = live.filter(|l| needs_recreate(l, d)) {
            let dp = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: live.metadata.uid.clone(),
                    resource_version: live.metadata.resource_version.clone(),
                }),
                ..DeleteParams::default()
            };
            match api.delete(&key.name, &dp).await {
                Ok(either) => drop(either.left().map(LiveSecret)),
                Err(e) if status_code(&e) == Some(404) => {}
                Err(e) => return Err(api_error(key, "delete before re-creating", e)),
            }
            tracing::info!(secret = %key, "deleted to re-create: its type or immutable values change");
        }
        let fingerprint = d.shared_fingerprint(self.fingerprint_key());
        let body = desired_object(d, &fingerprint, &self.ownership().instance);
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let patch = Patch::Apply(&body.0);
        let applied = retrying(key, || api.patch(&key.name, &params, &patch))
            .await
            .map(LiveSecret)
            .map_err(|e| api_error(key, "server-side apply", e))?;
        drop(body);

        // Keys added by hand belong to the manager that added them, so the apply leaves them; but the
        // values of a managed Secret are sealsync's alone. The resourceVersion makes this conditional.
        let extra: Map<String, Value> = applied
            .data
            .iter()
            .flat_map(|m| m.keys())
            .filter(|k| !d.data.contains_key(k))
            .map(|k| (k.clone(), Value::Null))
            .collect();
        let result = if extra.is_empty() {
            applied
        } else {
            let patch = json!({
                "metadata": {"resourceVersion": applied.metadata.resource_version},
                "data": extra,
            });
            let params = PatchParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..PatchParams::default()
            };
            drop(applied);
            api.patch(&key.name, &params, &Patch::Merge(&patch))
                .await
                .map(LiveSecret)
                .map_err(|e| api_error(key, "removing keys added by hand", e))?
        };
        let written = written_of(&result.metadata);
        self.remember(key, written.clone());
        Ok(written)
    }

    #[tracing::instrument(skip_all, fields(secret = %d.key))]
    async fn apply_desired(&self, d: &Arc<DesiredSecret>) -> Result<ApplyOutcome, SinkError> {
        self.check_permitted(&d.key)?;
        if d.merge {
            return self.merge_into(d).await;
        }
        let fingerprint = d.shared_fingerprint(self.fingerprint_key());
        let live = self.get_live(&d.key).await?;
        let mut adopted = false;
        if let Some(l) = &live {
            // The very object sealsync wrote, its labels changed by hand, is still this instance's.
            let ours = self
                .written(&d.key)
                .is_some_and(|w| l.metadata.uid.as_deref() == Some(w.uid.as_str()));
            match owner_of(&l.metadata, self.ownership()) {
                Owner::Us => {
                    if matches(l, d, &fingerprint, &self.ownership().instance) {
                        self.remember(&d.key, written_of(&l.metadata));
                        return Ok(ApplyOutcome::Unchanged);
                    }
                }
                _ if ours => {}
                Owner::OtherInstance(other) => {
                    let why = format!(
                        "owned by sealsync instance {other} ({INSTANCE_LABEL}), not by this one ({}); left alone although {} declares it — two agents declare this Secret",
                        self.ownership().instance,
                        d.source.path
                    );
                    self.refuse(d, l, Reason::OwnedByOtherInstance, &why).await;
                    return Ok(ApplyOutcome::Refused(Reason::OwnedByOtherInstance, why));
                }
                Owner::Unmanaged if !d.adopt => {
                    self.refuse_unmanaged(d, l).await;
                    return Ok(ApplyOutcome::RefusedUnmanaged);
                }
                Owner::Unmanaged => {
                    if let Some(why) = adoption_refusal(l, self.ownership().allow_adopt) {
                        self.refuse(d, l, Reason::AdoptionRefused, &why).await;
                        return Ok(ApplyOutcome::Refused(Reason::AdoptionRefused, why));
                    }
                    adopted = true;
                }
            }
        }
        let written = self.write(d, live.as_deref()).await?;
        if adopted {
            tracing::info!(secret = %d.key, source = %d.source.path, "adopted an existing Secret");
            let note = format!(
                "adopted by sealsync (sealsync.dev/adopt) from {} at {}",
                d.source.path,
                short_commit(&d.source.commit)
            );
            let regarding = secret_ref(
                &d.key.namespace,
                &d.key.name,
                Some(written.uid),
                Some(written.resource_version),
            );
            self.recorder()
                .publish(&regarding, EventKind::Normal, "Adopted", "Adopt", &note)
                .await;
        }
        Ok(match live {
            None => ApplyOutcome::Created,
            Some(_) => ApplyOutcome::Updated,
        })
    }

    /// Reports (once per state of the live object) why `d` was not written onto `live`.
    async fn refuse(&self, d: &DesiredSecret, live: &Secret, reason: Reason, why: &str) {
        if !self.first_warning(&d.key, written_of(&live.metadata)) {
            return;
        }
        tracing::warn!(secret = %d.key, source = %d.source.path, reason = reason.code(), "{why}");
        let regarding = secret_ref(
            &d.key.namespace,
            &d.key.name,
            live.metadata.uid.clone(),
            live.metadata.resource_version.clone(),
        );
        self.recorder()
            .publish(
                &regarding,
                EventKind::Warning,
                reason.event_reason(),
                "Apply",
                why,
            )
            .await;
    }

    async fn refuse_unmanaged(&self, d: &DesiredSecret, live: &Secret) {
        if !self.first_warning(&d.key, written_of(&live.metadata)) {
            tracing::debug!(secret = %d.key, "still not managed by sealsync; left alone");
            return;
        }
        tracing::warn!(
            secret = %d.key,
            source = %d.source.path,
            "a Secret of that name exists and is not managed by sealsync; left alone"
        );
        let note = format!(
            "not managed by sealsync (no label {MANAGED_BY_LABEL}={MANAGED_BY_VALUE}); left alone although {} declares it; add the annotation sealsync.dev/adopt: \"true\" there to take it over",
            d.source.path
        );
        let regarding = secret_ref(
            &d.key.namespace,
            &d.key.name,
            live.metadata.uid.clone(),
            live.metadata.resource_version.clone(),
        );
        self.recorder()
            .publish(
                &regarding,
                EventKind::Warning,
                Reason::Unmanaged.event_reason(),
                "Apply",
                &note,
            )
            .await;
    }

    async fn list(&self) -> Result<Vec<ManagedSecret>, SinkError> {
        let mut selectors = vec![self.selector().to_string()];
        if self.ownership().claims_unlabelled {
            // Written before instances existed: the default instance's (labelled when next applied).
            selectors.push(format!("{MANAGED_SELECTOR},!{INSTANCE_LABEL}"));
        }
        let mut out = Vec::new();
        for ns in self.namespaces() {
            for selector in &selectors {
                self.list_selected(ns, selector, &mut out).await?;
            }
        }
        Ok(out)
    }

    async fn list_selected(
        &self,
        ns: &str,
        selector: &str,
        out: &mut Vec<ManagedSecret>,
    ) -> Result<(), SinkError> {
        let api = self.secrets(ns);
        let mut params = ListParams::default().labels(selector).limit(500);
        loop {
            let page = api
                .list_metadata(&params)
                .await
                .map_err(|e| api_error(&SecretKey::new(ns, "*"), "list", e))?;
            for item in page.items {
                let meta = item.metadata;
                let annotation =
                    |name: &str| meta.annotations.as_ref().and_then(|a| a.get(name)).cloned();
                let key = SecretKey::new(ns, meta.name.clone().unwrap_or_default());
                // The fingerprint annotation proves nothing about values edited by hand; it is
                // trusted only while the object is exactly the one sealsync last wrote or checked
                // (same uid and resourceVersion) — any later change shows up as a new version.
                let verified = self.written(&key).is_some_and(|w| {
                    meta.uid.as_deref() == Some(w.uid.as_str())
                        && meta.resource_version.as_deref() == Some(w.resource_version.as_str())
                });
                out.push(ManagedSecret {
                    fingerprint: annotation(FINGERPRINT_ANNOTATION).filter(|_| verified),
                    source_path: annotation(SOURCE_ANNOTATION),
                    key,
                });
            }
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => return Ok(()),
            }
        }
    }

    async fn delete_managed(&self, key: &SecretKey) -> Result<(), SinkError> {
        self.check_permitted(key)?;
        let api = self.secrets(&key.namespace);
        let Some(live) = retrying(key, || api.get_metadata_opt(&key.name))
            .await
            .map_err(|e| api_error(key, "get", e))?
        else {
            self.forget(key);
            return Ok(());
        };
        match owner_of(&live.metadata, self.ownership()) {
            Owner::Us => {}
            Owner::Unmanaged => {
                return Err(SinkError::Conflict {
                    key: key.to_string(),
                    reason: format!(
                        "not deleted: it does not carry {MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"
                    ),
                })
            }
            Owner::OtherInstance(other) => {
                return Err(SinkError::Conflict {
                    key: key.to_string(),
                    reason: format!("not deleted: it belongs to sealsync instance {other}"),
                })
            }
        }
        let prune = live
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(PRUNE_ANNOTATION));
        if prune.is_some_and(|v| v == PRUNE_DISABLED) {
            return self.release(key, &live.metadata).await;
        }
        // The preconditions make sure the Secret checked above is the one deleted.
        let dp = DeleteParams {
            preconditions: Some(Preconditions {
                uid: live.metadata.uid.clone(),
                resource_version: live.metadata.resource_version.clone(),
            }),
            ..DeleteParams::default()
        };
        match api.delete(&key.name, &dp).await {
            Ok(either) => drop(either.left().map(LiveSecret)),
            Err(e) if status_code(&e) == Some(404) => {}
            Err(e) => return Err(api_error(key, "delete", e)),
        }
        self.forget(key);
        Ok(())
    }
}

/// The field manager of `creationPolicy: Merge` writes: its keys are the only fields it owns, so a key
/// it stops writing is removed and the others' fields are never touched.
pub const MERGE_FIELD_MANAGER: &str = "sealsync-merge";

impl KubeSink {
    /// `creationPolicy: Merge`: writes `d`'s keys, and nothing else, into an existing Secret that
    /// sealsync does not manage (server-side apply as its own field manager, conditional on the
    /// resourceVersion read, so it never creates the Secret).
    async fn merge_into(&self, d: &Arc<DesiredSecret>) -> Result<ApplyOutcome, SinkError> {
        let key = &d.key;
        let Some(live) = self.get_live(key).await? else {
            let why = format!(
                "creationPolicy Merge writes into an existing Secret, and {key} does not exist: create it, or use creationPolicy Owner"
            );
            return Ok(self.merge_refused(d, why));
        };
        if is_managed(&live.metadata) {
            let why = format!(
                "creationPolicy Merge writes only into Secrets sealsync does not manage, and {key} is managed by sealsync (declared by another document?)"
            );
            return Ok(self.merge_refused(d, why));
        }
        let empty = BTreeMap::new();
        let live_data = live.data.as_ref().unwrap_or(&empty);
        if d.data
            .iter()
            .all(|(k, v)| live_data.get(k).is_some_and(|l| l.0 == v.expose()))
            && self.merged_keys(&live) == d.data.len()
        {
            return Ok(ApplyOutcome::Unchanged);
        }
        let body = LiveSecret(Secret {
            metadata: ObjectMeta {
                name: Some(key.name.clone()),
                namespace: Some(key.namespace.clone()),
                resource_version: live.metadata.resource_version.clone(),
                ..ObjectMeta::default()
            },
            data: Some(
                d.data
                    .iter()
                    .map(|(k, v)| (k.clone(), ByteString(v.expose().to_vec())))
                    .collect(),
            ),
            ..Secret::default()
        });
        drop(live);
        let api = self.secrets(&key.namespace);
        let params = PatchParams::apply(MERGE_FIELD_MANAGER).force();
        let patch = Patch::Apply(&body.0);
        match retrying(key, || api.patch(&key.name, &params, &patch)).await {
            Ok(merged) => drop(LiveSecret(merged)),
            Err(e) if status_code(&e) == Some(409) => {
                return Err(SinkError::Conflict {
                    key: key.to_string(),
                    reason: "changed while its keys were merged".into(),
                })
            }
            Err(e) => return Err(api_error(key, "server-side apply (merge)", e)),
        }
        tracing::info!(secret = %key, keys = d.data.len(), "merged its keys into an existing Secret (creationPolicy Merge)");
        Ok(ApplyOutcome::Updated)
    }

    fn merge_refused(&self, d: &DesiredSecret, why: String) -> ApplyOutcome {
        tracing::warn!(secret = %d.key, path = %d.source.path, reason = %Reason::MergeTarget, "not written: {why}");
        ApplyOutcome::Refused(Reason::MergeTarget, why)
    }

    /// How many data keys `MERGE_FIELD_MANAGER` owns on `live` (managedFields), so that a key it no
    /// longer writes makes the Secret differ.
    fn merged_keys(&self, live: &Secret) -> usize {
        live.metadata
            .managed_fields
            .iter()
            .flatten()
            .filter(|e| e.manager.as_deref() == Some(MERGE_FIELD_MANAGER))
            .filter_map(|e| {
                e.fields_v1
                    .as_ref()?
                    .0
                    .get("f:data")?
                    .as_object()
                    .map(|m| m.len())
            })
            .sum()
    }

    /// Lets go of a Secret whose document left git but asked to be kept (`sealsync.dev/prune:
    /// disabled`): sealsync's labels and annotations are removed, its values and everything else
    /// stay, and from then on it is an ordinary Secret that sealsync neither reverts nor prunes. The
    /// resourceVersion makes sure the Secret checked is the one released (a change since is a conflict,
    /// tried again from a fresh read).
    async fn release(&self, key: &SecretKey, meta: &ObjectMeta) -> Result<(), SinkError> {
        let patch = json!({
            "metadata": {
                "resourceVersion": meta.resource_version,
                "labels": { MANAGED_BY_LABEL: null, INSTANCE_LABEL: null },
                "annotations": {
                    SOURCE_ANNOTATION: null,
                    COMMIT_ANNOTATION: null,
                    FINGERPRINT_ANNOTATION: null,
                    PRUNE_ANNOTATION: null,
                },
            }
        });
        let api = self.secrets(&key.namespace);
        let params = PatchParams::default();
        let patch = Patch::Merge(&patch);
        match retrying(key, || api.patch(&key.name, &params, &patch)).await {
            Ok(released) => drop(LiveSecret(released)),
            Err(e) if status_code(&e) == Some(404) => {}
            Err(e) if status_code(&e) == Some(409) => {
                return Err(SinkError::Conflict {
                    key: key.to_string(),
                    reason: "changed while being released".into(),
                })
            }
            Err(e) => return Err(api_error(key, "release", e)),
        }
        tracing::info!(secret = %key, "its source left git; released, not deleted ({PRUNE_ANNOTATION}: {PRUNE_DISABLED}): sealsync no longer manages it");
        self.forget(key);
        Ok(())
    }
}

/// Attempts of one request (or one apply after a conflict) within a pass; what still fails is retried
/// by the next pass.
const ATTEMPTS: u32 = 4;
/// 100 ms, 200 ms, 400 ms between them: a pass waits at most about 0.7 s on one request.
const RETRY: Backoff = Backoff::new_const(Duration::from_millis(100), Duration::from_secs(2));

/// Whether an API error may pass by itself: overload (429), a server error (5xx), a timeout or a
/// broken connection. A 409 is a conflict, handled by applying again from a fresh read.
fn transient(err: &kube::Error) -> bool {
    match err {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Runs one request, again with backoff while it fails transiently (`ATTEMPTS` in all).
async fn retrying<T, F, Fut>(key: &SecretKey, mut request: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let mut backoff = RETRY.start();
    let mut attempt = 1;
    loop {
        match request().await {
            Err(e) if transient(&e) && attempt < ATTEMPTS => {
                let delay = backoff.next().unwrap_or(RETRY.max());
                tracing::debug!(secret = %key, error = %e, retry_in = ?delay, "transient API error; retrying");
                attempt += 1;
                tokio::time::sleep(delay).await;
            }
            other => return other,
        }
    }
}

/// The first 7 characters of a commit id, as git shows it.
pub(crate) fn short_commit(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}

impl Sink for KubeSink {
    async fn list_managed(&self) -> Result<Vec<ManagedSecret>, SinkError> {
        // Counted from before the list: what changes while it runs is reported next time too.
        self.feed().full_listing();
        self.list().await
    }

    /// While the drift watch runs and has listed every namespace, only the Secrets it left to the
    /// reconcile loop; otherwise a list of the API server.
    async fn list_changes(&self) -> Result<Listing, SinkError> {
        let changes = self.feed().changes();
        match changes {
            Some(listing) => Ok(listing),
            None => self.list_managed().await.map(Listing::Full),
        }
    }

    /// A conflict (the Secret changed between read and write) is tried again from the read, a few
    /// times within the pass; other transient errors are retried per request (`retrying`).
    async fn apply(&self, desired: &Arc<DesiredSecret>) -> Result<ApplyOutcome, SinkError> {
        let mut backoff = RETRY.start();
        let mut attempt = 1;
        loop {
            match self.apply_desired(desired).await {
                Err(SinkError::Conflict { .. }) if attempt < ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(backoff.next().unwrap_or(RETRY.max())).await;
                }
                other => return other,
            }
        }
    }

    fn fingerprint_key(&self) -> &FingerprintKey {
        &self.inner.key
    }

    async fn delete(&self, key: &SecretKey) -> Result<(), SinkError> {
        let mut backoff = RETRY.start();
        let mut attempt = 1;
        loop {
            match self.delete_managed(key).await {
                Err(SinkError::Conflict { .. }) if attempt < ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(backoff.next().unwrap_or(RETRY.max())).await;
                }
                other => return other,
            }
        }
    }

    /// Eight requests at once: an initial sync of thousands of Secrets stays gentle on the API server
    /// (client-go's default is a burst of 10), and the HTTP/1.1 pool it leaves behind small (each
    /// connection the burst opened stays idle for 90 s, with its buffers).
    fn concurrency(&self) -> usize {
        8
    }

    /// A listed fingerprint is only reported for objects whose uid and resourceVersion are the ones
    /// sealsync last wrote or checked, so a match proves the live Secret is as desired.
    fn listing_is_authoritative(&self) -> bool {
        true
    }
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
