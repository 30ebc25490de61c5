//! Requests to refresh external references now (`POST /refresh`), coalesced until the reconcile loop
//! takes them: however many requests arrive, what waits is "everything" or a bounded set of Secrets.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use crate::desired::SecretKey;

/// Secrets named one by one before a pending request becomes "everything": the queue stays small
/// whatever a caller sends, and refreshing everything is a superset of any list.
pub const MAX_PENDING_SECRETS: usize = 256;

/// What the loop is asked to refresh.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Refresh {
    #[default]
    Nothing,
    /// Every reference.
    All,
    /// The references of these Secrets.
    Secrets(BTreeSet<SecretKey>),
}

impl Refresh {
    /// Adds `more` to what is asked for.
    fn merge(&mut self, more: Refresh) {
        *self = match (std::mem::take(self), more) {
            (Refresh::All, _) | (_, Refresh::All) => Refresh::All,
            (Refresh::Nothing, r) | (r, Refresh::Nothing) => r,
            (Refresh::Secrets(mut a), Refresh::Secrets(b)) => {
                a.extend(b);
                if a.len() > MAX_PENDING_SECRETS {
                    Refresh::All
                } else {
                    Refresh::Secrets(a)
                }
            }
        };
    }
}

/// The pending requests, shared by the HTTP handler (which adds) and the loop (which takes); clones
/// share them.
#[derive(Clone, Debug, Default)]
pub struct RefreshRequests {
    pending: Arc<Mutex<Refresh>>,
}

impl RefreshRequests {
    /// Asks for `secret`'s references to be refreshed, or every reference with `None`.
    pub fn request(&self, secret: Option<SecretKey>) {
        let more = match secret {
            Some(key) => Refresh::Secrets(BTreeSet::from([key])),
            None => Refresh::All,
        };
        self.lock().merge(more);
    }

    /// What was asked for since the last call.
    pub fn take(&self) -> Refresh {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Refresh> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: usize) -> SecretKey {
        SecretKey::new("team-a", format!("s{n}"))
    }

    #[test]
    fn requests_coalesce_and_stay_bounded() {
        let r = RefreshRequests::default();
        assert_eq!(r.take(), Refresh::Nothing);
        r.request(Some(key(1)));
        r.request(Some(key(1)));
        r.request(Some(key(2)));
        assert_eq!(r.take(), Refresh::Secrets(BTreeSet::from([key(1), key(2)])));
        assert_eq!(r.take(), Refresh::Nothing, "taking empties the queue");
        for n in 0..=MAX_PENDING_SECRETS {
            r.request(Some(key(n)));
        }
        assert_eq!(r.take(), Refresh::All, "too many names become everything");
        r.request(None);
        r.request(Some(key(1)));
        assert_eq!(r.take(), Refresh::All);
    }
}
