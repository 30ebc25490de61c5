//! The desired Secrets the drift watch protects, shared with the reconcile loop.

use std::sync::{Arc, RwLock};

use crate::desired::{DesiredSecret, SecretKey};

/// The desired Secrets the drift watch protects, shared with the reconcile loop.
///
/// The reconcile loop updates an entry *before* applying it and removes one *before* deleting the
/// Secret, so the watch never puts back an older version, nor a Secret being pruned.
///
/// A persistent map: sharing the engine's desired state costs nothing (`share`), and the watch holds
/// no second copy of the keys, let alone of the values.
#[derive(Clone, Default)]
pub struct DesiredStore {
    inner: Arc<RwLock<Secrets>>,
}

/// The desired Secrets by key, as the engine computes them.
pub type Secrets = imbl::OrdMap<SecretKey, Arc<DesiredSecret>>;

impl DesiredStore {
    pub fn new() -> DesiredStore {
        DesiredStore::default()
    }

    pub fn insert(&self, desired: impl Into<Arc<DesiredSecret>>) {
        let desired = desired.into();
        self.write().insert(desired.key.clone(), desired);
    }

    pub fn remove(&self, key: &SecretKey) -> Option<Arc<DesiredSecret>> {
        self.write().remove(key)
    }

    /// Replaces everything at once (a whole commit's desired state). Given the engine's `Arc`s, the
    /// store shares them: no second copy of every decrypted value is held for the watch.
    #[cfg(test)]
    pub(crate) fn replace_all<D: Into<Arc<DesiredSecret>>>(
        &self,
        all: impl IntoIterator<Item = D>,
    ) {
        let map = all
            .into_iter()
            .map(|d| {
                let d = d.into();
                (d.key.clone(), d)
            })
            .collect();
        *self.write() = map;
    }

    /// Shares `secrets` (the engine's desired state) as the whole of the store.
    pub fn share(&self, secrets: &Secrets) {
        *self.write() = secrets.clone();
    }

    pub fn get(&self, key: &SecretKey) -> Option<Arc<DesiredSecret>> {
        self.read().get(key).cloned()
    }

    pub fn contains(&self, key: &SecretKey) -> bool {
        self.read().contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    pub(super) fn keys_in(&self, namespace: &str) -> Vec<SecretKey> {
        self.read()
            .keys()
            .filter(|k| k.namespace == namespace)
            .cloned()
            .collect()
    }

    // Every critical section is a single map operation, so a poisoned lock holds consistent data.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Secrets> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Secrets> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::fmt::Debug for DesiredStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DesiredStore")
            .field("secrets", &self.len())
            .finish()
    }
}
