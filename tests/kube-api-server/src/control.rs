//! The `/_test/...` control endpoints: fault injection, latency, watches, compaction, the request log
//! and tokens, for scripts that cannot call the library.
//!
//! - `POST /_test/faults` with a [`FaultSpec`](crate::FaultSpec) (`{"verb":"get","resource":"secrets","code":503,"times":2,"retryAfterSeconds":1}`,
//!   or `{"verb":"patch","resource":"secrets","hang":true}` for calls never answered); `DELETE /_test/faults` clears faults and latency
//! - `POST /_test/latency` `{"millis": 200}`
//! - `POST /_test/drop-watches`, `POST /_test/compact`
//! - `GET /_test/requests` (the log), `DELETE /_test/requests`
//! - `POST /_test/tokens` `{"token": "t", "username": "u", "groups": []}` or
//!   `{"token": "t", "serviceAccount": {"namespace": "ns", "name": "sa"}}`

use std::time::Duration;

use hyper::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::faults::FaultSpec;
use crate::state::State;
use crate::status::{ApiError, ApiResult};
use crate::tokens::TokenIdentity;

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid control request: {e}")))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServiceAccountRef {
    namespace: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenRequest {
    token: String,
    #[serde(default)]
    service_account: Option<ServiceAccountRef>,
    #[serde(flatten)]
    identity: Option<TokenIdentity>,
}

pub fn handle(state: &State, method: &Method, what: &str, body: &[u8]) -> ApiResult<(u16, Value)> {
    let ok = || Ok((200, json!({"status": "ok"})));
    match (method, what) {
        (&Method::POST, "faults") => {
            let spec = parse::<FaultSpec>(body)?;
            spec.check().map_err(ApiError::bad_request)?;
            state.faults.add(spec);
            Ok((201, json!({"status": "ok"})))
        }
        (&Method::DELETE, "faults") => {
            state.faults.clear();
            ok()
        }
        (&Method::POST, "latency") => {
            #[derive(Deserialize)]
            struct Latency {
                millis: u64,
            }
            state
                .faults
                .set_latency(Duration::from_millis(parse::<Latency>(body)?.millis));
            ok()
        }
        (&Method::POST, "drop-watches") => {
            state.drop_all_watches();
            ok()
        }
        (&Method::POST, "compact") => {
            state.store.compact();
            Ok((
                200,
                json!({"status": "ok", "resourceVersion": state.store.current_rv().to_string()}),
            ))
        }
        (&Method::GET, "requests") => Ok((200, json!(state.faults.requests()))),
        (&Method::DELETE, "requests") => {
            state.faults.clear_requests();
            ok()
        }
        (&Method::POST, "tokens") => {
            let req = parse::<TokenRequest>(body)?;
            let identity = match (req.service_account, req.identity) {
                (Some(sa), _) => TokenIdentity::service_account(&sa.namespace, &sa.name),
                (None, Some(id)) => id,
                (None, None) => {
                    return Err(ApiError::bad_request(
                        "a token needs a username or a serviceAccount",
                    ))
                }
            };
            state
                .tokens
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(req.token, identity);
            Ok((201, json!({"status": "ok"})))
        }
        _ => Err(ApiError::new(
            404,
            "NotFound",
            format!("no control endpoint {method} /_test/{what}"),
        )),
    }
}
