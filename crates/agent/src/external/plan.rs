//! Which store and which remote secrets each ExternalSecret / AVP Secret needs, and its Secret built
//! from the fetched values with `sealsync-external`'s pipeline.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use sealsync_external::avp::{self, RemoteSecretId};
use sealsync_external::pipeline::{apply_target, build_data, EsoTemplates, Fetched};
use sealsync_external::store;
use sealsync_external::{DataFromSource, SecretData, SecretValue, StoreKind, StoreRef};
use sealsync_providers::{FindQuery, RemoteRef};

use super::stores::{self, EnvCredentials, Secrets};
use crate::desired::SecretKey;
use crate::documents::{ExternalDoc, ExternalObject};

/// A store as one target uses it (credentials read for that target's namespace).
#[derive(Clone)]
pub struct StoreUse {
    /// Identifies the client: the store and the namespace its credentials were read for.
    pub id: String,
    pub display: String,
    pub object: Arc<ExternalObject>,
    pub credentials: Result<Vec<stores::Credential>, String>,
}

pub struct Plan {
    pub object: Arc<ExternalObject>,
    pub store: StoreUse,
    pub refs: Vec<RemoteRef>,
    /// `dataFrom[].find` queries, in order (one provider call each per refresh).
    pub finds: Vec<FindQuery>,
    /// AVP: each remote secret by its AVP path, and the reference fetched for it.
    avp_ids: Vec<(RemoteSecretId, RemoteRef)>,
}

/// A Secret's content, as the pipeline rendered it.
pub struct Built {
    pub data: SecretData,
    pub secret_type: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub immutable: Option<bool>,
}

type Planned = Result<Plan, (Arc<ExternalObject>, String)>;

/// One plan (or the reason there is none) per target, in path order.
pub fn plans(
    objects: &[Arc<ExternalObject>],
    secrets: &Secrets,
    default_store: Option<&str>,
    env: &EnvCredentials,
) -> Vec<(SecretKey, Planned)> {
    let mut namespaced: HashMap<(&str, &str), &Arc<ExternalObject>> = HashMap::new();
    let mut cluster: HashMap<&str, &Arc<ExternalObject>> = HashMap::new();
    for o in objects {
        if let ExternalDoc::Store(s) = &o.doc {
            match s.kind {
                StoreKind::SecretStore => {
                    namespaced.insert((o.namespace.as_str(), s.metadata.name.as_str()), o);
                }
                StoreKind::ClusterSecretStore => {
                    cluster.insert(s.metadata.name.as_str(), o);
                }
            }
        }
    }
    let find = |ns: &str, r: &StoreRef| -> Result<StoreUse, String> {
        let o = match r.kind {
            StoreKind::SecretStore => namespaced.get(&(ns, r.name.as_str())).copied().ok_or_else(|| {
                let elsewhere: Vec<&str> = namespaced
                    .keys()
                    .filter(|(_, n)| *n == r.name)
                    .map(|(n, _)| *n)
                    .collect();
                match elsewhere.is_empty() {
                    true => format!("unknown store: no SecretStore {ns}/{} in git", r.name),
                    false => format!(
                        "SecretStore {} is in namespace {} only; a SecretStore serves its own namespace ({ns})",
                        r.name,
                        elsewhere.join(", ")
                    ),
                }
            })?,
            StoreKind::ClusterSecretStore => cluster
                .get(r.name.as_str())
                .copied()
                .ok_or_else(|| format!("unknown store: no ClusterSecretStore {} in git (or its path is not allowed)", r.name))?,
        };
        let ExternalDoc::Store(s) = &o.doc else {
            return Err("not a store".into());
        };
        if !sealsync_external::conditions::cluster_store_allows(s, ns, &BTreeMap::new()) {
            return Err(format!(
                "ClusterSecretStore {} does not allow namespace {ns}",
                r.name
            ));
        }
        let display = stores::display(s.kind, &o.namespace, &s.metadata.name);
        Ok(StoreUse {
            id: format!("{display} for {ns}"),
            display,
            object: Arc::clone(o),
            credentials: stores::credentials(s, (&o.namespace, ns), secrets, env),
        })
    };
    let mut out = Vec::new();
    for o in objects {
        let Some(key) = o.target() else { continue };
        let planned = match &o.doc {
            ExternalDoc::Secret(es) => plan_es(o, es, &find),
            ExternalDoc::Avp(s) => plan_avp(o, s, default_store, &find),
            ExternalDoc::Store(_) => continue,
        };
        out.push((key, planned.map_err(|why| (Arc::clone(o), why))));
    }
    out
}

fn plan_es(
    o: &Arc<ExternalObject>,
    es: &sealsync_external::ExternalSecret,
    find: &dyn Fn(&str, &StoreRef) -> Result<StoreUse, String>,
) -> Result<Plan, String> {
    if let Some(why) = super::policy_refusal(es.target.creation_policy, es.target.deletion_policy) {
        return Err(why.into());
    }
    let store_ref = es
        .store_ref
        .as_ref()
        .ok_or("spec.secretStoreRef is required")?;
    let mut refs = Vec::new();
    let mut push = |r: &sealsync_external::RemoteRef, own: Option<&StoreRef>| {
        if own.is_some_and(|s| s != store_ref) {
            return Err("a store per data entry is not supported yet".to_string());
        }
        let r = RemoteRef {
            key: r.key.clone(),
            version: r.version.clone(),
        };
        if !refs.contains(&r) {
            refs.push(r);
        }
        Ok(())
    };
    for item in &es.data {
        push(&item.remote_ref, item.store_ref.as_ref())?;
    }
    let mut finds = Vec::new();
    for entry in &es.data_from {
        match &entry.source {
            DataFromSource::Extract(r) => push(r, entry.store_ref.as_ref())?,
            DataFromSource::Find(f) => {
                if entry.store_ref.as_ref().is_some_and(|s| s != store_ref) {
                    return Err("a store per data entry is not supported yet".to_string());
                }
                let q = find_query(f);
                if !finds.contains(&q) {
                    finds.push(q);
                }
            }
        }
    }
    let store = find(&o.namespace, store_ref)?;
    Ok(Plan {
        object: Arc::clone(o),
        store,
        refs,
        finds,
        avp_ids: Vec::new(),
    })
}

/// The provider's query for a `dataFrom[].find`.
pub fn find_query(f: &sealsync_external::Find) -> FindQuery {
    FindQuery {
        path: f.path.clone(),
        name_regex: f.name_regexp.clone(),
        tags: f.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    }
}

fn plan_avp(
    o: &Arc<ExternalObject>,
    s: &avp::AvpSecret,
    default_store: Option<&str>,
    find: &dyn Fn(&str, &StoreRef) -> Result<StoreUse, String>,
) -> Result<Plan, String> {
    let name = s
        .store
        .as_deref()
        .or(default_store)
        .ok_or("no store: annotate the Secret with sealsync.dev/store or run the agent with --default-store")?;
    let mut r = StoreRef {
        name: name.to_string(),
        kind: StoreKind::SecretStore,
    };
    let store = find(&o.namespace, &r).or_else(|e| {
        r.kind = StoreKind::ClusterSecretStore;
        find(&o.namespace, &r).map_err(|_| e)
    })?;
    let ExternalDoc::Store(st) = &store.object.doc else {
        return Err("not a store".into());
    };
    let mut avp_ids = Vec::new();
    for id in s.secrets_to_fetch() {
        let key = match &st.provider {
            store::Provider::Vault(v) => {
                let kv = s.kv_version.unwrap_or(match v.version {
                    store::KvVersion::V1 => 1,
                    store::KvVersion::V2 => 2,
                });
                avp::split_vault_path(&id.path, kv, v.path.as_deref())
                    .map(|(_, k)| k)
                    .ok_or_else(|| {
                        format!(
                            "placeholder path {} does not fit the store's KV mount",
                            id.path
                        )
                    })?
            }
            _ => id.path.clone(),
        };
        let remote = RemoteRef {
            key,
            version: id.version.clone(),
        };
        avp_ids.push((id, remote));
    }
    let refs = avp_ids.iter().map(|(_, r)| r.clone()).collect();
    Ok(Plan {
        object: Arc::clone(o),
        store,
        refs,
        finds: Vec::new(),
        avp_ids,
    })
}

/// What a `dataFrom[].find` found: (remote key, value) pairs.
pub type Found = Vec<(String, SecretValue)>;

/// The Secret of `p` from the cached values (`get`: None = not found, Err = unknown right now;
/// `found`: what a find query returned).
pub fn build(
    p: &Plan,
    get: &dyn Fn(&RemoteRef) -> Result<Option<SecretValue>, String>,
    found: &dyn Fn(&FindQuery) -> Result<Found, String>,
) -> Result<Built, String> {
    let r = |x: &sealsync_external::RemoteRef| RemoteRef {
        key: x.key.clone(),
        version: x.version.clone(),
    };
    match &p.object.doc {
        ExternalDoc::Secret(es) => {
            let data: Vec<Option<SecretValue>> = es
                .data
                .iter()
                .map(|i| get(&r(&i.remote_ref)))
                .collect::<Result<_, _>>()?;
            let mut data_from = Vec::new();
            for entry in &es.data_from {
                data_from.push(match &entry.source {
                    DataFromSource::Extract(x) => get(&r(x))?.map(Fetched::Extract),
                    DataFromSource::Find(f) => Some(Fetched::Find(found(&find_query(f))?)),
                });
            }
            let t = Some(&EsoTemplates as &dyn sealsync_external::pipeline::TemplateRenderer);
            let d = build_data(es, &data_from, &data, t).map_err(|e| e.to_string())?;
            let out = apply_target(es, d, &BTreeMap::new(), t).map_err(|e| e.to_string())?;
            Ok(Built {
                data: out.data,
                secret_type: out.secret_type,
                labels: out.labels,
                annotations: out.annotations,
                immutable: out.immutable.then_some(true),
            })
        }
        ExternalDoc::Avp(s) => {
            let mut fetched = BTreeMap::new();
            for (id, remote) in &p.avp_ids {
                if let Some(v) = get(remote)? {
                    fetched.insert(id.clone(), v);
                }
            }
            let resolved = avp::resolve(s, &fetched).map_err(|e| e.to_string())?;
            let data = avp::fill(s, &resolved).map_err(|e| e.to_string())?;
            let mut annotations = s.metadata.annotations.clone();
            annotations.retain(|k, _| {
                !k.starts_with("avp.kubernetes.io/") && k != avp::parse::STORE_ANNOTATION
            });
            Ok(Built {
                data,
                secret_type: s.secret_type.clone(),
                labels: s.metadata.labels.clone(),
                annotations,
                immutable: s.immutable,
            })
        }
        ExternalDoc::Store(_) => Err("a store is not a Secret".into()),
    }
}
