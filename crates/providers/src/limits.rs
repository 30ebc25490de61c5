//! Bounds every store works within: timeouts, value size, concurrency, request rate and retries.

#[cfg(test)]
use crate::ErrorKind;
use crate::ProviderError;
use backon::{ExponentialBuilder, Retryable};
use std::future::Future;
use std::time::Duration;
use tokio::sync::{Mutex, Semaphore, SemaphorePermit};
use tokio::time::Instant;

/// Limits for one store. The defaults suit a cluster agent; tests shrink the backoff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Whole-request timeout (connect, send, read the body).
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Largest value accepted; a larger one is refused (`TooLarge`), never truncated.
    pub max_value_bytes: usize,
    /// Requests in flight to the store at once.
    pub concurrency: usize,
    /// Requests started per second, at most.
    pub requests_per_second: u32,
    /// Retries after the first attempt, for `Unavailable` and `Throttled` only.
    pub retries: usize,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Most keys `find` returns; a larger result is refused.
    pub max_find_results: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_value_bytes: 1024 * 1024,
            concurrency: 8,
            requests_per_second: 50,
            retries: 3,
            backoff_min: Duration::from_millis(200),
            backoff_max: Duration::from_secs(10),
            max_find_results: 1000,
        }
    }
}

/// Admission to one store: a concurrency semaphore and a minimum spacing between request starts.
pub(crate) struct Gate {
    slots: Semaphore,
    next_start: Mutex<Instant>,
    spacing: Duration,
}

impl Gate {
    pub(crate) fn new(limits: &Limits) -> Self {
        let rate = limits.requests_per_second.max(1);
        Gate {
            slots: Semaphore::new(limits.concurrency.max(1)),
            next_start: Mutex::new(Instant::now()),
            spacing: Duration::from_secs(1) / rate,
        }
    }

    /// Waits for a slot and for the rate limit; the permit is held for the request's duration.
    pub(crate) async fn admit(&self) -> Option<SemaphorePermit<'_>> {
        // The gate never closes its semaphore, so this is always Some; a closed one would mean no limit.
        let permit = self.slots.acquire().await.ok();
        let start = {
            let mut next = self.next_start.lock().await;
            let start = (*next).max(Instant::now());
            *next = start + self.spacing;
            start
        };
        tokio::time::sleep_until(start).await;
        permit
    }
}

impl Limits {
    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.backoff_min)
            .with_max_delay(self.backoff_max)
            .with_max_times(self.retries)
            .with_jitter()
    }
}

/// Runs `attempt` through the gate, retrying `Unavailable` and `Throttled` with exponential backoff.
pub(crate) async fn with_retries<T, F, Fut>(
    limits: &Limits,
    gate: &Gate,
    attempt: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let mut attempt = attempt;
    let once = || {
        let fut = attempt();
        async move {
            let _permit = gate.admit().await;
            fut.await
        }
    };
    once.retry(limits.backoff())
        .sleep(tokio::time::sleep)
        .when(ProviderError::is_retryable)
        .notify(|e, after| tracing::debug!(error = %e, retry_in = ?after, "retrying store request"))
        .await
}

/// Compiles a `find` name filter with bounded size (a regex from configuration is input).
pub(crate) fn name_regex(pattern: Option<&str>) -> Result<Option<regex::Regex>, String> {
    pattern
        .map(|p| {
            regex::RegexBuilder::new(p)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("name regexp: {e}"))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(concurrency: usize, rate: u32) -> Limits {
        Limits {
            concurrency,
            requests_per_second: rate,
            ..Limits::default()
        }
    }

    // The clock is tokio's paused test clock: the spacing is exact, not a wall-clock measurement.
    #[tokio::test(start_paused = true)]
    async fn requests_are_spaced_by_the_rate_limit() {
        let gate = Gate::new(&limits(8, 2));
        let start = Instant::now();
        for _ in 0..5 {
            drop(gate.admit().await);
        }
        assert_eq!(Instant::now() - start, Duration::from_millis(2000));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_is_capped() {
        let gate = Gate::new(&limits(2, 1000));
        let (a, b) = (gate.admit().await, gate.admit().await);
        assert!(a.is_some() && b.is_some());
        let third = tokio::time::timeout(Duration::from_secs(60), gate.admit()).await;
        assert!(
            third.is_err(),
            "a third request waits while two are in flight"
        );
        drop(a);
        assert!(gate.admit().await.is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn only_unavailable_and_throttled_are_retried() {
        let l = Limits {
            retries: 3,
            ..limits(8, 1000)
        };
        let gate = Gate::new(&l);
        for (kind, attempts) in [
            (ErrorKind::Throttled, 4),
            (ErrorKind::Unavailable, 4),
            (ErrorKind::NotFound, 1),
            (ErrorKind::Denied, 1),
        ] {
            let mut n = 0;
            let r: Result<(), _> = with_retries(&l, &gate, || {
                n += 1;
                async move { Err(ProviderError::new(kind, "s", "k", "x")) }
            })
            .await;
            assert_eq!(r.unwrap_err().kind(), kind);
            assert_eq!(n, attempts, "{kind:?}");
        }
    }
}
