//! TokenReview (`authentication.k8s.io/v1`): tokens the test configured, and those a TokenRequest
//! issued until they expire, map to users; others do not authenticate.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::ids;
use crate::rbac::User;
use crate::state::State;
use crate::status::{ApiError, ApiResult};

/// Who a token authenticates as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenIdentity {
    pub username: String,
    #[serde(default)]
    pub uid: String,
    #[serde(default)]
    pub groups: Vec<String>,
    /// Audiences the token is valid for; empty means any.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// When the token stops authenticating (seconds since the epoch); none: never. Tokens from a
    /// TokenRequest expire after its `expirationSeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
}

impl TokenIdentity {
    pub fn user(username: &str, groups: &[&str]) -> Self {
        TokenIdentity {
            username: username.to_string(),
            uid: ids::uid(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            audiences: Vec::new(),
            expires: None,
        }
    }

    /// `system:serviceaccount:NS:NAME`, with the groups the API server gives service accounts.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        TokenIdentity {
            username: format!("system:serviceaccount:{namespace}:{name}"),
            uid: ids::uid(),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".into(),
            ],
            audiences: Vec::new(),
            expires: None,
        }
    }
}

/// The identity of a token that is known and not expired.
fn known(state: &State, token: &str) -> Option<TokenIdentity> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    state
        .tokens
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(token)
        .filter(|id| id.expires.is_none_or(|at| now < at))
        .cloned()
}

/// Answers a TokenReview create (never stored).
pub fn review(state: &State, body: &[u8]) -> ApiResult<Value> {
    let mut review: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding TokenReview: {e}")))?;
    let token = review
        .pointer("/spec/token")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let wanted: Vec<String> = review
        .pointer("/spec/audiences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let known = known(state, &token);
    let status = match known {
        Some(id) => {
            let audiences: Vec<String> = if id.audiences.is_empty() {
                wanted.clone()
            } else {
                wanted
                    .iter()
                    .filter(|a| id.audiences.contains(a))
                    .cloned()
                    .collect()
            };
            if !wanted.is_empty() && audiences.is_empty() {
                json!({"authenticated": false, "user": {}, "error": "token audiences do not match"})
            } else {
                json!({
                    "authenticated": true,
                    "user": {"username": id.username, "uid": id.uid, "groups": id.groups},
                    "audiences": audiences,
                })
            }
        }
        None => json!({"authenticated": false, "user": {}, "error": "invalid bearer token"}),
    };
    review["apiVersion"] = json!("authentication.k8s.io/v1");
    review["kind"] = json!("TokenReview");
    review["metadata"] = json!({"creationTimestamp": null});
    review["status"] = status;
    Ok(review)
}

/// Who an `Authorization` header authenticates as: a known bearer token its identity (with
/// `system:authenticated`), an unknown one 401 as the API server answers it, and a request without
/// credentials the administrator. A real cluster makes the latter `system:anonymous`; here it cannot:
/// `kubectl` (client-go's clientcmd) sends a kubeconfig's credentials only over TLS, and this server
/// speaks plain HTTP, so the administrator is whoever sends no token. kube-rs sends its token over
/// plain HTTP too, so the identities under test are authenticated.
pub fn authenticate(state: &State, authorization: &str) -> ApiResult<User> {
    if authorization.is_empty() {
        return Ok(User {
            name: crate::ADMIN_USER.into(),
            groups: vec![crate::rbac::MASTERS.into(), "system:authenticated".into()],
        });
    }
    let known = authorization
        .strip_prefix("Bearer ")
        .map(str::trim)
        .and_then(|token| known(state, token));
    match known {
        Some(id) => {
            let mut groups = id.groups;
            if !groups.iter().any(|g| g == "system:authenticated") {
                groups.push("system:authenticated".into());
            }
            Ok(User {
                name: id.username,
                groups,
            })
        }
        None => Err(ApiError::new(401, "Unauthorized", "Unauthorized")),
    }
}
