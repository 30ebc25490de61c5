//! The retry schedules of the kube sink (failed reverts, the drift watch, applies, reverts fought by
//! another writer): kube-runtime's exponential backoff over backon's builder, not a hand copy.

use std::time::Duration;

use kube::runtime::watcher::ExponentialBackoff;

/// Delays that double from `min` up to `max`, forever. A value is a schedule: `start` gives a fresh
/// sequence (kube-runtime's [`ExponentialBackoff`], which `StreamBackoff` and `reset` understand).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    min: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
        }
    }

    /// As `new`, for constants (`max` must not be below `min`).
    pub(crate) const fn new_const(min: Duration, max: Duration) -> Backoff {
        Backoff { min, max }
    }

    /// The first delay.
    pub fn min(&self) -> Duration {
        self.min
    }

    /// The cap.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// A fresh sequence of delays. No jitter: one agent retries alone, and its schedule stays the
    /// one documented.
    pub fn start(&self) -> ExponentialBackoff {
        backon::ExponentialBuilder::default()
            .with_min_delay(self.min)
            .with_max_delay(self.max)
            .with_factor(2.0)
            .without_max_times()
            .into()
    }
}

impl Default for Backoff {
    /// 100 ms doubling to 30 s: failed reverts and applies.
    fn default() -> Backoff {
        Backoff::new(Duration::from_millis(100), Duration::from_secs(30))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::utils::Backoff as _;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let schedule = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        let mut b = schedule.start();
        let got: Vec<u64> = b.by_ref().take(5).map(|d| d.as_millis() as u64).collect();
        assert_eq!(got, [100, 200, 400, 500, 500]);
        b.reset();
        assert_eq!(b.next(), Some(Duration::from_millis(100)));
    }
}
