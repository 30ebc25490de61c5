//! Resolves ExternalSecrets and AVP Secrets into desired Secrets: one provider client per store, a
//! cache of remote values (each remote secret fetched once per cycle), refresh on each object's
//! interval with a deterministic jitter, backoff per failing object, and the last good value kept.

mod accounts;
mod plan;
mod preview;
mod refresh;
mod stores;

pub use accounts::{Accounts, Login, TokenFor, NEEDS_KUBE};

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sealsync_external::{CreationPolicy, DeletionPolicy, RefreshPolicy, SecretValue};
use sealsync_providers::{FindQuery, ProviderError, RemoteRef};

use crate::desired::{
    DesiredSecret, SecretBytes, SecretKey, Source, PRUNE_ANNOTATION, PRUNE_DISABLED,
};
use crate::documents::{ExternalDoc, ExternalObject, Reason, Refusal};
use crate::reconcile::desired_state::DesiredState;
use crate::small_map::SmallMap;
use plan::{Plan, StoreUse};
pub use preview::{preview, Preview};
pub use refresh::{Refresh, RefreshRequests, MAX_PENDING_SECRETS};
pub use stores::EnvCredentials;

/// Longest wait before retrying a failing object.
const BACKOFF_CAP: Duration = Duration::from_secs(300);
const BACKOFF_MIN: Duration = Duration::from_secs(1);

/// One remote secret of one store (`StoreUse::id`).
type CacheKey = (String, RemoteRef);

/// A remote value as the store returned it.
#[derive(Clone)]
struct Fetched {
    value: SecretValue,
    /// The version the store reported (Vault KV v2 version number, AWS VersionId).
    version: Option<String>,
}

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
    /// Credentials that fill in for credentials Secrets missing from git (none in the agent).
    pub env_credentials: EnvCredentials,
    /// The agent's own token and, with the Kubernetes sink, other service accounts' tokens.
    pub login: Login,
    clients: HashMap<String, stores::Client>,
    cache: HashMap<CacheKey, Result<Fetched, ProviderError>>,
    /// What each `dataFrom[].find` of a store found at its last refresh.
    found: HashMap<(String, FindQuery), Result<plan::Found, ProviderError>>,
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

    /// The version the store returned for the reference `(key, version)` of a preview's target at the
    /// last fetch; None when it was not fetched, failed, or the store reports no version (KV v1).
    pub fn fetched_version(&self, p: &Preview, key: &str, version: Option<&str>) -> Option<&str> {
        let r = RemoteRef {
            key: key.to_string(),
            version: version.map(String::from),
        };
        match self.cache.get(&(p.store_id.clone()?, r)) {
            Some(Ok(f)) => f.version.as_deref(),
            _ => None,
        }
    }

    /// When the next object is due for a refresh (None: nothing to refresh).
    pub fn next_due(&self) -> Option<Instant> {
        self.targets.values().map(|t| t.due).min()
    }

    /// Makes what `refresh` names due now (a `POST /refresh`), backoff included: the next pass fetches
    /// those references again. Returns the Secrets it named that no reference produces.
    pub fn expire(&mut self, refresh: Refresh) -> Vec<SecretKey> {
        let now = Instant::now();
        match refresh {
            Refresh::Nothing => Vec::new(),
            Refresh::All => {
                for t in self.targets.values_mut() {
                    t.due = now;
                }
                Vec::new()
            }
            Refresh::Secrets(keys) => keys
                .into_iter()
                .filter(|k| match self.targets.get_mut(k) {
                    Some(t) => {
                        t.due = now;
                        false
                    }
                    None => true,
                })
                .collect(),
        }
    }

    /// Adds what `objects` resolve to into `state`; `all` fetches every reference now (`run --once`).
    pub async fn resolve(
        &mut self,
        objects: &[Arc<ExternalObject>],
        state: &mut DesiredState,
        all: bool,
    ) {
        let now = Instant::now();
        let plans = plan::plans(
            objects,
            &state.secrets,
            self.default_store.as_deref(),
            &self.env_credentials,
        );
        // Due objects' references, per store: new objects first, then routine refreshes.
        let mut wanted: BTreeMap<String, (StoreUse, Vec<RemoteRef>, Vec<FindQuery>)> =
            BTreeMap::new();
        let mut fetched = std::collections::HashSet::new();
        for (key, p) in &plans {
            let Ok(p) = p else { continue };
            let due = match self.targets.get(key) {
                Some(t) if Arc::ptr_eq(&t.object, &p.object) => {
                    all || t.due <= now || self.stale_client(&p.store)
                }
                _ => true,
            };
            if due {
                fetched.insert(key.clone());
                let e = wanted
                    .entry(p.store.id.clone())
                    .or_insert_with(|| (p.store.clone(), Vec::new(), Vec::new()));
                for r in &p.refs {
                    if !e.1.contains(r) {
                        e.1.push(r.clone());
                    }
                }
                for q in &p.finds {
                    if !e.2.contains(q) {
                        e.2.push(q.clone());
                    }
                }
            }
        }
        for (id, (store, refs, finds)) in wanted {
            self.fetch(&id, &store, &refs, &finds).await;
        }
        let mut seen = std::collections::HashSet::with_capacity(plans.len());
        let mut used = std::collections::HashSet::new();
        let mut used_finds = std::collections::HashSet::new();
        for (key, p) in plans {
            seen.insert(key.clone());
            if let Ok(p) = &p {
                used.extend(p.refs.iter().map(|r| (p.store.id.clone(), r.clone())));
                used_finds.extend(p.finds.iter().map(|q| (p.store.id.clone(), q.clone())));
            }
            let was_fetched = fetched.contains(&key);
            self.settle(key, p, state, now, was_fetched);
        }
        let gone: Vec<SecretKey> = self
            .targets
            .keys()
            .filter(|k| !seen.contains(*k))
            .cloned()
            .collect();
        for k in gone {
            self.targets.remove(&k);
            state.touched.insert(k);
        }
        // Values no reference uses any more are dropped (zeroized): the cache holds what git asks for,
        // not everything it ever asked for.
        self.cache.retain(|k, _| used.contains(k));
        self.found.retain(|k, _| used_finds.contains(k));
        // Likewise a store no reference uses any more: its client (and token) goes.
        let stores: std::collections::HashSet<&String> = used
            .iter()
            .map(|(id, _)| id)
            .chain(used_finds.iter().map(|(id, _)| id))
            .collect();
        self.clients.retain(|id, _| stores.contains(id));
    }

    /// Whether the store's client was built from another store document or other credentials: the
    /// references through it are fetched again at once (a valid token committed after a failure is
    /// used now, not after the failure's backoff).
    fn stale_client(&self, store: &StoreUse) -> bool {
        self.clients.get(&store.id).is_some_and(|c| {
            !Arc::ptr_eq(&c.store, &store.object)
                || store
                    .credentials
                    .as_ref()
                    .is_ok_and(|creds| *creds != c.sources)
        })
    }

    /// Remote values held (for tests: the cache follows what git references).
    pub fn cached_values(&self) -> usize {
        self.cache.len()
    }

    /// Fetches `refs` from one store in one call (the provider batches), and runs each of `finds`,
    /// into the caches.
    async fn fetch(&mut self, id: &str, store: &StoreUse, refs: &[RemoteRef], finds: &[FindQuery]) {
        let provider = match self.client(id, store).await {
            Ok(p) => p,
            Err(why) => {
                let failed = |key: &str| {
                    ProviderError::new(
                        sealsync_providers::ErrorKind::Invalid,
                        &store.display,
                        key,
                        why.clone(),
                    )
                };
                for r in refs {
                    self.cache
                        .insert((id.to_string(), r.clone()), Err(failed(&r.key)));
                }
                for q in finds {
                    let e = failed(q.path.as_deref().unwrap_or("(find)"));
                    self.found.insert((id.to_string(), q.clone()), Err(e));
                }
                return;
            }
        };
        if !refs.is_empty() {
            self.fetch_calls += 1;
            let results = provider.fetch(refs).await;
            for (r, result) in refs.iter().zip(results) {
                let value = result.map(|v| Fetched {
                    version: v.version().map(String::from),
                    value: SecretValue::from(v.into_bytes()),
                });
                self.cache.insert((id.to_string(), r.clone()), value);
            }
        }
        for q in finds {
            self.fetch_calls += 1;
            let found = provider.find(q).await.map(|pairs| {
                pairs
                    .into_iter()
                    .map(|(k, v)| (k, SecretValue::from(v.into_bytes())))
                    .collect()
            });
            self.found.insert((id.to_string(), q.clone()), found);
        }
    }

    /// The store's client, rebuilt when the store document or its credentials changed.
    async fn client(
        &mut self,
        id: &str,
        store: &StoreUse,
    ) -> Result<Arc<dyn sealsync_providers::Provider>, String> {
        // Read at each fetch, so a credentials Secret rotated in the cluster rebuilds the client.
        let creds = stores::read_credentials(store.credentials.as_ref()?, &self.login).await?;
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
                sources: store.credentials.clone()?,
                credentials: creds,
                provider: Arc::clone(&provider),
            },
        );
        Ok(provider)
    }

    /// Builds one target from the cache and puts it (or its last good value) in `state`. Its next
    /// refresh or retry is scheduled only when this pass `fetched` it (or its object changed): a pass
    /// that only reads the cache (another target was due, a commit, the git interval) leaves the
    /// schedule alone.
    fn settle(
        &mut self,
        key: SecretKey,
        planned: Result<Plan, (Arc<ExternalObject>, String)>,
        state: &mut DesiredState,
        now: Instant,
        fetched: bool,
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
            refuse(state, &object, &key, declared_by_file(&key));
            t.due = now + BACKOFF_CAP;
            self.targets.insert(key, t);
            return;
        }
        match built {
            Ok((p, data)) => {
                let secret = self.written(&p, &key, data);
                let same = match (&t.last_good, &secret) {
                    (Some(g), Some(s)) => **g == *s,
                    (None, None) => true,
                    _ => false,
                };
                if !same {
                    t.last_good = secret.map(Arc::new);
                    state.touched.insert(key.clone());
                }
                if fetched || changed {
                    t.failures = 0;
                    t.due = now + refresh_after(&p, &key);
                }
            }
            Err((_, why)) => {
                refuse(state, &object, &key, why);
                if fetched || changed {
                    t.failures = t.failures.saturating_add(1);
                    let exp = BACKOFF_MIN.saturating_mul(1u32 << t.failures.min(10));
                    t.due = now + exp.min(BACKOFF_CAP);
                }
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

    /// The Secret a resolved target writes, as its ExternalSecret's policies say: none for
    /// `creationPolicy: None`, or for `deletionPolicy: Delete` once every remote secret it reads is
    /// authoritatively gone (never on an error); kept when its document leaves git for `Orphan`; its
    /// keys only, into an existing Secret, for `Merge`.
    fn written(&self, p: &Plan, key: &SecretKey, built: plan::Built) -> Option<DesiredSecret> {
        let ExternalDoc::Secret(es) = &p.object.doc else {
            return Some(desired(key, &p.object, built));
        };
        let target = &es.target;
        if target.deletion_policy == DeletionPolicy::Delete && self.every_reference_gone(p) {
            tracing::info!(path = %p.object.path, secret = %key, "every remote secret it reads is gone from {} (deletionPolicy Delete): the Secret is removed", p.store.display);
            return None;
        }
        let mut secret = desired(key, &p.object, built);
        match target.creation_policy {
            CreationPolicy::Owner => {}
            CreationPolicy::None => return None,
            CreationPolicy::Orphan => {
                secret
                    .annotations
                    .insert(PRUNE_ANNOTATION.into(), PRUNE_DISABLED.into());
            }
            CreationPolicy::Merge => secret.merge = true,
        }
        Some(secret)
    }

    /// Whether the store answered "not found" for every reference of `p` (and it has some).
    fn every_reference_gone(&self, p: &Plan) -> bool {
        !(p.refs.is_empty() && p.finds.is_empty())
            && p.refs.iter().all(|r| {
                matches!(self.cache.get(&(p.store.id.clone(), r.clone())),
                    Some(Err(e)) if e.kind() == sealsync_providers::ErrorKind::NotFound)
            })
            && p.finds.iter().all(|q| {
                matches!(self.found.get(&(p.store.id.clone(), q.clone())), Some(Ok(v)) if v.is_empty())
            })
    }

    fn build(&self, p: &Plan) -> Result<plan::Built, String> {
        let get = |r: &RemoteRef| -> Result<Option<SecretValue>, String> {
            match self.cache.get(&(p.store.id.clone(), r.clone())) {
                Some(Ok(v)) => Ok(Some(v.value.clone())),
                Some(Err(e)) if e.kind() == sealsync_providers::ErrorKind::NotFound => Ok(None),
                Some(Err(e)) => Err(format!("{e} [{}]", e.kind().label())),
                None => Err(format!(
                    "store {}: {}: not fetched yet",
                    p.store.display, r.key
                )),
            }
        };
        let found = |q: &FindQuery| -> Result<plan::Found, String> {
            match self.found.get(&(p.store.id.clone(), q.clone())) {
                Some(Ok(v)) => Ok(v.clone()),
                Some(Err(e)) => Err(format!("{e} [{}]", e.kind().label())),
                None => Err(format!("store {}: find: not fetched yet", p.store.display)),
            }
        };
        plan::build(p, &get, &found)
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

/// Why a reference whose Secret a file also declares is not applied (the file wins).
fn declared_by_file(key: &SecretKey) -> String {
    format!("Secret {key} is also declared by a file; the reference is not applied")
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
        merge: false,
        memo: Default::default(),
    }
}

/// Why an ExternalSecret's creation and deletion policies cannot go together here (None: they can).
/// ESO's own rules (Delete with Merge or None, Merge deletion with None) are refused when the document
/// is parsed; sealsync adds Delete with Orphan, since an orphaned Secret is released rather than
/// deleted when it leaves git.
pub(crate) fn policy_refusal(c: CreationPolicy, d: DeletionPolicy) -> Option<&'static str> {
    (c == CreationPolicy::Orphan && d == DeletionPolicy::Delete).then_some(
        "target.deletionPolicy Delete with creationPolicy Orphan is not supported: an orphaned Secret is kept; use creationPolicy Owner to have it deleted",
    )
}

#[cfg(test)]
mod tests {
    use super::preview::tests::{objects, STORE};
    use super::*;

    /// An ExternalSecret of namespace app reading `key` from the store `bao` (whose token Secret is not
    /// declared: every fetch fails without any network, and failures are cached like values).
    fn external_secret(name: &str, key: &str) -> String {
        format!("apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {{name: {name}, namespace: app}}\nspec:\n  secretStoreRef: {{name: bao}}\n  data: [{{secretKey: v, remoteRef: {{key: {key}}}}}]\n")
    }

    /// A value no reference uses any more leaves the cache (before: the cache kept every remote secret
    /// ever referenced, growing with each renamed key for the life of the process).
    #[tokio::test]
    async fn the_cache_holds_what_git_references_now() {
        let (a, b) = (external_secret("a", "k1"), external_secret("b", "k2"));
        let both = objects(&[STORE, &a, &b]);
        assert_eq!(both.len(), 3, "the store and two ExternalSecrets");
        let mut resolver = Resolver::new(None, Login::default());
        let mut state = DesiredState::default();
        resolver.resolve(&both, &mut state, true).await;
        assert_eq!(resolver.cached_values(), 2);
        assert_eq!(state.refused.len(), 2, "{:?}", state.refused);

        let one = objects(&[STORE, &a]);
        resolver
            .resolve(&one, &mut DesiredState::default(), true)
            .await;
        assert_eq!(resolver.cached_values(), 1, "k2 is no longer referenced");
        resolver
            .resolve(&[], &mut DesiredState::default(), true)
            .await;
        assert_eq!(resolver.cached_values(), 0);
    }

    /// The state an ExternalSecret with `target` (YAML flow mapping body) and two references (k1, k2)
    /// resolves to once the store answered `answer(remote key)` (None: not found).
    async fn resolved_with(
        target: &str,
        answer: fn(&str) -> Option<&'static [u8]>,
    ) -> DesiredState {
        let es = format!("apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {{name: t, namespace: app}}\nspec:\n  secretStoreRef: {{name: bao}}\n  target: {{{target}}}\n  data: [{{secretKey: a, remoteRef: {{key: k1}}}}, {{secretKey: b, remoteRef: {{key: k2}}}}]\n");
        let objs = objects(&[STORE, &es]);
        let mut resolver = Resolver::new(None, Login::default());
        resolver
            .resolve(&objs, &mut DesiredState::default(), true)
            .await;
        // The fetch failed (no token); what the store would have answered replaces it, and the next
        // pass (not due: no fetch) builds from it.
        for ((_, r), v) in resolver.cache.iter_mut() {
            *v = match answer(&r.key) {
                Some(bytes) => Ok(Fetched {
                    value: SecretValue::from(zeroize::Zeroizing::new(bytes.to_vec())),
                    version: None,
                }),
                None => Err(ProviderError::new(
                    sealsync_providers::ErrorKind::NotFound,
                    "bao",
                    &r.key,
                    "404",
                )),
            };
        }
        let mut state = DesiredState::default();
        resolver.resolve(&objs, &mut state, false).await;
        state
    }

    fn key() -> SecretKey {
        SecretKey::new("app", "t")
    }

    #[tokio::test]
    async fn deletion_policy_delete_removes_the_secret_only_when_every_remote_secret_is_gone() {
        let state = resolved_with("deletionPolicy: Delete", |_| None).await;
        assert!(state.refused.is_empty(), "{:?}", state.refused);
        assert!(!state.secrets.contains_key(&key()), "removed: nothing left");

        let state = resolved_with("deletionPolicy: Delete", |k| (k == "k1").then_some(b"1")).await;
        let s = &state.secrets[&key()];
        assert_eq!(s.data.len(), 1, "only the key still in the store");
        assert_eq!(s.data["a"].expose(), b"1");

        // Merge: the keys go, the Secret stays, even empty.
        let state = resolved_with("deletionPolicy: Merge", |_| None).await;
        assert!(state.secrets[&key()].data.is_empty());

        // Retain (the default): "not found" is an error; nothing is written or removed.
        let state = resolved_with("name: t", |_| None).await;
        assert!(!state.secrets.contains_key(&key()));
        assert_eq!(state.refused.len(), 1);
        assert!(
            state.refused[0].message.contains("not found"),
            "{}",
            state.refused[0].message
        );
    }

    #[tokio::test]
    async fn creation_policies_none_orphan_and_merge() {
        let both = |_: &str| Some(&b"v"[..]);
        let state = resolved_with("creationPolicy: None", both).await;
        assert!(state.refused.is_empty(), "{:?}", state.refused);
        assert!(!state.secrets.contains_key(&key()), "None writes nothing");

        let state = resolved_with("creationPolicy: Orphan", both).await;
        let s = &state.secrets[&key()];
        assert!(s.kept_on_removal() && !s.merge);
        assert_eq!(s.annotations.get(PRUNE_ANNOTATION).unwrap(), PRUNE_DISABLED);

        let state = resolved_with("creationPolicy: Merge, deletionPolicy: Merge", both).await;
        let s = &state.secrets[&key()];
        assert!(s.merge && !s.kept_on_removal());
        assert_eq!(s.data.len(), 2);

        let state = resolved_with("creationPolicy: Owner", both).await;
        assert!(!state.secrets[&key()].merge && !state.secrets[&key()].kept_on_removal());
    }

    #[tokio::test]
    async fn delete_with_orphan_is_refused() {
        let target = "creationPolicy: Orphan, deletionPolicy: Delete";
        let state = resolved_with(target, |_| Some(&b"v"[..])).await;
        assert!(!state.secrets.contains_key(&key()));
        assert_eq!(state.refused.len(), 1);
        let m = &state.refused[0].message;
        assert!(
            m.contains("deletionPolicy Delete") && m.contains("Orphan"),
            "{m}"
        );
    }

    #[tokio::test]
    async fn a_refresh_makes_its_targets_due_and_names_the_unknown() {
        let objs = objects(&[STORE, &external_secret("a", "k1")]);
        let mut resolver = Resolver::new(None, Login::default());
        resolver
            .resolve(&objs, &mut DesiredState::default(), true)
            .await;
        let later = resolver.next_due().unwrap();
        assert!(later > Instant::now(), "a failure backs off");
        let unknown = resolver.expire(Refresh::Secrets(
            [SecretKey::new("app", "a"), SecretKey::new("app", "nope")].into(),
        ));
        assert_eq!(unknown, vec![SecretKey::new("app", "nope")]);
        assert!(resolver.next_due().unwrap() <= Instant::now(), "due now");
    }

    /// Passes that find a failing target not yet due (the git interval, a commit, another target's
    /// refresh) leave its retry where it was. Before: each such pass counted one more failure and
    /// pushed the retry out again (now + 2^failures s), so with passes more frequent than the backoff
    /// (the default 1-minute interval against a backoff that reaches minutes) a reference that failed
    /// once during an outage was never tried again.
    #[tokio::test]
    async fn passes_before_a_retry_is_due_do_not_push_it_back() {
        let objs = objects(&[STORE, &external_secret("a", "k1")]);
        let mut resolver = Resolver::new(None, Login::default());
        resolver
            .resolve(&objs, &mut DesiredState::default(), false)
            .await;
        let retry = resolver.next_due().unwrap();
        for _ in 0..5 {
            let mut state = DesiredState::default();
            resolver.resolve(&objs, &mut state, false).await;
            assert_eq!(
                state.refused.len(),
                1,
                "still reported: {:?}",
                state.refused
            );
            assert_eq!(
                resolver.next_due(),
                Some(retry),
                "the retry stays due at the same time"
            );
        }
    }
}
