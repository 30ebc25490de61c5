//! Typed errors naming the file, the object, and the field or remote key — never a value.

use std::fmt;

use crate::meta::Origin;

/// A field this crate does not implement, reported on its object (never silently ignored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported {
    /// Field path, e.g. `spec.syncWindows` or `spec.dataFrom[0].sourceRef.generatorRef`.
    pub path: String,
    /// Why, when the path alone does not say (e.g. the unsupported enum value).
    pub detail: Option<String>,
}

impl Unsupported {
    pub(crate) fn new(path: impl Into<String>, detail: Option<String>) -> Unsupported {
        Unsupported {
            path: path.into(),
            detail,
        }
    }
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.detail {
            Some(d) => write!(f, "unsupported: {} ({d})", self.path),
            None => write!(f, "unsupported: {}", self.path),
        }
    }
}

/// Everything that can go wrong reading a document or running the value pipeline.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The document is not an object of the expected kind at all (no name, wrong apiVersion).
    #[error("{file}: {reason}")]
    Document { file: String, reason: String },
    /// A field is missing, of the wrong type, or holds a value the API does not allow.
    #[error("{origin}: {field}: {reason}")]
    Invalid {
        origin: Box<Origin>,
        field: String,
        reason: String,
    },
    /// `property` names nothing in the remote value.
    #[error("{origin}: remote key {key:?}: property {property:?} not found in the value")]
    PropertyMissing {
        origin: Box<Origin>,
        key: String,
        property: String,
    },
    /// A remote value is not what the reference asks of it (not JSON for `extract`, not base64 for
    /// `decodingStrategy: Base64`, ...).
    #[error("{origin}: remote key {key:?}: {reason}")]
    Remote {
        origin: Box<Origin>,
        key: String,
        reason: String,
    },
    /// A value or a Secret exceeds one of the bounds in [`crate::limits`].
    #[error("{origin}: {what}: {reason}")]
    Limit {
        origin: Box<Origin>,
        what: String,
        reason: String,
    },
    /// A Secret key name produced by `dataFrom`, a rewrite or a template is not a valid key.
    #[error("{origin}: Secret key {key:?}: {reason}")]
    InvalidKey {
        origin: Box<Origin>,
        key: String,
        reason: String,
    },
    /// A template failed to render (the renderer's message names the function or field).
    #[error("{origin}: {field}: template: {reason}")]
    Template {
        origin: Box<Origin>,
        field: String,
        reason: String,
    },
    /// An argocd-vault-plugin placeholder is malformed or its modifier failed.
    #[error("{origin}: {location}: placeholder: {reason}")]
    Placeholder {
        origin: Box<Origin>,
        location: String,
        reason: String,
    },
    /// An argocd-vault-plugin placeholder names a key the remote secret does not have.
    #[error("{origin}: {location}: no key {key:?} in remote secret {path:?}")]
    MissingValue {
        origin: Box<Origin>,
        location: String,
        path: String,
        key: String,
    },
}

impl Error {
    /// A short stable label per variant, for metrics and status (`invalid`, `property_missing`, ...).
    pub fn label(&self) -> &'static str {
        match self {
            Error::Document { .. } => "document",
            Error::Invalid { .. } => "invalid",
            Error::PropertyMissing { .. } => "property_missing",
            Error::Remote { .. } => "remote_value",
            Error::Limit { .. } => "limit",
            Error::InvalidKey { .. } => "invalid_key",
            Error::Template { .. } => "template",
            Error::Placeholder { .. } => "placeholder",
            Error::MissingValue { .. } => "missing_value",
        }
    }

    pub(crate) fn invalid(
        origin: &Origin,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> Error {
        Error::Invalid {
            origin: Box::new(origin.clone()),
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn remote(origin: &Origin, key: &str, reason: impl Into<String>) -> Error {
        Error::Remote {
            origin: Box::new(origin.clone()),
            key: key.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn limit(
        origin: &Origin,
        what: impl Into<String>,
        reason: impl Into<String>,
    ) -> Error {
        Error::Limit {
            origin: Box::new(origin.clone()),
            what: what.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_key(origin: &Origin, key: &str, reason: impl Into<String>) -> Error {
        Error::InvalidKey {
            origin: Box::new(origin.clone()),
            key: key.to_string(),
            reason: reason.into(),
        }
    }
}
