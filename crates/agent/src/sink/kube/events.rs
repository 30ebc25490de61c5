//! Kubernetes Events (`events.k8s.io/v1`) about managed Secrets, written through kube-runtime's
//! recorder with the agent's identity as the reporting controller: the same Event repeated (a Secret
//! reverted again and again) becomes one Event whose series counts it, not one Event each time. A
//! failure to write one is logged, never fatal.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder as KubeRecorder, Reporter};
use kube::Client;

/// `reportingController` of every Event the agent writes (events.k8s.io/v1 wants a qualified name).
pub const REPORTING_CONTROLLER: &str = "sealsync.dev/agent";

/// The API server caps `note` at 1 kB; `reason` and `action` at 128 characters.
const MAX_NOTE: usize = 1024;
const MAX_SHORT: usize = 128;

/// Event `type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Normal,
    Warning,
}

impl From<EventKind> for EventType {
    fn from(kind: EventKind) -> EventType {
        match kind {
            EventKind::Normal => EventType::Normal,
            EventKind::Warning => EventType::Warning,
        }
    }
}

/// Writes Events. Cheap to clone (clones share the recorder's series cache).
#[derive(Clone)]
pub struct Recorder {
    inner: KubeRecorder,
}

impl Recorder {
    /// `instance` identifies this replica (the pod name, else the hostname), as the caller found it.
    pub fn new(client: Client, instance: impl Into<String>) -> Recorder {
        let reporter = Reporter {
            controller: REPORTING_CONTROLLER.into(),
            instance: Some(truncate(instance.into(), MAX_SHORT)),
        };
        Recorder {
            inner: KubeRecorder::new(client, reporter),
        }
    }

    /// Records an Event about `regarding` in its namespace. `note` must not carry a secret value;
    /// callers build it from names, paths and commits only. Repeats of the same `reason` and
    /// `action` about the same object within kube-runtime's window (6 minutes) update one Event's
    /// series (count, last seen) and keep its first note.
    pub async fn publish(
        &self,
        regarding: &ObjectReference,
        kind: EventKind,
        reason: &str,
        action: &str,
        note: &str,
    ) {
        let Some(namespace) = regarding.namespace.clone() else {
            tracing::warn!(
                reason,
                "not recording an Event about an object without a namespace"
            );
            return;
        };
        // The series is keyed by the object reference: the resourceVersion changes with every write
        // (every revert), so it is left out, or no two reverts would share a series.
        let regarding = ObjectReference {
            resource_version: None,
            ..regarding.clone()
        };
        let event = Event {
            type_: kind.into(),
            reason: truncate(reason.into(), MAX_SHORT),
            note: Some(truncate(note.into(), MAX_NOTE)),
            action: truncate(action.into(), MAX_SHORT),
            secondary: None,
        };
        if let Err(err) = self.inner.publish(&event, &regarding).await {
            tracing::warn!(
                namespace,
                object = regarding.name.as_deref().unwrap_or_default(),
                reason,
                error = %err,
                "could not record a Kubernetes Event"
            );
        }
    }
}

/// A reference to a Secret for an Event's `regarding`.
pub fn secret_ref(
    namespace: &str,
    name: &str,
    uid: Option<String>,
    resource_version: Option<String>,
) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Secret".into()),
        namespace: Some(namespace.into()),
        name: Some(name.into()),
        uid,
        resource_version,
        ..ObjectReference::default()
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary.
fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("héllo".into(), 2), "h");
        assert_eq!(truncate("abc".into(), 10), "abc");
    }
}
