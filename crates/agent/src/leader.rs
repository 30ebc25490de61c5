//! Leader election among replicas with a `coordination.k8s.io/v1` Lease (`sealsync-leader` in the
//! agent's own namespace), as client-go's leaderelection does it: optimistic updates with
//! `resourceVersion` so two candidates cannot both win, expiry judged by the local clock from when a
//! renewal was last observed, and a release on graceful shutdown so a successor takes over at once.

use std::pin::pin;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::runtime::utils::StreamBackoff;
use kube::runtime::watcher::watch_object;
use kube::{Api, Client};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::sink::kube::Backoff;

/// The Lease's name.
pub const LEASE_NAME: &str = "sealsync-leader";

/// Why a lease operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error("lease {namespace}/{name}: {action}: {source}")]
    Api {
        namespace: String,
        name: String,
        action: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("the leader election task panicked or was aborted")]
    Task,
}

/// Timing and identity of one candidate.
#[derive(Clone, Debug)]
pub struct LeaderConfig {
    /// The agent's own namespace.
    pub namespace: String,
    pub lease_name: String,
    /// This replica: `AgentConfig::holder_identity` (the pod name, else the hostname), which the Events
    /// name as their reporting instance too.
    pub identity: String,
    /// How long a lease holds without renewal (15 s).
    pub lease_duration: Duration,
    /// How often the leader renews (5 s).
    pub renew_interval: Duration,
    /// A leader that could not renew for this long steps down (10 s; below `lease_duration`, so it
    /// stops before anyone else may take over).
    pub renew_deadline: Duration,
    /// How often a follower tries to acquire (2 s); a release is noticed at once through a watch.
    pub retry_interval: Duration,
}

impl LeaderConfig {
    pub fn new(namespace: impl Into<String>, identity: impl Into<String>) -> LeaderConfig {
        LeaderConfig::with_lease_duration(namespace, identity, DEFAULT_LEASE_DURATION)
    }

    /// The timings derived from one lease duration as client-go's defaults relate them (15 s lease,
    /// 10 s renew deadline, renewals every third of the lease, retries every 2 s at most).
    pub fn with_lease_duration(
        namespace: impl Into<String>,
        identity: impl Into<String>,
        lease_duration: Duration,
    ) -> LeaderConfig {
        LeaderConfig {
            namespace: namespace.into(),
            lease_name: LEASE_NAME.into(),
            identity: identity.into(),
            lease_duration,
            renew_interval: lease_duration / 3,
            renew_deadline: lease_duration * 2 / 3,
            retry_interval: (lease_duration / 5).min(Duration::from_secs(2)),
        }
    }
}

/// How long a Lease holds without renewal unless `--lease-duration` says otherwise.
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);

/// A candidate for leadership.
pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaderConfig,
}

/// What the candidate last saw of the lease, and when (by the local monotonic clock).
struct Observed {
    resource_version: String,
    at: Instant,
}

impl LeaderElector {
    pub fn new(client: Client, config: LeaderConfig) -> LeaderElector {
        LeaderElector {
            api: Api::namespaced(client, &config.namespace),
            config,
        }
    }

    /// Runs the election in a task. The receiver answers "am I the leader" and changes as that does.
    pub fn spawn(self) -> (watch::Receiver<bool>, LeaderHandle) {
        let (tx, rx) = watch::channel(false);
        let (health, health_rx) = watch::channel(None);
        let stop = CancellationToken::new();
        let task = tokio::spawn(self.run(tx, health, stop.clone()));
        (
            rx,
            LeaderHandle {
                stop,
                task,
                health: health_rx,
            },
        )
    }

    fn err(&self, action: &'static str, source: kube::Error) -> LeaderError {
        LeaderError::Api {
            namespace: self.config.namespace.clone(),
            name: self.config.lease_name.clone(),
            action,
            source,
        }
    }

    async fn run(
        self,
        tx: watch::Sender<bool>,
        health: watch::Sender<Option<String>>,
        stop: CancellationToken,
    ) -> Result<(), LeaderError> {
        let mut observed: Option<Observed> = None;
        let mut last_renew: Option<Instant> = None;
        // Wakes a follower as soon as the lease is released, instead of at its next retry.
        let changes = watch_object(self.api.clone(), &self.config.lease_name);
        let mut changes = pin!(StreamBackoff::new(changes, Backoff::default().start()));
        let mut watching = true;
        loop {
            let round = self.try_acquire_or_renew(&mut observed).await;
            health.send_if_modified(|h| {
                let now = round.as_ref().err().map(ToString::to_string);
                let changed = *h != now;
                *h = now;
                changed
            });
            let leading = match round {
                Ok(won) => {
                    if won {
                        last_renew = Some(Instant::now());
                    }
                    won
                }
                Err(err) => {
                    tracing::warn!(identity = %self.config.identity, error = %err, "leader election: lease update failed");
                    // Keep leading only while the lease cannot have been taken over yet.
                    *tx.borrow()
                        && last_renew.is_some_and(|t| t.elapsed() < self.config.renew_deadline)
                }
            };
            if leading != *tx.borrow() {
                tracing::info!(identity = %self.config.identity, leading, "leadership changed");
                tx.send_replace(leading);
            }
            let wait = if leading {
                self.config.renew_interval
            } else {
                self.config.retry_interval
            };
            let sleep = tokio::time::sleep(wait);
            let mut sleep = pin!(sleep);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => {
                        let was_leading = tx.send_replace(false);
                        return if was_leading { self.release().await } else { Ok(()) };
                    }
                    _ = &mut sleep => break,
                    change = changes.next(), if watching && !leading => match change {
                        Some(Ok(lease)) if is_free(lease.as_ref()) => break,
                        Some(_) => {}
                        // Watches do not end; if this one did, the retry interval still applies.
                        None => watching = false,
                    },
                }
            }
        }
    }

    /// One round: create, renew, or take over the lease. Answers whether we hold it now.
    async fn try_acquire_or_renew(
        &self,
        observed: &mut Option<Observed>,
    ) -> Result<bool, LeaderError> {
        let now = Timestamp::now();
        let me = &self.config.identity;
        let duration_secs = self.config.lease_duration.as_secs_f64().ceil().max(1.0) as i32;
        let Some(lease) = self
            .api
            .get_opt(&self.config.lease_name)
            .await
            .map_err(|e| self.err("get", e))?
        else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.lease_name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(me.clone()),
                    lease_duration_seconds: Some(duration_secs),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                // Another candidate created it first.
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(self.err("create", e)),
            };
        };

        let rv = lease.metadata.resource_version.clone().unwrap_or_default();
        if observed.as_ref().is_none_or(|o| o.resource_version != rv) {
            *observed = Some(Observed {
                resource_version: rv,
                at: Instant::now(),
            });
        }
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let held_by_me = holder.as_deref() == Some(me.as_str());
        if !held_by_me && holder.is_some() {
            let lasts = spec
                .lease_duration_seconds
                .map(|s| Duration::from_secs(s.max(0) as u64))
                .unwrap_or(self.config.lease_duration);
            let seen = observed.as_ref().map(|o| o.at).unwrap_or_else(Instant::now);
            if seen.elapsed() < lasts {
                return Ok(false);
            }
        }

        let mut next = lease.clone();
        let mut spec = spec;
        if !held_by_me {
            spec.acquire_time = Some(MicroTime(now));
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.holder_identity = Some(me.clone());
        spec.lease_duration_seconds = Some(duration_secs);
        spec.renew_time = Some(MicroTime(now));
        next.spec = Some(spec);
        // `metadata.resourceVersion` is kept: the API server refuses the update with 409 if anyone
        // wrote the lease since we read it.
        match self
            .api
            .replace(&self.config.lease_name, &PostParams::default(), &next)
            .await
        {
            Ok(updated) => {
                *observed = Some(Observed {
                    resource_version: updated.metadata.resource_version.unwrap_or_default(),
                    at: Instant::now(),
                });
                Ok(true)
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(self.err("update", e)),
        }
    }

    /// Gives the lease up if we hold it: `holderIdentity` becomes null, so a successor needs not wait
    /// for it to expire.
    async fn release(&self) -> Result<(), LeaderError> {
        let Some(mut lease) = self
            .api
            .get_opt(&self.config.lease_name)
            .await
            .map_err(|e| self.err("get", e))?
        else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.acquire_time = None;
        spec.renew_time = None;
        match self
            .api
            .replace(&self.config.lease_name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => {
                tracing::info!(identity = %self.config.identity, "released the leader lease");
                Ok(())
            }
            // Someone else changed it since: it is no longer ours to release.
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            Err(e) => Err(self.err("release", e)),
        }
    }
}

/// Who holds the Lease now, if anyone but `me` does and its last renewal has not expired yet (judged by
/// this machine's clock against the renewal time the holder wrote: a one-off check cannot watch the
/// Lease for a whole duration as a candidate does). For `run --once`, which must not write behind a
/// running leader's back.
pub async fn live_holder(
    client: Client,
    namespace: &str,
    me: &str,
) -> Result<Option<String>, LeaderError> {
    let api: Api<Lease> = Api::namespaced(client, namespace);
    let lease = api
        .get_opt(LEASE_NAME)
        .await
        .map_err(|source| LeaderError::Api {
            namespace: namespace.to_string(),
            name: LEASE_NAME.to_string(),
            action: "get",
            source,
        })?;
    let Some(spec) = lease.and_then(|l| l.spec) else {
        return Ok(None);
    };
    let holder = spec.holder_identity.filter(|h| !h.is_empty() && h != me);
    let live = spec.renew_time.is_some_and(|renewed| {
        let lasts = i64::from(spec.lease_duration_seconds.unwrap_or(15).max(0));
        renewed.0.as_second() + lasts > Timestamp::now().as_second()
    });
    Ok(holder.filter(|_| live))
}

fn is_free(lease: Option<&Lease>) -> bool {
    lease
        .and_then(|l| l.spec.as_ref())
        .and_then(|s| s.holder_identity.as_deref())
        .is_none_or(str::is_empty)
}

/// Controls a running election.
pub struct LeaderHandle {
    stop: CancellationToken,
    task: JoinHandle<Result<(), LeaderError>>,
    health: watch::Receiver<Option<String>>,
}

impl LeaderHandle {
    /// Why the last round could not read or write the Lease (`None` when it could): readiness
    /// follows it, so a replica cut off from the API server is taken out of its Service.
    pub fn health(&self) -> watch::Receiver<Option<String>> {
        self.health.clone()
    }

    /// Stops campaigning and, if leading, releases the lease (graceful shutdown).
    pub async fn release(self) -> Result<(), LeaderError> {
        self.stop.cancel();
        self.task.await.map_err(|_| LeaderError::Task)?
    }

    /// Stops at once without releasing, as a crash would: others wait for the lease to expire.
    pub fn abort(self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timings_follow_the_lease_duration() {
        let c = LeaderConfig::new("ns", "me");
        assert_eq!(
            (
                c.lease_duration,
                c.renew_interval,
                c.renew_deadline,
                c.retry_interval
            ),
            (
                Duration::from_secs(15),
                Duration::from_secs(5),
                Duration::from_secs(10),
                Duration::from_secs(2)
            )
        );
        let c = LeaderConfig::with_lease_duration("ns", "me", Duration::from_secs(4));
        assert!(c.renew_interval < c.renew_deadline && c.renew_deadline < c.lease_duration);
        assert!(c.retry_interval < c.renew_interval);
    }

    #[test]
    fn a_lease_without_holder_is_free() {
        assert!(is_free(None));
        let mut lease = Lease::default();
        assert!(is_free(Some(&lease)));
        lease.spec = Some(LeaseSpec {
            holder_identity: Some("a".into()),
            ..LeaseSpec::default()
        });
        assert!(!is_free(Some(&lease)));
    }
}
