//! The in-memory object store: objects by resource, namespace and name, one global resourceVersion
//! counter, and the retained event history that watches start from.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::resources::{ResourceDef, ResourceId};
use crate::status::{ApiError, ApiResult, Target};

/// How many events are kept for watches to resume from before the oldest are compacted away.
const DEFAULT_RETAINED_EVENTS: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Added,
    Modified,
    Deleted,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Added => "ADDED",
            EventKind::Modified => "MODIFIED",
            EventKind::Deleted => "DELETED",
        }
    }
}

/// One change, as kept in the history and sent to watches.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub rv: u64,
    pub resource: ResourceId,
    pub kind: EventKind,
    pub object: Value,
    /// The object before a modification, so a label-selected watch can tell entering from leaving.
    pub previous: Option<Value>,
}

type Key = (String, String);

struct Inner {
    rv: u64,
    objects: BTreeMap<ResourceId, BTreeMap<Key, Value>>,
    history: VecDeque<Arc<StoredEvent>>,
    /// A watch from a resourceVersion below this one has lost events: 410 Gone.
    oldest_watchable: u64,
    retain: usize,
}

pub struct Store {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<StoredEvent>>,
}

/// What a new watch starts with: the retained events after its resourceVersion, then the live feed.
pub struct WatchStart {
    pub backlog: Vec<Arc<StoredEvent>>,
    pub snapshot: Vec<Value>,
    pub rv: u64,
    pub feed: broadcast::Receiver<Arc<StoredEvent>>,
}

pub fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn key_of(def: &ResourceDef, ns: &str, name: &str) -> Key {
    (
        if def.namespaced {
            ns.to_string()
        } else {
            String::new()
        },
        name.to_string(),
    )
}

pub fn target<'a>(def: &'a ResourceDef, name: &'a str) -> Target<'a> {
    Target {
        group: def.group,
        plural: def.plural,
        name,
    }
}

fn set_rv(obj: &mut Value, rv: u64) {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.insert("resourceVersion".into(), json!(rv.to_string()));
    }
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(4096);
        Store {
            inner: Mutex::new(Inner {
                rv: 1,
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                oldest_watchable: 1,
                retain: DEFAULT_RETAINED_EVENTS,
            }),
            tx,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data: every mutation is a single insert.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    pub fn get(&self, def: &ResourceDef, ns: &str, name: &str) -> Option<Value> {
        self.lock()
            .objects
            .get(&def.id())?
            .get(&key_of(def, ns, name))
            .cloned()
    }

    /// Objects of a resource (in one namespace, or all), ordered by namespace and name, with the
    /// resourceVersion the list is consistent at.
    pub fn list(&self, def: &ResourceDef, ns: Option<&str>) -> (Vec<Value>, u64) {
        let inner = self.lock();
        let items = inner
            .objects
            .get(&def.id())
            .map(|m| {
                m.iter()
                    .filter(|((ons, _), _)| ns.is_none_or(|n| n == ons))
                    .map(|(_, v)| v.clone())
                    .collect()
            })
            .unwrap_or_default();
        (items, inner.rv)
    }

    fn record(
        &self,
        inner: &mut Inner,
        def: &ResourceDef,
        kind: EventKind,
        object: Value,
        previous: Option<Value>,
    ) {
        let ev = Arc::new(StoredEvent {
            rv: inner.rv,
            resource: def.id(),
            kind,
            object,
            previous,
        });
        inner.history.push_back(ev.clone());
        while inner.history.len() > inner.retain {
            if let Some(old) = inner.history.pop_front() {
                inner.oldest_watchable = old.rv;
            }
        }
        // No receiver is fine: nobody watches.
        let _ = self.tx.send(ev);
    }

    /// Stores a new object (its metadata already complete), assigning the next resourceVersion.
    pub fn create(&self, def: &ResourceDef, mut obj: Value) -> ApiResult<Value> {
        let (ns, name) = (
            meta_str(&obj, "namespace").to_string(),
            meta_str(&obj, "name").to_string(),
        );
        let mut inner = self.lock();
        let key = key_of(def, &ns, &name);
        if inner
            .objects
            .get(&def.id())
            .is_some_and(|m| m.contains_key(&key))
        {
            return Err(ApiError::already_exists(target(def, &name)));
        }
        inner.rv += 1;
        set_rv(&mut obj, inner.rv);
        inner
            .objects
            .entry(def.id())
            .or_default()
            .insert(key, obj.clone());
        self.record(&mut inner, def, EventKind::Added, obj.clone(), None);
        Ok(obj)
    }

    /// Read-modify-write under the store lock: `change` sees the stored object and returns its new
    /// version, or the same value for a no-op (no new resourceVersion, no event).
    pub fn update(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        change: impl FnOnce(&Value) -> ApiResult<Value>,
    ) -> ApiResult<Value> {
        let mut inner = self.lock();
        let key = key_of(def, ns, name);
        let old = inner
            .objects
            .get(&def.id())
            .and_then(|m| m.get(&key))
            .cloned()
            .ok_or_else(|| ApiError::not_found(target(def, name)))?;
        let mut new = change(&old)?;
        set_rv(&mut new, inner.rv);
        let mut same = old.clone();
        set_rv(&mut same, inner.rv);
        if new == same {
            return Ok(old);
        }
        inner.rv += 1;
        set_rv(&mut new, inner.rv);
        if crate::objects::ready_to_go(&new) {
            // The last finalizer of an object being deleted is gone: it goes now.
            if let Some(m) = inner.objects.get_mut(&def.id()) {
                m.remove(&key);
            }
            self.record(&mut inner, def, EventKind::Deleted, new.clone(), None);
            return Ok(new);
        }
        inner
            .objects
            .entry(def.id())
            .or_default()
            .insert(key, new.clone());
        self.record(&mut inner, def, EventKind::Modified, new.clone(), Some(old));
        Ok(new)
    }

    /// Removes an object; the returned copy carries the deletion's resourceVersion.
    pub fn delete(&self, def: &ResourceDef, ns: &str, name: &str) -> ApiResult<Value> {
        let mut inner = self.lock();
        let key = key_of(def, ns, name);
        let mut obj = inner
            .objects
            .get_mut(&def.id())
            .and_then(|m| m.remove(&key))
            .ok_or_else(|| ApiError::not_found(target(def, name)))?;
        inner.rv += 1;
        set_rv(&mut obj, inner.rv);
        self.record(&mut inner, def, EventKind::Deleted, obj.clone(), None);
        Ok(obj)
    }

    /// Begins a watch. From `Some(rv)`: the retained events after it (410 if they are gone); from
    /// `None`: a snapshot of the current objects, to be sent as ADDED.
    pub fn watch(&self, def: &ResourceDef, from: Option<u64>) -> ApiResult<WatchStart> {
        let inner = self.lock();
        let feed = self.tx.subscribe();
        let id = def.id();
        match from {
            Some(rv) if rv < inner.oldest_watchable => Err(expired(rv, inner.oldest_watchable)),
            Some(rv) => Ok(WatchStart {
                backlog: inner
                    .history
                    .iter()
                    .filter(|e| e.rv > rv && e.resource == id)
                    .cloned()
                    .collect(),
                snapshot: Vec::new(),
                rv: inner.rv,
                feed,
            }),
            None => Ok(WatchStart {
                backlog: Vec::new(),
                snapshot: inner
                    .objects
                    .get(&id)
                    .map(|m| m.values().cloned().collect())
                    .unwrap_or_default(),
                rv: inner.rv,
                feed,
            }),
        }
    }

    /// Forgets the whole history: watches from any resourceVersion before now get 410 Gone.
    pub fn compact(&self) {
        let mut inner = self.lock();
        inner.history.clear();
        inner.oldest_watchable = inner.rv;
    }

    /// Keeps at most `n` events of history (compacting the older ones away).
    pub fn set_retained_events(&self, n: usize) {
        let mut inner = self.lock();
        inner.retain = n;
        while inner.history.len() > n {
            if let Some(old) = inner.history.pop_front() {
                inner.oldest_watchable = old.rv;
            }
        }
    }
}

/// The error of a watch from a compacted resourceVersion, as etcd3's watcher words it.
pub fn expired(requested: u64, oldest: u64) -> ApiError {
    ApiError::new(
        410,
        "Expired",
        format!("too old resource version: {requested} ({oldest})"),
    )
}
