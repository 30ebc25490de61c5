//! What the drift watch tells the reconcile loop, so a pass need not list every managed Secret: the
//! managed Secrets each watched namespace holds, and those that changed in a way the drift watch does
//! not repair itself (created or changed by someone else while not desired, or not yet written by
//! this process).
//!
//! The feed is trusted only while every permitted namespace's watch has completed its list and no
//! list had to be redone since the reconcile loop last listed everything (a dropped watch that
//! expired, `410 Gone`): until then `list_changes` lists the API server, as without a feed.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::desired::SecretKey;
use crate::sink::{Listing, ManagedSecret};

#[derive(Default)]
pub(crate) struct Feed {
    /// The drift watch runs.
    running: bool,
    /// Per watched namespace, the managed Secrets it holds, once its list completed (None before).
    namespaces: HashMap<String, Option<HashSet<String>>>,
    /// A namespace was listed again since the last full listing: events may have been missed.
    gap: bool,
    /// For the next pass: Secrets the drift watch leaves to it, with their source annotation.
    changed: BTreeMap<SecretKey, Option<String>>,
}

impl Feed {
    /// The drift watch starts (or stops) over `namespaces`.
    pub(crate) fn running(&mut self, running: bool, namespaces: impl Iterator<Item = String>) {
        self.running = running;
        self.namespaces = namespaces.map(|ns| (ns, None)).collect();
        self.changed.clear();
        self.gap = true;
    }

    /// A namespace's watch (re)starts its list: what it knew is void until the list completes.
    pub(crate) fn listing(&mut self, namespace: &str) {
        if let Some(known) = self.namespaces.get_mut(namespace) {
            if known.is_some() {
                self.gap = true;
            }
            *known = None;
        }
    }

    /// The list of `namespace` completed with these managed Secrets.
    pub(crate) fn listed(&mut self, namespace: &str, names: HashSet<String>) {
        if let Some(known) = self.namespaces.get_mut(namespace) {
            *known = Some(names);
        }
    }

    /// A managed Secret exists (added or modified); `for_pass`: the drift watch leaves it to the
    /// next pass.
    pub(crate) fn present(&mut self, key: &SecretKey, source: Option<String>, for_pass: bool) {
        if let Some(Some(names)) = self.namespaces.get_mut(&key.namespace) {
            names.insert(key.name.clone());
        }
        if for_pass {
            self.changed.insert(key.clone(), source);
        }
    }

    /// A managed Secret is gone (deleted, or its label removed).
    pub(crate) fn gone(&mut self, key: &SecretKey, source: Option<String>, for_pass: bool) {
        if let Some(Some(names)) = self.namespaces.get_mut(&key.namespace) {
            names.remove(&key.name);
        }
        if for_pass {
            self.changed.insert(key.clone(), source);
        }
    }

    /// The reconcile loop listed everything: changes are counted from now.
    pub(crate) fn full_listing(&mut self) {
        self.gap = false;
        self.changed.clear();
    }

    /// What changed since the last listing, or None when the feed cannot tell.
    pub(crate) fn changes(&mut self) -> Option<Listing> {
        let complete = self.namespaces.values().all(Option::is_some);
        if !self.running || self.gap || !complete {
            return None;
        }
        let managed = self.namespaces.values().flatten().map(HashSet::len).sum();
        let changed = std::mem::take(&mut self.changed)
            .into_iter()
            .map(|(key, source_path)| ManagedSecret {
                key,
                fingerprint: None,
                source_path,
            })
            .collect();
        Some(Listing::Changes { changed, managed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> HashSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn changes(feed: &mut Feed) -> Option<(Vec<String>, usize)> {
        match feed.changes()? {
            Listing::Changes { changed, managed } => Some((
                changed.into_iter().map(|m| m.key.to_string()).collect(),
                managed,
            )),
            Listing::Full(_) => unreachable!(),
        }
    }

    #[test]
    fn trusted_only_while_every_watch_is_listed_and_no_list_was_redone() {
        let mut feed = Feed::default();
        assert!(feed.changes().is_none(), "no watch");
        feed.running(true, ["a".to_string(), "b".to_string()].into_iter());
        feed.listed("a", names(&["x", "y"]));
        assert!(feed.changes().is_none(), "b is not listed yet");
        feed.listed("b", names(&[]));
        assert!(
            feed.changes().is_none(),
            "no full listing since the watch started"
        );
        feed.full_listing();
        assert_eq!(changes(&mut feed), Some((vec![], 2)));

        let key = SecretKey::new("b", "new");
        feed.present(&key, Some("b.yaml".into()), true);
        feed.present(&SecretKey::new("a", "x"), None, false);
        assert_eq!(changes(&mut feed), Some((vec!["b/new".to_string()], 3)));
        assert_eq!(changes(&mut feed), Some((vec![], 3)), "reported once");
        feed.gone(&key, None, false);
        assert_eq!(changes(&mut feed), Some((vec![], 2)));

        // A watch that lists again (410 Gone): untrusted until the next full listing.
        feed.listing("a");
        feed.listed("a", names(&["x"]));
        assert!(feed.changes().is_none());
        feed.full_listing();
        assert_eq!(changes(&mut feed), Some((vec![], 1)));
        feed.running(false, std::iter::empty());
        assert!(feed.changes().is_none());
    }
}
