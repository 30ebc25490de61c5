//! TokenRequest (`authentication.k8s.io/v1`), the `serviceaccounts/token` subresource: a create on an
//! existing ServiceAccount answers a short-lived token for it, which TokenReview then vouches for.
//!
//! As the API server does (`pkg/registry/core/serviceaccount/storage/token.go`): the ServiceAccount must
//! exist (404), `spec.expirationSeconds` defaults to one hour and may not be under ten minutes (422),
//! `spec.audiences` defaults to the server's own audience, and the token is a JWT whose claims name the
//! service account (`sub`, `kubernetes.io.namespace`, `kubernetes.io.serviceaccount.{name,uid}`), as
//! Vault's Kubernetes login reads them before its TokenReview.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{json, Value};

use crate::handlers::ResourceRequest;
use crate::ids;
use crate::state::State;
use crate::status::{self, ApiError, ApiResult};
use crate::store::{meta_str, target};
use crate::tokens::TokenIdentity;

/// The audience of tokens that ask for none: the API server's default `--api-audiences`.
pub const DEFAULT_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";
const DEFAULT_EXPIRATION: u64 = 3600;
const MIN_EXPIRATION: u64 = 600;
const MAX_EXPIRATION: u64 = 1 << 32;

/// Answers `POST .../serviceaccounts/NAME/token`; the token is remembered for TokenReview and, with
/// RBAC on, authenticates requests as the service account until it expires.
pub fn create(state: &State, req: &ResourceRequest) -> ApiResult<(u16, Value)> {
    let body: Value = if req.body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&req.body)
            .map_err(|e| ApiError::bad_request(format!("error decoding TokenRequest: {e}")))?
    };
    let account = state
        .store
        .get(req.def, req.ns(), req.name())
        .ok_or_else(|| ApiError::not_found(target(req.def, req.name())))?;
    let uid = meta_str(&account, "uid").to_string();
    let invalid = |field: &str, message: String| {
        ApiError::invalid(
            target(req.def, req.name()),
            "TokenRequest",
            vec![status::Cause {
                reason: "FieldValueInvalid".into(),
                message,
                field: field.into(),
            }],
        )
    };
    let expiration = match body.pointer("/spec/expirationSeconds") {
        None | Some(Value::Null) => DEFAULT_EXPIRATION,
        Some(v) => {
            let secs = v
                .as_u64()
                .ok_or_else(|| invalid("spec.expirationSeconds", format!("Invalid value: {v}")))?;
            if secs < MIN_EXPIRATION {
                return Err(invalid(
                    "spec.expirationSeconds",
                    "may not specify a duration less than 10 minutes".into(),
                ));
            }
            if secs > MAX_EXPIRATION {
                return Err(invalid(
                    "spec.expirationSeconds",
                    "may not specify a duration larger than 2^32 seconds".into(),
                ));
            }
            secs
        }
    };
    let mut audiences: Vec<String> = body
        .pointer("/spec/audiences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if audiences.is_empty() {
        audiences.push(DEFAULT_AUDIENCE.into());
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let expires = now + expiration;
    let (ns, name) = (req.ns(), req.name());
    let token = jwt(&json!({
        "aud": audiences,
        "exp": expires,
        "iat": now,
        "nbf": now,
        "iss": DEFAULT_AUDIENCE,
        "jti": ids::uid(),
        "kubernetes.io": {"namespace": ns, "serviceaccount": {"name": name, "uid": uid}},
        "sub": format!("system:serviceaccount:{ns}:{name}"),
    }));
    let mut identity = TokenIdentity::service_account(ns, name);
    identity.uid = uid;
    identity.audiences = audiences.clone();
    identity.expires = Some(expires);
    state
        .tokens
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(token.clone(), identity);
    let reply = json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": null},
        "spec": {
            "audiences": audiences,
            "expirationSeconds": expiration,
            "boundObjectRef": body.pointer("/spec/boundObjectRef").cloned().unwrap_or(Value::Null),
        },
        "status": {"token": token, "expirationTimestamp": ids::format_rfc3339(expires)},
    });
    Ok((201, reply))
}

/// An unsigned-looking JWT (the signature is random bytes): only TokenReview vouches for it here.
fn jwt(claims: &Value) -> String {
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let header = json!({"alg": "RS256", "kid": "kube-api-test-server"});
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(format!("{}{}", ids::uid(), ids::uid()).as_bytes())
    )
}
