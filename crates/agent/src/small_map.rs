//! The small string-keyed maps a Secret carries (values, labels, annotations), held for the life of
//! the agent: sorted by key, as a `BTreeMap` iterates, but in one exactly sized vector. A `BTreeMap`
//! allocates a node of eleven entries for its first key (over 500 bytes for string pairs), and a
//! Secret has a handful of keys: with thousands of Secrets desired, that node was the largest part of
//! the agent's heap.

use std::collections::BTreeMap;
use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct SmallMap<V>(Vec<(String, V)>);

impl<V> SmallMap<V> {
    pub const fn new() -> SmallMap<V> {
        SmallMap(Vec::new())
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// Sets `key` to `value`; returns the value it replaced.
    pub fn insert(&mut self, key: String, value: V) -> Option<V> {
        match self.position(&key) {
            Ok(at) => Some(std::mem::replace(&mut self.0[at].1, value)),
            Err(at) => {
                self.0.insert(at, (key, value));
                None
            }
        }
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.position(key).ok().map(|at| &self.0[at].1)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_ok()
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        self.position(key).ok().map(|at| self.0.remove(at).1)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&String, &V)> + '_ {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl ExactSizeIterator<Item = &String> + '_ {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl ExactSizeIterator<Item = &V> + '_ {
        self.0.iter().map(|(_, v)| v)
    }

    /// Frees the capacity a map built entry by entry grew beyond its size.
    pub fn shrink_to_fit(&mut self) {
        self.0.shrink_to_fit();
    }
}

impl<V> Default for SmallMap<V> {
    fn default() -> SmallMap<V> {
        SmallMap::new()
    }
}

impl<V> FromIterator<(String, V)> for SmallMap<V> {
    /// The last value of a repeated key wins, as with `BTreeMap`.
    fn from_iter<I: IntoIterator<Item = (String, V)>>(entries: I) -> SmallMap<V> {
        let mut all: Vec<(String, V)> = entries.into_iter().collect();
        // Stable: equal keys keep their order, and the last of them is kept below.
        all.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(String, V)> = Vec::with_capacity(all.len());
        for entry in all {
            match out.last_mut() {
                Some(last) if last.0 == entry.0 => *last = entry,
                _ => out.push(entry),
            }
        }
        out.shrink_to_fit();
        SmallMap(out)
    }
}

impl<V> From<BTreeMap<String, V>> for SmallMap<V> {
    fn from(map: BTreeMap<String, V>) -> SmallMap<V> {
        SmallMap(map.into_iter().collect())
    }
}

impl<V, const N: usize> From<[(String, V); N]> for SmallMap<V> {
    fn from(entries: [(String, V); N]) -> SmallMap<V> {
        entries.into_iter().collect()
    }
}

impl<'a, V> IntoIterator for &'a SmallMap<V> {
    type Item = (&'a String, &'a V);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, V)>,
        fn(&'a (String, V)) -> (&'a String, &'a V),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl<V> std::ops::Index<&str> for SmallMap<V> {
    type Output = V;

    /// The value of `key`; panics when there is none, as `BTreeMap` does.
    fn index(&self, key: &str) -> &V {
        self.get(key).expect("no entry for the key in the map")
    }
}

impl<V: fmt::Debug> fmt::Debug for SmallMap<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn behaves_as_a_btreemap(ops in proptest::collection::vec((0u8..3, "[a-d]{0,2}", 0u8..9), 0..40)) {
            let mut ours = SmallMap::new();
            let mut theirs = BTreeMap::new();
            for (op, key, value) in &ops {
                match op {
                    0 | 1 => prop_assert_eq!(ours.insert(key.clone(), *value), theirs.insert(key.clone(), *value)),
                    _ => prop_assert_eq!(ours.remove(key), theirs.remove(key)),
                }
                prop_assert_eq!(ours.get(key), theirs.get(key));
                prop_assert_eq!(ours.contains_key(key), theirs.contains_key(key));
            }
            prop_assert_eq!(ours.len(), theirs.len());
            prop_assert!(ours.iter().eq(theirs.iter()));
            let collected: SmallMap<u8> = ops.iter().map(|(_, k, v)| (k.clone(), *v)).collect();
            let expected: BTreeMap<String, u8> = ops.iter().map(|(_, k, v)| (k.clone(), *v)).collect();
            prop_assert!(collected.iter().eq(expected.iter()));
            prop_assert_eq!(SmallMap::from(expected.clone()), collected);
        }
    }
}
