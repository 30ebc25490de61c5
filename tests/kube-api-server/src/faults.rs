//! Fault injection (failing calls, latency, dropped watches) and the request log tests inspect.

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::status::ApiError;

/// The Kubernetes verb of a request, as RBAC and audit logs name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    #[serde(rename = "deletecollection")]
    DeleteCollection,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }
}

/// "Fail the next `times` calls of `verb` (any verb if `None`) on `resource` (a plural such as
/// `secrets`; any if `None`) with HTTP `code`." A 429 or 503 carries `Retry-After` when set.
/// With `hang`, the calls get no answer at all instead (`code` is then unused): the server reads the
/// request and holds the connection open until the client gives up or the server stops, as an API
/// server behind a broken route or a stuck etcd does. Clearing the faults does not answer calls
/// already held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultSpec {
    #[serde(default)]
    pub verb: Option<Verb>,
    #[serde(default)]
    pub resource: Option<String>,
    #[serde(default)]
    pub code: u16,
    #[serde(default)]
    pub hang: bool,
    #[serde(default = "one")]
    pub times: u32,
    #[serde(default)]
    pub retry_after_seconds: Option<u32>,
    #[serde(default)]
    pub message: Option<String>,
}

fn one() -> u32 {
    1
}

impl FaultSpec {
    pub fn new(verb: Verb, code: u16) -> Self {
        FaultSpec {
            verb: Some(verb),
            resource: None,
            code,
            hang: false,
            times: 1,
            retry_after_seconds: None,
            message: None,
        }
    }

    /// Calls of `verb` that get no answer (see the type's documentation).
    pub fn hang(verb: Verb) -> Self {
        FaultSpec {
            hang: true,
            ..Self::new(verb, 0)
        }
    }

    /// A fault the server can serve: an error code (400-599), or a hang.
    pub fn check(&self) -> Result<(), String> {
        if self.hang || (400..=599).contains(&self.code) {
            Ok(())
        } else {
            Err(format!(
                "a fault needs an error code (400-599) or \"hang\": true, not code {}",
                self.code
            ))
        }
    }

    /// Any verb.
    pub fn any(code: u16) -> Self {
        FaultSpec {
            verb: None,
            ..Self::new(Verb::Get, code)
        }
    }

    pub fn times(mut self, n: u32) -> Self {
        self.times = n;
        self
    }

    pub fn resource(mut self, plural: &str) -> Self {
        self.resource = Some(plural.to_string());
        self
    }

    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after_seconds = Some(seconds);
        self
    }

    fn matches(&self, verb: Verb, resource: &str) -> bool {
        self.verb.is_none_or(|v| v == verb)
            && self.resource.as_deref().is_none_or(|r| r == resource)
    }

    fn fault(&self) -> Fault {
        if self.hang {
            return Fault::Hang;
        }
        let msg = self
            .message
            .clone()
            .unwrap_or_else(|| format!("injected fault: HTTP {}", self.code));
        let mut e = ApiError::from_code(self.code, msg);
        e.details.retry_after_seconds = self.retry_after_seconds;
        Fault::Fail(e)
    }
}

/// What a matching call gets.
#[derive(Debug)]
pub enum Fault {
    /// This error, as a `Status`.
    Fail(ApiError),
    /// No answer.
    Hang,
}

/// One handled request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub query: String,
    /// The Kubernetes verb and resource plural, empty for discovery and other non-resource paths.
    pub verb: String,
    pub resource: String,
    /// The HTTP status answered; 0 for a call held unanswered (a `hang` fault).
    pub status: u16,
    /// The authenticated user name (empty when RBAC is off).
    pub user: String,
}

#[derive(Default)]
pub struct Faults {
    pending: Mutex<Vec<FaultSpec>>,
    latency: Mutex<Duration>,
    log: Mutex<Vec<RequestRecord>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Faults {
    pub fn add(&self, spec: FaultSpec) {
        if spec.times > 0 {
            lock(&self.pending).push(spec);
        }
    }

    pub fn clear(&self) {
        lock(&self.pending).clear();
        *lock(&self.latency) = Duration::ZERO;
    }

    /// Consumes one matching fault, oldest first.
    pub fn take(&self, verb: Verb, resource: &str) -> Option<Fault> {
        let mut pending = lock(&self.pending);
        let i = pending.iter().position(|f| f.matches(verb, resource))?;
        let err = pending[i].fault();
        pending[i].times -= 1;
        if pending[i].times == 0 {
            pending.remove(i);
        }
        Some(err)
    }

    pub fn set_latency(&self, d: Duration) {
        *lock(&self.latency) = d;
    }

    pub fn latency(&self) -> Duration {
        *lock(&self.latency)
    }

    pub fn record(&self, r: RequestRecord) {
        lock(&self.log).push(r);
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.log).clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.log).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_consumed_in_order() {
        let f = Faults::default();
        f.add(
            FaultSpec::new(Verb::Get, 503)
                .times(2)
                .resource("secrets")
                .retry_after(3),
        );
        assert!(f.take(Verb::List, "secrets").is_none());
        assert!(f.take(Verb::Get, "leases").is_none());
        let Some(Fault::Fail(e)) = f.take(Verb::Get, "secrets") else {
            panic!("an error")
        };
        assert_eq!(
            (e.code, e.reason.as_str(), e.details.retry_after_seconds),
            (503, "ServiceUnavailable", Some(3))
        );
        assert!(f.take(Verb::Get, "secrets").is_some());
        assert!(f.take(Verb::Get, "secrets").is_none());
    }

    #[test]
    fn a_hang_is_a_fault_of_its_own() {
        let f = Faults::default();
        f.add(FaultSpec::hang(Verb::Patch).resource("secrets"));
        assert!(matches!(f.take(Verb::Patch, "secrets"), Some(Fault::Hang)));
        assert!(f.take(Verb::Patch, "secrets").is_none());
        let spec: FaultSpec =
            serde_json::from_str(r#"{"verb":"patch","hang":true,"times":2}"#).unwrap();
        assert_eq!((spec.hang, spec.times, spec.check()), (true, 2, Ok(())));
        let spec: FaultSpec = serde_json::from_str(r#"{"verb":"patch"}"#).unwrap();
        assert!(spec.check().is_err());
    }
}
