//! The agent's Prometheus metrics: one registry, typed recorders, and OpenMetrics text encoding.
//!
//! Every label value comes from a fixed enum below, so nothing read from git or from a secret store
//! can reach a label (and series cardinality stays bounded). All label combinations are created at
//! start-up with value 0, so `rate()` and `increase()` see a series before its first event.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::reason::Reason;
use crate::sink::{ApplyOutcome, DriftKind};

/// The `Content-Type` of [`Metrics::encode`]'s output, as the OpenMetrics 1.0 spec names it.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Buckets for a whole reconcile: from a no-op pass over a small repo to a slow cluster.
const RECONCILE_BUCKETS: [f64; 12] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];
/// Buckets for one git fetch: loopback up to a large repository over a slow link.
const FETCH_BUCKETS: [f64; 11] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];

/// A closed set of label values: the enum, its `as_str`, `Display`, `ALL`, and the label encoding.
macro_rules! label_values {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $value:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The label value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $value,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl EncodeLabelValue for $name {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
                encoder.write_str(self.as_str())
            }
        }
    };
}

label_values! {
    /// `outcome` of `sealsync_secrets_applied_total`.
    pub enum AppliedOutcome {
        Created => "created",
        Updated => "updated",
    }
}

/// `kind` of `sealsync_drift_reverted_total`: the sinks' own [`DriftKind`].
impl EncodeLabelValue for DriftKind {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

label_values! {
    /// `kind` of `sealsync_workload_restarts_total`: the apps/v1 kind restarted.
    pub enum RestartKind {
        Deployment => "deployment",
        StatefulSet => "statefulset",
        DaemonSet => "daemonset",
    }
}

/// `reason` of `sealsync_errors_total`: the [`Reason`] a refusal carries everywhere else too.
impl EncodeLabelValue for Reason {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.code())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: AppliedOutcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DriftLabels {
    kind: DriftKind,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RestartLabels {
    kind: RestartKind,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: Reason,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    reconcile_duration: Histogram,
    secrets_applied: Family<OutcomeLabels, Counter>,
    secrets_pruned: Counter,
    drift_reverted: Family<DriftLabels, Counter>,
    workload_restarts: Family<RestartLabels, Counter>,
    errors: Family<ReasonLabels, Counter>,
    last_success: Gauge<f64, AtomicU64>,
    managed_secrets: Gauge,
    git_fetch_duration: Histogram,
    leader: Gauge,
    /// Set from the allocator when the metrics are read; absent where it cannot be read.
    heap_in_use: Option<Gauge>,
}

/// The agent's metrics. Clones share one registry; record from any task.
#[derive(Clone, Debug)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let reconcile_duration = Histogram::new(RECONCILE_BUCKETS);
        let secrets_applied = Family::<OutcomeLabels, Counter>::default();
        let secrets_pruned = Counter::default();
        let drift_reverted = Family::<DriftLabels, Counter>::default();
        let workload_restarts = Family::<RestartLabels, Counter>::default();
        let errors = Family::<ReasonLabels, Counter>::default();
        let last_success = Gauge::<f64, AtomicU64>::default();
        let managed_secrets = Gauge::default();
        let git_fetch_duration = Histogram::new(FETCH_BUCKETS);
        let leader = Gauge::default();
        let heap_in_use = crate::agent::malloc::heap_in_use().map(|_| Gauge::default());

        // prometheus-client appends `_total` to counters and the unit suffix to the name itself.
        registry.register_with_unit(
            "sealsync_reconcile_duration",
            "Time taken by one reconcile of the desired state",
            Unit::Seconds,
            reconcile_duration.clone(),
        );
        registry.register(
            "sealsync_secrets_applied",
            "Secrets created or updated in the sink",
            secrets_applied.clone(),
        );
        registry.register(
            "sealsync_secrets_pruned",
            "Managed Secrets deleted because their source left git",
            secrets_pruned.clone(),
        );
        registry.register(
            "sealsync_drift_reverted",
            "Managed Secrets put back after someone edited or deleted them by hand",
            drift_reverted.clone(),
        );
        registry.register(
            "sealsync_workload_restarts",
            "Workloads restarted (their pod template patched) because a Secret they use changed",
            workload_restarts.clone(),
        );
        registry.register(
            "sealsync_errors",
            "Errors by reason; each names a document, a Secret or a git fetch in the logs and /status",
            errors.clone(),
        );
        registry.register_with_unit(
            "sealsync_last_success_timestamp",
            "Unix time of the last reconcile of a freshly fetched commit that completed (not advanced while git is unreachable)",
            Unit::Seconds,
            last_success.clone(),
        );
        registry.register(
            "sealsync_managed_secrets",
            "Secrets the agent manages now",
            managed_secrets.clone(),
        );
        registry.register_with_unit(
            "sealsync_git_fetch_duration",
            "Time taken by one git fetch",
            Unit::Seconds,
            git_fetch_duration.clone(),
        );
        registry.register(
            "sealsync_leader",
            "1 while this replica holds the leader Lease, else 0",
            leader.clone(),
        );
        if let Some(heap) = &heap_in_use {
            registry.register_with_unit(
                "sealsync_heap_in_use",
                "Bytes the C allocator has handed out and not got back (glibc mallinfo2: uordblks + hblkhd); a leak grows it, while RSS also holds freed memory the allocator keeps",
                Unit::Bytes,
                heap.clone(),
            );
        }

        for outcome in AppliedOutcome::ALL.iter().copied() {
            let _ = secrets_applied.get_or_create(&OutcomeLabels { outcome });
        }
        for kind in DriftKind::ALL.iter().copied() {
            let _ = drift_reverted.get_or_create(&DriftLabels { kind });
        }
        for kind in RestartKind::ALL.iter().copied() {
            let _ = workload_restarts.get_or_create(&RestartLabels { kind });
        }
        for &reason in Reason::ALL {
            let _ = errors.get_or_create(&ReasonLabels { reason });
        }

        Metrics {
            inner: Arc::new(Inner {
                registry,
                reconcile_duration,
                secrets_applied,
                secrets_pruned,
                drift_reverted,
                workload_restarts,
                errors,
                last_success,
                managed_secrets,
                git_fetch_duration,
                leader,
                heap_in_use,
            }),
        }
    }

    pub fn observe_reconcile(&self, took: Duration) {
        self.inner.reconcile_duration.observe(took.as_secs_f64());
    }

    pub fn observe_git_fetch(&self, took: Duration) {
        self.inner.git_fetch_duration.observe(took.as_secs_f64());
    }

    pub fn secret_applied(&self, outcome: AppliedOutcome) {
        self.inner
            .secrets_applied
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Records what a sink's `apply` did: created/updated count as applied, a Secret left alone counts
    /// as an error of its reason, unchanged records nothing.
    pub fn record_apply(&self, outcome: &ApplyOutcome) {
        match outcome {
            ApplyOutcome::Created => self.secret_applied(AppliedOutcome::Created),
            ApplyOutcome::Updated => self.secret_applied(AppliedOutcome::Updated),
            ApplyOutcome::Unchanged => {}
            ApplyOutcome::RefusedUnmanaged => self.error(Reason::Unmanaged),
            ApplyOutcome::Refused(reason, _) => self.error(*reason),
        }
    }

    pub fn secrets_pruned(&self, count: u64) {
        self.inner.secrets_pruned.inc_by(count);
    }

    pub fn drift_reverted(&self, kind: DriftKind) {
        self.inner
            .drift_reverted
            .get_or_create(&DriftLabels { kind })
            .inc();
    }

    pub fn workload_restarted(&self, kind: RestartKind) {
        self.inner
            .workload_restarts
            .get_or_create(&RestartLabels { kind })
            .inc();
    }

    pub fn error(&self, reason: Reason) {
        self.inner
            .errors
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// Marks a completed reconcile at `at` (usually `SystemTime::now()`).
    pub fn set_last_success(&self, at: SystemTime) {
        let secs = at
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.inner.last_success.set(secs);
    }

    pub fn set_managed_secrets(&self, count: usize) {
        self.inner
            .managed_secrets
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    pub fn set_leader(&self, leader: bool) {
        self.inner.leader.set(i64::from(leader));
    }

    /// All metrics in the OpenMetrics text format, `# EOF` included.
    pub fn encode(&self) -> String {
        if let (Some(gauge), Some(bytes)) =
            (&self.inner.heap_in_use, crate::agent::malloc::heap_in_use())
        {
            gauge.set(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
        let mut out = String::new();
        // Writing into a String cannot fail; the fmt::Result exists for other writers.
        prometheus_client::encoding::text::encode(&mut out, &self.inner.registry)
            .expect("encoding metrics into a String");
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const FAMILIES: [&str; 10] = [
        "sealsync_reconcile_duration_seconds",
        "sealsync_secrets_applied",
        "sealsync_secrets_pruned",
        "sealsync_drift_reverted",
        "sealsync_workload_restarts",
        "sealsync_errors",
        "sealsync_last_success_timestamp_seconds",
        "sealsync_managed_secrets",
        "sealsync_git_fetch_duration_seconds",
        "sealsync_leader",
    ];

    /// A small OpenMetrics text checker: every line is a descriptor or `name{labels} value`, every
    /// sample belongs to a family announced by `# TYPE`, and the exposition ends with `# EOF`.
    /// Returns the samples as (series, value).
    pub(crate) fn parse_openmetrics(text: &str) -> Vec<(String, f64)> {
        let mut families: Vec<String> = Vec::new();
        let mut samples = Vec::new();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.last(),
            Some(&"# EOF"),
            "exposition must end with # EOF"
        );
        for line in &lines[..lines.len() - 1] {
            if let Some(rest) = line.strip_prefix("# ") {
                let mut parts = rest.splitn(3, ' ');
                let keyword = parts.next().unwrap();
                let name = parts.next().expect("descriptor names a family");
                assert!(
                    matches!(keyword, "HELP" | "TYPE" | "UNIT"),
                    "unknown descriptor {line:?}"
                );
                if keyword == "TYPE" {
                    families.push(name.to_string());
                }
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("sample has a value");
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}"));
            let name = series.split('{').next().unwrap();
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "bad metric name in {line:?}"
            );
            if let Some(labels) = series.strip_prefix(name) {
                if !labels.is_empty() {
                    assert!(labels.starts_with('{') && labels.ends_with('}'), "{line:?}");
                }
            }
            assert!(
                families.iter().any(|f| name.starts_with(f.as_str())),
                "sample {name} has no # TYPE"
            );
            samples.push((series.to_string(), value));
        }
        samples
    }

    fn sample(samples: &[(String, f64)], series: &str) -> f64 {
        samples
            .iter()
            .find(|(s, _)| s == series)
            .unwrap_or_else(|| panic!("no series {series}"))
            .1
    }

    #[test]
    fn every_family_is_encoded_and_parses() {
        let metrics = Metrics::new();
        let text = metrics.encode();
        for family in FAMILIES {
            assert!(
                text.contains(&format!("# TYPE {family} ")),
                "{family} missing:\n{text}"
            );
        }
        let samples = parse_openmetrics(&text);
        // Every label value exists before its first event.
        for &reason in Reason::ALL {
            let series = format!("sealsync_errors_total{{reason=\"{reason}\"}}");
            assert_eq!(sample(&samples, &series), 0.0);
        }
        assert_eq!(
            sample(
                &samples,
                "sealsync_drift_reverted_total{kind=\"label_removed\"}"
            ),
            0.0
        );
        assert!(text.contains("# UNIT sealsync_reconcile_duration_seconds seconds"));
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        assert!(
            sample(&samples, "sealsync_heap_in_use_bytes") > 0.0,
            "the heap in use is read when the metrics are"
        );
    }

    #[test]
    fn recorders_move_the_right_series() {
        let metrics = Metrics::new();
        let clone = metrics.clone();
        clone.record_apply(&ApplyOutcome::Created);
        metrics.record_apply(&ApplyOutcome::Updated);
        metrics.record_apply(&ApplyOutcome::Updated);
        metrics.record_apply(&ApplyOutcome::Unchanged);
        metrics.record_apply(&ApplyOutcome::RefusedUnmanaged);
        metrics.secrets_pruned(3);
        metrics.drift_reverted(DriftKind::Deleted);
        metrics.error(Reason::Mac);
        metrics.record_apply(&ApplyOutcome::Refused(
            Reason::OwnedByOtherInstance,
            "owned by repo-b".into(),
        ));
        metrics.set_last_success(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        metrics.set_managed_secrets(7);
        metrics.set_leader(true);
        metrics.observe_reconcile(Duration::from_millis(300));
        metrics.observe_git_fetch(Duration::from_millis(70));

        let samples = parse_openmetrics(&metrics.encode());
        let get = |s: &str| sample(&samples, s);
        assert_eq!(
            get("sealsync_secrets_applied_total{outcome=\"created\"}"),
            1.0
        );
        assert_eq!(
            get("sealsync_secrets_applied_total{outcome=\"updated\"}"),
            2.0
        );
        assert_eq!(get("sealsync_errors_total{reason=\"unmanaged\"}"), 1.0);
        assert_eq!(get("sealsync_errors_total{reason=\"mac\"}"), 1.0);
        assert_eq!(
            get("sealsync_errors_total{reason=\"other_instance\"}"),
            1.0,
            "a refusal counts under its own reason"
        );
        assert_eq!(get("sealsync_secrets_pruned_total"), 3.0);
        assert_eq!(get("sealsync_drift_reverted_total{kind=\"deleted\"}"), 1.0);
        assert_eq!(
            get("sealsync_last_success_timestamp_seconds"),
            1_700_000_000.0
        );
        assert_eq!(get("sealsync_managed_secrets"), 7.0);
        assert_eq!(get("sealsync_leader"), 1.0);
        assert_eq!(get("sealsync_reconcile_duration_seconds_count"), 1.0);
        assert_eq!(
            get("sealsync_reconcile_duration_seconds_bucket{le=\"0.5\"}"),
            1.0
        );
        assert_eq!(
            get("sealsync_reconcile_duration_seconds_bucket{le=\"0.25\"}"),
            0.0
        );
        assert_eq!(get("sealsync_git_fetch_duration_seconds_count"), 1.0);

        metrics.set_leader(false);
        let samples = parse_openmetrics(&metrics.encode());
        assert_eq!(sample(&samples, "sealsync_leader"), 0.0);
    }
}
