//! The desired state the agent materializes: one `DesiredSecret` per Secret declared in git, with its
//! decrypted values held in zeroizing buffers and tagged with the file and commit it came from.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use hmac::{Hmac, Mac};

pub use crate::small_map::SmallMap;
use sha2::Sha256;
use zeroize::Zeroizing;

/// Namespace and name of a Secret.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretKey {
    pub namespace: String,
    pub name: String,
}

impl SecretKey {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> SecretKey {
        SecretKey {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A secret value: bytes that are zeroized when dropped and never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    pub fn new(bytes: Vec<u8>) -> SecretBytes {
        SecretBytes(Zeroizing::new(bytes))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0.len())
    }
}

/// Where a desired Secret was declared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// Path of the file, relative to the repository root.
    pub path: String,
    /// The commit the file was read at.
    pub commit: String,
}

/// A Secret as git declares it, values decrypted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredSecret {
    pub key: SecretKey,
    /// The Secret `type` (`Opaque` when unset).
    pub secret_type: String,
    pub labels: SmallMap<String>,
    pub annotations: SmallMap<String>,
    /// Every value, `stringData` folded into `data` as the API server does.
    pub data: SmallMap<SecretBytes>,
    pub immutable: Option<bool>,
    pub source: Source,
    /// `sealsync.dev/adopt: "true"`: take over an existing Secret that sealsync does not manage yet.
    pub adopt: bool,
    /// An ExternalSecret's `target.creationPolicy: Merge`: only these keys are written, into an
    /// existing Secret that sealsync does not manage; it is never created, labelled, pruned or
    /// deleted, and its other keys, labels and annotations are left as they are.
    pub merge: bool,
    /// The fingerprint, once computed by `shared_fingerprint`.
    pub memo: FingerprintMemo,
}

/// A fingerprint remembered with the key it was made under. A clone starts empty (it may be changed
/// before its own fingerprint is asked for); it never takes part in comparisons.
#[derive(Default)]
pub struct FingerprintMemo(OnceLock<(u64, String)>);

impl Clone for FingerprintMemo {
    fn clone(&self) -> FingerprintMemo {
        FingerprintMemo::default()
    }
}

impl PartialEq for FingerprintMemo {
    fn eq(&self, _: &FingerprintMemo) -> bool {
        true
    }
}

impl Eq for FingerprintMemo {}

impl fmt::Debug for FingerprintMemo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FingerprintMemo")
    }
}

/// The annotation that keeps a Secret when its source leaves git: pruning releases it (sealsync's
/// labels and annotations removed, values kept) instead of deleting it. An ExternalSecret's
/// `target.creationPolicy: Orphan` sets it; a file may set it too, as Flux's
/// `kustomize.toolkit.fluxcd.io/prune: disabled` does.
pub const PRUNE_ANNOTATION: &str = "sealsync.dev/prune";
/// Its one value.
pub const PRUNE_DISABLED: &str = "disabled";

impl DesiredSecret {
    /// Whether pruning releases this Secret rather than deleting it (`PRUNE_ANNOTATION`).
    pub fn kept_on_removal(&self) -> bool {
        self.annotations.get(PRUNE_ANNOTATION).map(String::as_str) == Some(PRUNE_DISABLED)
    }
}

/// Total size of the values, as the API server counts it against its 1 MiB limit.
impl DesiredSecret {
    pub fn data_size(&self) -> usize {
        self.data.iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    /// An HMAC over everything sealsync sets on the Secret (type, labels, annotations, data), so that a
    /// change made by hand is noticed without comparing — or storing — the values themselves. A plain
    /// hash would let a low-entropy value be guessed from it; the key lives only in the cluster.
    ///
    /// Computed afresh at every call: see `shared_fingerprint` for Secrets that no longer change.
    pub fn fingerprint(&self, key: &FingerprintKey) -> String {
        #[cfg(test)]
        tests_support::FINGERPRINTS.with(|n| n.set(n.get() + 1));
        let mut mac = key.mac();
        let mut field = |bytes: &[u8]| {
            mac.update(&(bytes.len() as u64).to_be_bytes());
            mac.update(bytes);
        };
        field(b"type");
        field(self.secret_type.as_bytes());
        for (name, map) in [("labels", &self.labels), ("annotations", &self.annotations)] {
            field(name.as_bytes());
            field(&(map.len() as u64).to_be_bytes());
            for (k, v) in map {
                field(k.as_bytes());
                field(v.as_bytes());
            }
        }
        field(b"data");
        field(&(self.data.len() as u64).to_be_bytes());
        for (k, v) in &self.data {
            field(k.as_bytes());
            field(v.expose());
        }
        field(b"immutable");
        field(match self.immutable {
            None => b"unset",
            Some(true) => b"true",
            Some(false) => b"false",
        });
        hex::encode(mac.finalize().into_bytes())
    }
}

impl DesiredSecret {
    /// The fingerprint, computed once per key for a Secret shared behind an `Arc` (which nothing
    /// changes any more): a pass compares every desired Secret with what the sink recorded, and the
    /// HMAC over every value would otherwise be most of a pass that changes nothing.
    pub fn shared_fingerprint(self: &Arc<Self>, key: &FingerprintKey) -> String {
        match self.memo.0.get() {
            Some((id, fingerprint)) if *id == key.id => fingerprint.clone(),
            Some(_) => self.fingerprint(key),
            None => self
                .memo
                .0
                .get_or_init(|| (key.id, self.fingerprint(key)))
                .1
                .clone(),
        }
    }
}

/// The key of the fingerprint HMAC (at least 32 random bytes; in the cluster, kept in a Secret).
#[derive(Clone)]
pub struct FingerprintKey {
    bytes: Zeroizing<Vec<u8>>,
    /// Tells keys apart for `FingerprintMemo` without keeping anything derived from the bytes.
    id: u64,
}

impl FingerprintKey {
    pub fn new(bytes: Vec<u8>) -> FingerprintKey {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        FingerprintKey {
            bytes: Zeroizing::new(bytes),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// A fresh random key (for sinks that need no key shared across restarts).
    pub fn generate() -> FingerprintKey {
        use rand::RngCore;
        let mut bytes = vec![0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        FingerprintKey::new(bytes)
    }

    pub fn expose(&self) -> &[u8] {
        &self.bytes
    }

    pub(crate) fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.bytes).expect("HMAC takes keys of any length")
    }
}

impl fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FingerprintKey(<redacted>)")
    }
}

/// The one way tests across the crate make a desired Secret: `secret(ns, name)` with defaults (an
/// Opaque Secret holding `password: hunter2`, from `apps/<ns>/<name>.yaml` at a fixed commit), then
/// the `with_*` changes a test needs.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    thread_local! {
        /// How many fingerprints (HMACs over every value) this thread computed.
        pub static FINGERPRINTS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// The count of fingerprints computed on this thread so far.
    pub fn fingerprints() -> usize {
        FINGERPRINTS.with(std::cell::Cell::get)
    }

    pub fn secret(namespace: &str, name: &str) -> DesiredSecret {
        DesiredSecret {
            key: SecretKey::new(namespace, name),
            secret_type: "Opaque".into(),
            labels: SmallMap::new(),
            annotations: SmallMap::new(),
            data: SmallMap::from([(
                "password".to_string(),
                SecretBytes::new(b"hunter2".to_vec()),
            )]),
            immutable: None,
            source: Source {
                path: format!("apps/{namespace}/{name}.yaml"),
                commit: "abc1234def5678".into(),
            },
            adopt: false,
            merge: false,
            memo: Default::default(),
        }
    }

    /// `team-a/db`.
    pub fn sample() -> DesiredSecret {
        secret("team-a", "db")
    }

    impl DesiredSecret {
        /// These keys and values instead of the default password.
        pub fn with_data(mut self, pairs: &[(&str, &str)]) -> DesiredSecret {
            self.data = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), SecretBytes::new(v.as_bytes().to_vec())))
                .collect();
            self
        }

        pub fn with_label(mut self, key: &str, value: &str) -> DesiredSecret {
            self.labels.insert(key.into(), value.into());
            self
        }

        /// From `path` in git at `commit`.
        pub fn with_source(mut self, path: &str, commit: &str) -> DesiredSecret {
            self.source = Source {
                path: path.into(),
                commit: commit.into(),
            };
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::sample;
    use super::*;

    #[test]
    fn fingerprint_changes_with_any_field_and_key() {
        let key = FingerprintKey::new(vec![1; 32]);
        let a = sample();
        let base = a.fingerprint(&key);
        let mut b = a.clone();
        b.data
            .insert("password".into(), SecretBytes::new(b"hunter3".to_vec()));
        assert_ne!(b.fingerprint(&key), base);
        let mut c = a.clone();
        c.labels.insert("x".into(), "y".into());
        assert_ne!(c.fingerprint(&key), base);
        assert_ne!(a.fingerprint(&FingerprintKey::new(vec![2; 32])), base);
        let mut d = a.clone();
        d.source.commit = "def".into();
        assert_eq!(
            d.fingerprint(&key),
            base,
            "the source does not change what is applied"
        );
    }

    #[test]
    fn a_shared_fingerprint_is_remembered_per_key() {
        let a = Arc::new(sample());
        let one = FingerprintKey::new(vec![1; 32]);
        let two = FingerprintKey::new(vec![2; 32]);
        assert_eq!(a.shared_fingerprint(&one), a.fingerprint(&one));
        assert_eq!(a.shared_fingerprint(&one), a.fingerprint(&one));
        assert_eq!(a.shared_fingerprint(&two), a.fingerprint(&two));
        let mut changed = (*a).clone();
        changed.labels.insert("x".into(), "y".into());
        let changed = Arc::new(changed);
        assert_ne!(changed.shared_fingerprint(&one), a.shared_fingerprint(&one));
    }

    #[test]
    fn debug_hides_values() {
        assert!(!format!("{:?}", sample()).contains("hunter2"));
    }
}
