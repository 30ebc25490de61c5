//! Per-Secret hold-off when another writer fights the agent: a Secret reverted again and again is
//! put back less and less often (exponential, capped), and the fight is announced once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kube::runtime::watcher::ExponentialBackoff;

use super::Backoff;
use crate::desired::SecretKey;

/// Reverts of one Secret that are never held back, however close together (a person fixing a
/// mistake, a deletion and a re-edit).
const FREE_REVERTS: u32 = 3;
/// The hold-off between the reverts of a fight: 1 s doubling to 5 minutes.
const HOLD: Backoff = Backoff::new_const(Duration::from_secs(1), Duration::from_secs(300));
/// A Secret left alone this long is no longer fought over (twice the cap, so a fight at the cap
/// never resets by itself).
const QUIET: Duration = Duration::from_secs(600);

struct Fight {
    reverts: u32,
    last: Instant,
    hold: ExponentialBackoff,
    until: Option<Instant>,
    announced: bool,
}

/// The fights under way, by Secret. Entries quiet for [`QUIET`] are dropped, so the map holds only
/// Secrets reverted recently.
#[derive(Default)]
pub(crate) struct Fights {
    by_key: HashMap<SecretKey, Fight>,
}

impl Fights {
    /// How long to wait before the next revert of `key` (None: at once).
    pub(crate) fn wait(&self, key: &SecretKey) -> Option<Duration> {
        let until = self.by_key.get(key)?.until?;
        let left = until.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    /// `key` was just reverted. Answers the hold-off before its next revert when this revert starts
    /// the fight (to be announced once), else None.
    pub(crate) fn reverted(&mut self, key: &SecretKey) -> Option<Duration> {
        let now = Instant::now();
        self.by_key
            .retain(|_, f| now.duration_since(f.last) < QUIET);
        let fight = self.by_key.entry(key.clone()).or_insert_with(|| Fight {
            reverts: 0,
            last: now,
            hold: HOLD.start(),
            until: None,
            announced: false,
        });
        fight.reverts += 1;
        fight.last = now;
        if fight.reverts <= FREE_REVERTS {
            return None;
        }
        let hold = fight.hold.next().unwrap_or(HOLD.max());
        fight.until = Some(now + hold);
        if fight.announced {
            return None;
        }
        fight.announced = true;
        Some(hold)
    }

    /// The cap of the hold-off, for messages.
    pub(crate) fn cap() -> Duration {
        HOLD.max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_off_after_the_free_reverts_and_announces_once() {
        let mut fights = Fights::default();
        let key = SecretKey::new("team-a", "db");
        for _ in 0..FREE_REVERTS {
            assert_eq!(fights.reverted(&key), None);
            assert_eq!(fights.wait(&key), None);
        }
        assert_eq!(fights.reverted(&key), Some(Duration::from_secs(1)));
        assert!(fights.wait(&key).is_some());
        assert_eq!(fights.reverted(&key), None, "announced once");
        let other = SecretKey::new("team-a", "api");
        assert_eq!(fights.wait(&other), None);
    }
}
