//! What keeps rejected requests cheap: token buckets, a per-source limit on rejections (answered 429)
//! in a table of bounded size, and rejection logging as one summary line per interval.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket's parameters: `burst` tokens at most, one more every `every`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rate {
    pub burst: f64,
    pub every: Duration,
}

/// A token bucket (refilled lazily, when looked at).
#[derive(Clone, Copy, Debug)]
pub(crate) struct TokenBucket {
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    pub fn full(rate: Rate, now: Instant) -> TokenBucket {
        TokenBucket {
            tokens: rate.burst,
            updated: now,
        }
    }

    fn refill(&mut self, rate: Rate, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated);
        self.tokens =
            (self.tokens + elapsed.as_secs_f64() / rate.every.as_secs_f64()).min(rate.burst);
        self.updated = now;
    }

    /// Whether a token is available (without taking it).
    pub fn has_token(&mut self, rate: Rate, now: Instant) -> bool {
        self.refill(rate, now);
        self.tokens >= 1.0
    }

    /// Takes a token if there is one.
    pub fn take(&mut self, rate: Rate, now: Instant) -> bool {
        self.refill(rate, now);
        // An empty bucket goes no lower: a flood is limited, not punished forever.
        let took = self.tokens >= 1.0;
        if took {
            self.tokens -= 1.0;
        }
        took
    }

    /// How long until a token is available.
    pub fn wait(&mut self, rate: Rate, now: Instant) -> Duration {
        self.refill(rate, now);
        rate.every.mul_f64((1.0 - self.tokens).max(0.0))
    }

    fn is_full(&mut self, rate: Rate, now: Instant) -> bool {
        self.refill(rate, now);
        self.tokens >= rate.burst
    }
}

/// Rejections a source may cause before it is answered 429: a burst of 20, then one a second.
pub(crate) const REJECTION_RATE: Rate = Rate {
    burst: 20.0,
    every: Duration::from_secs(1),
};

/// Sources tracked at once; past this, the least suspicious entry makes room (the table's memory is
/// bounded whatever the number of addresses a flood comes from).
pub(crate) const MAX_SOURCES: usize = 4096;

/// Per-source buckets of rejections.
#[derive(Debug)]
pub(crate) struct RejectLimiter {
    rate: Rate,
    capacity: usize,
    table: Mutex<HashMap<IpAddr, TokenBucket>>,
}

/// The key of a source: an IPv6 client controls at least a /64, so it is counted as one.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                IpAddr::V6(octets.into())
            }
        },
    }
}

impl RejectLimiter {
    pub fn new(rate: Rate, capacity: usize) -> RejectLimiter {
        RejectLimiter {
            rate,
            capacity: capacity.max(1),
            table: Mutex::new(HashMap::new()),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, TokenBucket>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `ip` may be served (it has not used up its rejections).
    pub fn allows(&self, ip: IpAddr, now: Instant) -> bool {
        let rate = self.rate;
        self.table()
            .get_mut(&source_key(ip))
            .is_none_or(|bucket| bucket.has_token(rate, now))
    }

    /// Counts one rejection against `ip`.
    pub fn rejected(&self, ip: IpAddr, now: Instant) {
        let rate = self.rate;
        let key = source_key(ip);
        let mut table = self.table();
        if !table.contains_key(&key) && table.len() >= self.capacity {
            // A full bucket is what a new entry would be: dropping those loses nothing. If none is
            // full, the one with the most tokens left (the least suspicious) goes.
            table.retain(|_, bucket| !bucket.is_full(rate, now));
            if table.len() >= self.capacity {
                let evict = table
                    .iter()
                    .max_by(|a, b| a.1.tokens.total_cmp(&b.1.tokens))
                    .map(|(k, _)| *k);
                if let Some(k) = evict {
                    table.remove(&k);
                }
            }
        }
        table
            .entry(key)
            .or_insert_with(|| TokenBucket::full(rate, now))
            .take(rate, now);
    }

    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.table().len()
    }
}

/// Why a request or connection was refused (a label in the summary line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Rejection {
    /// 401: no signature header, or a signature that does not match.
    Unauthorized,
    /// 413: the body is over the limit.
    TooLarge,
    /// 429: the source used up its rejections.
    RateLimited,
    /// 503: the webhook body budget is taken by other requests.
    Busy,
    /// 408: the request or its body did not arrive in time.
    Timeout,
    /// 400: an unreadable body.
    BadRequest,
    /// 404 or 405: no such endpoint here.
    NotFound,
    /// A connection closed unserved: the listener is at its connection limit.
    OverConnectionLimit,
    /// `accept` failed for lack of a resource (EMFILE, ENFILE, ENOBUFS...).
    AcceptFailed,
}

impl Rejection {
    const ALL: [Rejection; 9] = [
        Rejection::Unauthorized,
        Rejection::TooLarge,
        Rejection::RateLimited,
        Rejection::Busy,
        Rejection::Timeout,
        Rejection::BadRequest,
        Rejection::NotFound,
        Rejection::OverConnectionLimit,
        Rejection::AcceptFailed,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Rejection::Unauthorized => "unauthorized",
            Rejection::TooLarge => "too_large",
            Rejection::RateLimited => "rate_limited",
            Rejection::Busy => "busy",
            Rejection::Timeout => "timeout",
            Rejection::BadRequest => "bad_request",
            Rejection::NotFound => "not_found",
            Rejection::OverConnectionLimit => "over_connection_limit",
            Rejection::AcceptFailed => "accept_failed",
        }
    }

    /// Whether the source is to blame: a missing signature or an unknown path is; a full budget or a
    /// busy listener (which honest senders meet too) is not.
    pub fn counts_against_source(self) -> bool {
        matches!(
            self,
            Rejection::Unauthorized
                | Rejection::TooLarge
                | Rejection::Timeout
                | Rejection::BadRequest
                | Rejection::NotFound
        )
    }

    /// The rejection a response status stands for, if it is one a client caused.
    pub fn from_status(status: u16) -> Option<Rejection> {
        match status {
            400 | 431 => Some(Rejection::BadRequest),
            401 | 403 => Some(Rejection::Unauthorized),
            404 | 405 => Some(Rejection::NotFound),
            408 => Some(Rejection::Timeout),
            413 => Some(Rejection::TooLarge),
            429 => Some(Rejection::RateLimited),
            _ => None,
        }
    }
}

/// How often at most a summary of rejections is logged.
pub(crate) const SUMMARY_INTERVAL: Duration = Duration::from_secs(10);

/// Counts of rejections since the last summary line: a flood costs one log line per interval, not one
/// per request.
#[derive(Debug)]
pub(crate) struct RejectLog {
    counts: [AtomicU64; Rejection::ALL.len()],
    started: Instant,
    /// Milliseconds after `started` of the last summary (0: none yet).
    last_summary_ms: AtomicU64,
}

impl RejectLog {
    pub fn new() -> RejectLog {
        RejectLog {
            counts: Default::default(),
            started: Instant::now(),
            last_summary_ms: AtomicU64::new(0),
        }
    }

    /// Counts a rejection; logs the summary if the interval has passed since the last one.
    pub fn note(&self, rejection: Rejection) {
        self.counts[rejection as usize].fetch_add(1, Ordering::Relaxed);
        self.flush_if_due();
    }

    /// Logs the counts since the last summary, if there are any and the interval has passed.
    pub fn flush_if_due(&self) {
        let now_ms = self.started.elapsed().as_millis() as u64 + 1;
        let last = self.last_summary_ms.load(Ordering::Relaxed);
        let due = last == 0 || now_ms.saturating_sub(last) >= SUMMARY_INTERVAL.as_millis() as u64;
        // One caller wins the interval; the others only count.
        if due
            && self
                .last_summary_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.flush();
        }
    }

    /// Logs the counts since the last summary now, if there are any.
    pub fn flush(&self) {
        let counts: Vec<(&'static str, u64)> = Rejection::ALL
            .iter()
            .map(|r| {
                (
                    r.label(),
                    self.counts[*r as usize].swap(0, Ordering::Relaxed),
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        if counts.is_empty() {
            return;
        }
        let total: u64 = counts.iter().map(|(_, n)| n).sum();
        let detail = counts
            .iter()
            .map(|(label, n)| format!("{label}={n}"))
            .collect::<Vec<_>>()
            .join(" ");
        tracing::warn!(
            total,
            counts = %detail,
            "operations endpoints: requests rejected (summary, at most one line per {}s)",
            SUMMARY_INTERVAL.as_secs()
        );
    }
}

/// The rejection limiter and log that every listener of one agent shares.
#[derive(Debug)]
pub(crate) struct Guard {
    pub limiter: RejectLimiter,
    pub log: RejectLog,
}

impl Guard {
    pub fn new() -> Guard {
        Guard {
            limiter: RejectLimiter::new(REJECTION_RATE, MAX_SOURCES),
            log: RejectLog::new(),
        }
    }

    /// Whether a request from `ip` is served; if not, it is counted as rate-limited (answer 429).
    pub fn admit(&self, ip: IpAddr, now: Instant) -> bool {
        let admitted = self.limiter.allows(ip, now);
        if !admitted {
            self.log.note(Rejection::RateLimited);
        }
        admitted
    }

    /// Records how a request from `ip` was answered.
    pub fn answered(&self, ip: IpAddr, rejection: Option<Rejection>, now: Instant) {
        let Some(rejection) = rejection else {
            return;
        };
        self.log.note(rejection);
        if rejection.counts_against_source() {
            self.limiter.rejected(ip, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_limited_after_its_burst_and_recovers() {
        let rate = Rate {
            burst: 3.0,
            every: Duration::from_secs(1),
        };
        let limiter = RejectLimiter::new(rate, 16);
        let t0 = Instant::now();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..3 {
            assert!(limiter.allows(ip, t0));
            limiter.rejected(ip, t0);
        }
        assert!(!limiter.allows(ip, t0));
        assert!(limiter.allows("192.0.2.8".parse().unwrap(), t0));
        assert!(limiter.allows(ip, t0 + Duration::from_secs(1)));
    }

    #[test]
    fn ipv6_sources_count_per_64() {
        let limiter = RejectLimiter::new(REJECTION_RATE, 16);
        let t0 = Instant::now();
        for n in 0..100u16 {
            let ip: IpAddr = format!("2001:db8:1:2::{n:x}").parse().unwrap();
            limiter.rejected(ip, t0);
        }
        assert_eq!(limiter.tracked(), 1);
        assert!(!limiter.allows("2001:db8:1:2:ffff::1".parse().unwrap(), t0));
        assert!(limiter.allows("2001:db8:1:3::1".parse().unwrap(), t0));
    }

    #[test]
    fn the_table_is_bounded_and_keeps_the_worst_offenders() {
        let limiter = RejectLimiter::new(REJECTION_RATE, 8);
        let t0 = Instant::now();
        let flooder: IpAddr = "198.51.100.1".parse().unwrap();
        for _ in 0..100 {
            limiter.rejected(flooder, t0);
        }
        for n in 0..10_000u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            limiter.rejected(ip, t0);
            assert!(limiter.tracked() <= 8);
        }
        assert!(!limiter.allows(flooder, t0), "the flooder was evicted");
    }

    #[test]
    fn a_bucket_says_how_long_until_its_next_token() {
        let rate = Rate {
            burst: 1.0,
            every: Duration::from_secs(4),
        };
        let t0 = Instant::now();
        let mut bucket = TokenBucket::full(rate, t0);
        assert!(bucket.take(rate, t0));
        assert!(!bucket.take(rate, t0));
        assert_eq!(bucket.wait(rate, t0), Duration::from_secs(4));
        assert_eq!(
            bucket.wait(rate, t0 + Duration::from_secs(1)),
            Duration::from_secs(3)
        );
        assert!(bucket.take(rate, t0 + Duration::from_secs(4)));
    }
}
