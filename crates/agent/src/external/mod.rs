//! Resolves ExternalSecrets and AVP Secrets into desired Secrets: one provider client per store, a
//! cache of remote values (each remote secret fetched once per cycle), refresh on each object's
//! interval with a deterministic jitter, backoff per failing object, and the last good value kept.

mod accounts;
mod plan;
mod stores;

pub use accounts::{Accounts, Login, TokenFor, NEEDS_KUBE};

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sealsync_external::{CreationPolicy, RefreshPolicy, SecretValue};
use sealsync_providers::{ProviderError, RemoteRef};

use crate::desired::{DesiredSecret, SecretBytes, SecretKey, Source};
use crate::documents::{ExternalDoc, ExternalObject, Reason, Refusal};
use crate::reconcile::desired_state::DesiredState;
use crate::small_map::SmallMap;
use plan::{Plan, StoreUse};

/// Longest wait before retrying a failing object.
const BACKOFF_CAP: Duration = Duration::from_secs(300);
const BACKOFF_MIN: Duration = Duration::from_secs(1);

/// One remote secret of one store (`StoreUse::id`).
type CacheKey = (String, RemoteRef);

/// What the resolver remembers of one target Secret.
struct Target {
    object: Arc<ExternalObject>,
    due: Instant,
    failures: u32,
    last_good: Option<Arc<DesiredSecret>>,
}

/// The resolver, kept from pass to pass beside the engine.
#[derive(Default)]
pub struct Resolver {
    pub default_store: Option<String>,
    /// The agent's own token and, with the Kubernetes sink, other service accounts' tokens.
    pub login: Login,
    clients: HashMap<String, stores::Client>,
    cache: HashMap<CacheKey, Result<SecretValue, ProviderError>>,
    targets: HashMap<SecretKey, Target>,
    /// Provider fetch calls made (each a batch of references), for tests and benchmarks.
    pub fetch_calls: u64,
}

impl Resolver {
    pub fn new(default_store: Option<String>, login: Login) -> Resolver {
        Resolver {
            default_store,
            login,
            ..Resolver::default()
        }
    }

    /// When the next object is due for a refresh (None: nothing to refresh).
    pub fn next_due(&self) -> Option<Instant> {
        self.targets.values().map(|t| t.due).min()
    }

    /// Adds what `objects` resolve to into `state`; `all` fetches every reference now (`run --once`).
    pub async fn resolve(
        &mut self,
        objects: &[Arc<ExternalObject>],
        state: &mut DesiredState,
        all: bool,
    ) {
        let now = Instant::now();
        let plans = plan::plans(objects, &state.secrets, self.default_store.as_deref());
        // Due objects' references, per store: new objects first, then routine refreshes.
        let mut wanted: BTreeMap<String, (StoreUse, Vec<RemoteRef>)> = BTreeMap::new();
        for (key, p) in &plans {
            let Ok(p) = p else { continue };
            let due = match self.targets.get(key) {
                Some(t) if Arc::ptr_eq(&t.object, &p.object) => all || t.due <= now,
                _ => true,
            };
            if due {
                let e = wanted
                    .entry(p.store.id.clone())
                    .or_insert_with(|| (p.store.clone(), Vec::new()));
                for r in &p.refs {
                    if !e.1.contains(r) {
                        e.1.push(r.clone());
                    }
                }
            }
        }
        for (id, (store, refs)) in wanted {
            self.fetch(&id, &store, &refs).await;
        }
        let mut seen = Vec::new();
        for (key, p) in plans {
            seen.push(key.clone());
            self.settle(key, p, state, now);
        }
        let gone: Vec<SecretKey> = self
            .targets
            .keys()
            .filter(|k| !seen.contains(k))
            .cloned()
            .collect();
        for k in gone {
            self.targets.remove(&k);
            state.touched.insert(k);
        }
    }

    /// Fetches `refs` from one store in one call (the provider batches), into the cache.
    async fn fetch(&mut self, id: &str, store: &StoreUse, refs: &[RemoteRef]) {
        let provider = match self.client(id, store).await {
            Ok(p) => p,
            Err(why) => {
                for r in refs {
                    let e = ProviderError::new(
                        sealsync_providers::ErrorKind::Invalid,
                        &store.display,
                        &r.key,
                        why.clone(),
                    );
                    self.cache.insert((id.to_string(), r.clone()), Err(e));
                }
                return;
            }
        };
        self.fetch_calls += 1;
        let results = provider.fetch(refs).await;
        for (r, result) in refs.iter().zip(results) {
            let value = result.map(|v| SecretValue::from(v.into_bytes()));
            self.cache.insert((id.to_string(), r.clone()), value);
        }
    }

    /// The store's client, rebuilt when the store document or its credentials changed.
    async fn client(
        &mut self,
        id: &str,
        store: &StoreUse,
    ) -> Result<Arc<dyn sealsync_providers::Provider>, String> {
        let creds = store.credentials.clone()?;
        if let Some(c) = self.clients.get(id) {
            if Arc::ptr_eq(&c.store, &store.object) && c.credentials == creds {
                return Ok(Arc::clone(&c.provider));
            }
        }
        let ExternalDoc::Store(s) = &store.object.doc else {
            return Err("not a store".into());
        };
        let provider = stores::build(
            s,
            &store.object.namespace,
            &store.display,
            &creds,
            &self.login,
        )
        .await?;
        self.clients.insert(
            id.to_string(),
            stores::Client {
                store: Arc::clone(&store.object),
                credentials: creds,
                provider: Arc::clone(&provider),
            },
        );
        Ok(provider)
    }

    /// Builds one target from the cache and puts it (or its last good value) in `state`.
    fn settle(
        &mut self,
        key: SecretKey,
        planned: Result<Plan, (Arc<ExternalObject>, String)>,
        state: &mut DesiredState,
        now: Instant,
    ) {
        let object = match &planned {
            Ok(p) => Arc::clone(&p.object),
            Err((o, _)) => Arc::clone(o),
        };
        let built = planned.and_then(|p| {
            self.build(&p)
                .map_err(|why| (Arc::clone(&p.object), why))
                .map(|d| (p, d))
        });
        let prev = self.targets.remove(&key);
        let changed = prev
            .as_ref()
            .is_none_or(|t| !Arc::ptr_eq(&t.object, &object));
        let mut t = prev.unwrap_or(Target {
            object: Arc::clone(&object),
            due: now,
            failures: 0,
            last_good: None,
        });
        t.object = Arc::clone(&object);
        if state.secrets.contains_key(&key) && t.last_good.is_none() {
            refuse(
                state,
                &object,
                &key,
                format!("Secret {key} is also declared by a file; the reference is not applied"),
            );
            t.due = now + BACKOFF_CAP;
            self.targets.insert(key, t);
            return;
        }
        match built {
            Ok((p, data)) => {
                let secret = desired(&key, &object, data);
                let same = t.last_good.as_ref().is_some_and(|g| **g == secret);
                if !same {
                    t.last_good = Some(Arc::new(secret));
                    state.touched.insert(key.clone());
                }
                t.failures = 0;
                t.due = now + refresh_after(&p, &key);
            }
            Err((_, why)) => {
                refuse(state, &object, &key, why);
                t.failures = t.failures.saturating_add(1);
                let exp = BACKOFF_MIN.saturating_mul(1u32 << t.failures.min(10));
                t.due = now + exp.min(BACKOFF_CAP);
                if changed {
                    state.touched.insert(key.clone());
                }
            }
        }
        if let Some(g) = &t.last_good {
            state.secrets.insert(key.clone(), Arc::clone(g));
        }
        self.targets.insert(key, t);
    }

    fn build(&self, p: &Plan) -> Result<plan::Built, String> {
        let get = |r: &RemoteRef| -> Result<Option<SecretValue>, String> {
            match self.cache.get(&(p.store.id.clone(), r.clone())) {
                Some(Ok(v)) => Ok(Some(v.clone())),
                Some(Err(e)) if e.kind() == sealsync_providers::ErrorKind::NotFound => Ok(None),
                Some(Err(e)) => Err(format!("{e} [{}]", e.kind().label())),
                None => Err(format!(
                    "store {}: {}: not fetched yet",
                    p.store.display, r.key
                )),
            }
        };
        plan::build(p, &get)
    }
}

/// The refresh interval of a target, with a deterministic jitter of up to a tenth of it (from the
/// key's hash) so that a restart does not refresh everything at once. Never for interval 0 and the
/// CreatedOnce / OnChange policies (a new commit of the object fetches it again).
fn refresh_after(p: &Plan, key: &SecretKey) -> Duration {
    let never = Duration::from_secs(365 * 24 * 3600);
    let (interval, policy) = match &p.object.doc {
        ExternalDoc::Secret(es) => (es.refresh_interval, es.refresh_policy),
        _ => (
            sealsync_external::external_secret::DEFAULT_REFRESH_INTERVAL,
            RefreshPolicy::Periodic,
        ),
    };
    if interval.is_zero() || policy != RefreshPolicy::Periodic {
        return never;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    let tenth = interval.as_millis() as u64 / 10;
    interval + Duration::from_millis(if tenth == 0 { 0 } else { h.finish() % tenth })
}

fn refuse(state: &mut DesiredState, object: &ExternalObject, key: &SecretKey, message: String) {
    tracing::warn!(path = %object.path, secret = %key, "external reference: {message}");
    state.refused.push(Refusal {
        path: object.path.clone(),
        document: Some(object.document),
        key: Some(key.clone()),
        reason: Reason::Unresolved,
        message,
    });
    state.failed_paths.insert(object.path.clone());
}

/// The desired Secret of a resolved target.
fn desired(key: &SecretKey, object: &ExternalObject, b: plan::Built) -> DesiredSecret {
    let mut data = SmallMap::new();
    for (k, v) in b.data {
        data.insert(k, SecretBytes::new(v.expose().to_vec()));
    }
    let map = |m: BTreeMap<String, String>| {
        let mut out = SmallMap::new();
        for (k, v) in m {
            out.insert(k, v);
        }
        out
    };
    DesiredSecret {
        key: key.clone(),
        secret_type: b.secret_type.unwrap_or_else(|| "Opaque".into()),
        labels: map(b.labels),
        annotations: map(b.annotations),
        data,
        immutable: b.immutable,
        source: Source {
            path: object.path.clone(),
            commit: object.commit.clone(),
        },
        adopt: false,
        memo: Default::default(),
    }
}

/// Whether the ExternalSecret writes a Secret sealsync manages (Owner); the others are refused for now.
pub(crate) fn creation_refusal(p: CreationPolicy) -> Option<&'static str> {
    match p {
        CreationPolicy::Owner => None,
        _ => Some("target.creationPolicy other than Owner is not supported yet"),
    }
}
