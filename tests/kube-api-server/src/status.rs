//! API errors and their wire form, the `meta.k8s.io/v1` `Status` object.

use serde_json::{json, Map, Value};

/// One failure cause inside `Status.details.causes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub reason: String,
    pub message: String,
    pub field: String,
}

/// An API error: every one is answered as a `Status` object with `code` as the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: String,
    pub message: String,
    pub details: Box<Details>,
}

/// `Status.details`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Details {
    /// `name`, `group`, `kind` (the resource plural, as the API server fills it).
    pub name: Option<String>,
    pub group: Option<String>,
    pub kind: Option<String>,
    pub causes: Vec<Cause>,
    pub retry_after_seconds: Option<u32>,
}

/// The resource an error is about, for `details`.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub group: &'a str,
    pub plural: &'a str,
    pub name: &'a str,
}

impl ApiError {
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason: reason.to_string(),
            message: message.into(),
            details: Box::default(),
        }
    }

    fn about(mut self, t: Target<'_>) -> Self {
        self.details.name = Some(t.name.to_string()).filter(|n| !n.is_empty());
        self.details.group = Some(t.group.to_string()).filter(|g| !g.is_empty());
        self.details.kind = Some(t.plural.to_string());
        self
    }

    /// `<plural>.<group>` as the API server names a resource in messages.
    fn qualified(t: Target<'_>) -> String {
        if t.group.is_empty() {
            t.plural.to_string()
        } else {
            format!("{}.{}", t.plural, t.group)
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn not_found(t: Target<'_>) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{}\" not found", Self::qualified(t), t.name),
        )
        .about(t)
    }

    pub fn already_exists(t: Target<'_>) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{}\" already exists", Self::qualified(t), t.name),
        )
        .about(t)
    }

    /// A stale `resourceVersion` on update: the wording `kubectl` and controllers recognise.
    pub fn conflict(t: Target<'_>, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": {why}",
                Self::qualified(t),
                t.name
            ),
        )
        .about(t)
    }

    /// 422 with one cause per invalid field.
    pub fn invalid(t: Target<'_>, kind: &str, causes: Vec<Cause>) -> Self {
        let list = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect::<Vec<_>>();
        let joined = if list.len() == 1 {
            list[0].clone()
        } else {
            format!("[{}]", list.join(", "))
        };
        let mut e = Self::new(
            422,
            "Invalid",
            format!("{kind} \"{}\" is invalid: {joined}", t.name),
        )
        .about(t);
        e.details.kind = Some(kind.to_string());
        e.details.causes = causes;
        e
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    /// 415 for a body type the endpoint does not decode; `accepted` lists what it does.
    pub fn unsupported_media_type(content_type: &str, accepted: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format - accepted media types include: {accepted}; got {content_type:?}"),
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// The reason the API server gives for a bare HTTP code (used by fault injection).
    pub fn from_code(code: u16, message: impl Into<String>) -> Self {
        let reason = match code {
            400 => "BadRequest",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "NotFound",
            405 => "MethodNotAllowed",
            409 => "Conflict",
            410 => "Expired",
            422 => "Invalid",
            429 => "TooManyRequests",
            500 => "InternalError",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            _ => "Unknown",
        };
        Self::new(code, reason, message)
    }

    /// The `Status` object, as sent on the wire and inside watch `ERROR` events.
    pub fn to_status(&self) -> Value {
        let d = &self.details;
        let mut details = Map::new();
        if let Some(n) = &d.name {
            details.insert("name".into(), json!(n));
        }
        if let Some(g) = &d.group {
            details.insert("group".into(), json!(g));
        }
        if let Some(k) = &d.kind {
            details.insert("kind".into(), json!(k));
        }
        if !d.causes.is_empty() {
            let causes = d
                .causes
                .iter()
                .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                .collect::<Vec<_>>();
            details.insert("causes".into(), Value::Array(causes));
        }
        if let Some(s) = d.retry_after_seconds {
            details.insert("retryAfterSeconds".into(), json!(s));
        }
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if !details.is_empty() {
            status["details"] = Value::Object(details);
        }
        status
    }
}

/// A `Status` with `status: Success`, the answer to some deletions.
pub fn success(t: Target<'_>, uid: &str) -> Value {
    let mut details = json!({"name": t.name, "kind": t.plural, "uid": uid});
    if !t.group.is_empty() {
        details["group"] = json!(t.group);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

pub type ApiResult<T> = Result<T, ApiError>;
