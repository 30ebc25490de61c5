//! Kubernetes Events (`events.k8s.io/v1`) about managed Secrets, written with the agent's identity as
//! the reporting controller; a failure to write one is logged, never fatal.

use std::sync::atomic::{AtomicU64, Ordering};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::{Api, Client};

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

impl EventKind {
    fn as_str(self) -> &'static str {
        match self {
            EventKind::Normal => "Normal",
            EventKind::Warning => "Warning",
        }
    }
}

/// Writes Events. Cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    client: Client,
    instance: String,
    /// Makes names unique within one process even when two Events fall in the same nanosecond.
    sequence: std::sync::Arc<AtomicU64>,
}

impl Recorder {
    /// `instance` identifies this replica (the pod name, else the hostname), as the caller found it.
    pub fn new(client: Client, instance: impl Into<String>) -> Recorder {
        Recorder {
            client,
            instance: truncate(instance.into(), MAX_SHORT),
            sequence: Default::default(),
        }
    }

    /// Records an Event about `regarding` in its namespace. `note` must not carry a secret value;
    /// callers build it from names, paths and commits only.
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
        let now = Timestamp::now();
        let seq = self.sequence.fetch_add(1, Ordering::Relaxed);
        let object = regarding.name.as_deref().unwrap_or("sealsync");
        let event = Event {
            metadata: ObjectMeta {
                // The convention of kubectl and client-go: `<object>.<unique hex>`.
                name: Some(format!(
                    "{object}.{:x}{:x}",
                    now.as_nanosecond(),
                    seq & 0xfff
                )),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            event_time: Some(MicroTime(now)),
            type_: Some(kind.as_str().into()),
            reason: Some(truncate(reason.into(), MAX_SHORT)),
            action: Some(truncate(action.into(), MAX_SHORT)),
            note: Some(truncate(note.into(), MAX_NOTE)),
            regarding: Some(regarding.clone()),
            reporting_controller: Some(REPORTING_CONTROLLER.into()),
            reporting_instance: Some(self.instance.clone()),
            ..Event::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        if let Err(err) = api.create(&PostParams::default(), &event).await {
            tracing::warn!(
                namespace,
                object,
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
