//! `POST /refresh[?secret=NS/NAME]`: fetch external references again now — every one, or one Secret's.
//!
//! Authenticated like the git webhook, with the same secret and headers. The signature covers the
//! body, so a signed request repeats its query string as its body (`sealctl refresh` does): a captured
//! request cannot be replayed with another scope. `X-Gitlab-Token` carries the secret itself and
//! needs no body. The pass it asks for goes through the webhook's fetch gate, so refreshes and pushes
//! together stay within one rate.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::hook::{verified, Triggered};
use super::OpsState;
use crate::desired::SecretKey;
use crate::names;
use crate::ops::webhook::WebhookSource;

pub(crate) async fn refresh(
    State(state): State<OpsState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request = match verified(&state, &headers, body).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let query = query.unwrap_or_default();
    if request.source != WebhookSource::GitLab && request.body != query.as_bytes() {
        return (
            StatusCode::BAD_REQUEST,
            "the body must repeat the query string: the signature covers the body",
        )
            .into_response();
    }
    drop(request);
    let secret = match scope(&query) {
        Ok(secret) => secret,
        Err(why) => return (StatusCode::BAD_REQUEST, why).into_response(),
    };
    let what = secret
        .as_ref()
        .map_or_else(|| "every external reference".to_string(), |k| k.to_string());
    state.refresh.request(secret);
    match state.hooks.gate.request() {
        Triggered::Closed => (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response(),
        _ => {
            tracing::info!(refresh = %what, "refresh requested");
            (StatusCode::ACCEPTED, format!("refresh scheduled: {what}\n")).into_response()
        }
    }
}

/// The Secret a query names (`secret=NS/NAME`, the slash possibly as `%2F`), or `None` for everything.
fn scope(query: &str) -> Result<Option<SecretKey>, String> {
    if query.is_empty() {
        return Ok(None);
    }
    let Some(value) = query.strip_prefix("secret=") else {
        return Err("unknown query: the only parameter is secret=NAMESPACE/NAME".into());
    };
    let value = value.replace("%2F", "/").replace("%2f", "/");
    let Some((namespace, name)) = value.split_once('/') else {
        return Err("secret must be NAMESPACE/NAME".into());
    };
    names::dns_label(namespace).map_err(|e| format!("secret: namespace: {e}"))?;
    names::dns_subdomain(name).map_err(|e| format!("secret: name: {e}"))?;
    Ok(Some(SecretKey::new(namespace, name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scope_is_everything_or_one_valid_secret() {
        assert_eq!(scope(""), Ok(None));
        assert_eq!(
            scope("secret=team-a/db"),
            Ok(Some(SecretKey::new("team-a", "db")))
        );
        assert_eq!(
            scope("secret=team-a%2Fdb"),
            Ok(Some(SecretKey::new("team-a", "db")))
        );
        for bad in [
            "secret=team-a",
            "secret=Team_A/db",
            "secret=team-a/db/x",
            "all=1",
        ] {
            assert!(scope(bad).is_err(), "{bad}");
        }
    }
}
