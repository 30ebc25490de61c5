//! The HTTP side: the accept loop, URL routing to discovery, resources and the `/_test` control
//! endpoints, and JSON responses.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::control;
use crate::deletion;
use crate::discovery;
use crate::faults::{Fault, RequestRecord, Verb};
use crate::handlers::{self, ResourceRequest};
use crate::rbac;
use crate::resources;
use crate::selectors::FieldSelector;
use crate::state::State;
use crate::status::{ApiError, ApiResult};
use crate::table;
use crate::tokens;
use crate::watch::{self, WatchBody};

pub type Body = Either<Full<Bytes>, WatchBody>;

/// Serves connections until `shutdown` changes; open connections are closed with the loop.
pub async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let state = state.clone();
                conns.spawn(async move {
                    let svc = service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(handle(state, req).await) }
                    });
                    // A client hanging up mid-request is no error of the server's.
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
            _ = shutdown.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    state.drop_all_watches();
    conns.abort_all();
}

/// Percent-decodes a query component (`+` is a space).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

fn json_response(code: u16, v: &Value) -> Response<Body> {
    let mut resp = Response::new(Either::Left(Full::new(Bytes::from(
        serde_json::to_vec(v).unwrap_or_default(),
    ))));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn error_response(e: &ApiError) -> Response<Body> {
    let mut resp = json_response(e.code, &e.to_status());
    if let Some(s) = e.details.retry_after_seconds {
        resp.headers_mut().insert(RETRY_AFTER, HeaderValue::from(s));
    }
    resp
}

fn reply(r: ApiResult<(u16, Value)>) -> Response<Body> {
    match r {
        Ok((code, v)) => json_response(code, &v),
        Err(e) => error_response(&e),
    }
}

fn not_found(path: &str) -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        format!("the server could not find the requested resource ({path})"),
    )
}

/// A resource path split into resource, namespace, name and subresource.
struct Parsed {
    def: &'static resources::ResourceDef,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

fn parse_resource(group: &str, version: &str, rest: &[&str]) -> Option<Parsed> {
    let def_of = |plural: &str| resources::lookup(group, version, plural);
    let mk = |def, ns: Option<&str>, name: Option<&str>, sub: Option<&str>| Parsed {
        def,
        namespace: ns.map(String::from),
        name: name.map(String::from),
        subresource: sub.map(String::from),
    };
    let sub_ok = |def: &resources::ResourceDef, sub: &str| def.has_subresource(sub);
    match rest {
        [plural] => Some(mk(def_of(plural)?, None, None, None)),
        ["namespaces", ns, plural] if def_of(plural).is_some_and(|d| d.namespaced) => {
            Some(mk(def_of(plural)?, Some(ns), None, None))
        }
        [plural, name] => def_of(plural)
            .filter(|d| !d.namespaced)
            .map(|d| mk(d, None, Some(name), None)),
        [plural, name, sub] => def_of(plural)
            .filter(|d| !d.namespaced && sub_ok(d, sub))
            .map(|d| mk(d, None, Some(name), Some(sub))),
        ["namespaces", ns, plural, name] => def_of(plural)
            .filter(|d| d.namespaced)
            .map(|d| mk(d, Some(ns), Some(name), None)),
        ["namespaces", ns, plural, name, sub] => def_of(plural)
            .filter(|d| d.namespaced && sub_ok(d, sub))
            .map(|d| mk(d, Some(ns), Some(name), Some(sub))),
        _ => None,
    }
}

fn header(req: &Request<Incoming>, name: hyper::header::HeaderName) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let (content_type, accept, user_agent, authorization) = (
        header(&req, CONTENT_TYPE),
        header(&req, ACCEPT),
        header(&req, USER_AGENT),
        header(&req, AUTHORIZATION),
    );
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return error_response(&ApiError::bad_request(format!(
                "reading the request body: {e}"
            )))
        }
    };
    if let Some(rest) = path.strip_prefix("/_test/") {
        return reply(control::handle(&state, &method, rest, &body));
    }
    let latency = state.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    // Authentication, then authorization, come before everything else, as in the API server's
    // filter chain (fault injection included: a forbidden request consumes no fault).
    let user = if state.settings.rbac {
        match tokens::authenticate(&state, &authorization) {
            Ok(u) => Some(u),
            Err(e) => {
                log(&state, &method, &path, &query, ("", ""), e.code, "");
                return error_response(&e);
            }
        }
    } else {
        None
    };
    let user_name = user.as_ref().map_or("", |u| u.name.as_str());
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (group, version, rest): (&str, &str, &[&str]) = match segments.as_slice() {
        ["api", "v1", rest @ ..] if !rest.is_empty() => ("", "v1", rest),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => (g, v, rest),
        _ => {
            let verb = method.as_str().to_ascii_lowercase();
            let access = rbac::Access::NonResource {
                verb: &verb,
                path: &path,
            };
            let resp = match user
                .as_ref()
                .map(|u| rbac::authorize(&state.store, u, access))
            {
                Some(Err(e)) => error_response(&e),
                _ => discovery_route(&state, &method, &segments, &path),
            };
            let code = resp.status().as_u16();
            log(&state, &method, &path, &query, ("", ""), code, user_name);
            return resp;
        }
    };
    let Some(p) = parse_resource(group, version, rest) else {
        let resp = error_response(&not_found(&path));
        log(&state, &method, &path, &query, ("", ""), 404, user_name);
        return resp;
    };
    let rr = ResourceRequest {
        def: p.def,
        namespace: p.namespace,
        name: p.name,
        subresource: p.subresource,
        query: parse_query(&query),
        content_type,
        accept,
        user_agent,
        body,
    };
    let verb = rr.verb(method.as_str());
    let denied = user.as_ref().and_then(|u| {
        let selected = selected_name(&rr, verb);
        let access = rbac::Access::Resource {
            verb: verb.as_str(),
            group: rr.def.group,
            resource: rr.def.plural,
            subresource: rr.subresource.as_deref().unwrap_or(""),
            namespace: rr.ns(),
            name: rr.name.as_deref().or(selected.as_deref()).unwrap_or(""),
        };
        rbac::authorize(&state.store, u, access).err()
    });
    let resp = match denied {
        Some(e) => error_response(&e),
        None => match state.faults.take(verb, rr.def.plural) {
            Some(Fault::Fail(e)) => error_response(&e),
            Some(Fault::Hang) => {
                // Logged now (status 0: no answer), as the call never ends; the connection's task
                // is aborted when the server stops.
                let what = (verb.as_str(), rr.def.plural);
                log(&state, &method, &path, &query, what, 0, user_name);
                return std::future::pending().await;
            }
            None => dispatch(&state, &method, &rr).await,
        },
    };
    let code = resp.status().as_u16();
    log(
        &state,
        &method,
        &path,
        &query,
        (verb.as_str(), rr.def.plural),
        code,
        user_name,
    );
    resp
}

/// The name a list or watch selects with `fieldSelector=metadata.name=X`: the API server's
/// `RequestInfo` takes it as the request's name, so `resourceNames` can authorize the request.
fn selected_name(rr: &ResourceRequest, verb: Verb) -> Option<String> {
    if !matches!(verb, Verb::List | Verb::Watch) {
        return None;
    }
    let selector = FieldSelector::parse(rr.param("fieldSelector")?, rr.def).ok()?;
    selector.exact_name().map(String::from)
}

fn log(
    state: &State,
    method: &Method,
    path: &str,
    query: &str,
    (verb, resource): (&str, &str),
    status: u16,
    user: &str,
) {
    state.faults.record(RequestRecord {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        verb: verb.to_string(),
        resource: resource.to_string(),
        status,
        user: user.to_string(),
    });
}

async fn dispatch(state: &Arc<State>, method: &Method, rr: &ResourceRequest) -> Response<Body> {
    let verbs = rr.def.verbs();
    let allowed = |v: &str| verbs.contains(&v);
    let is_table = table::wanted(&rr.accept);
    if rr.subresource.as_deref() == Some("token") {
        return match method {
            &Method::POST => reply(crate::token_request::create(state, rr)),
            _ => error_response(&ApiError::method_not_allowed(
                "the server does not allow this method on the requested resource",
            )),
        };
    }
    match (method, rr.name.is_some()) {
        (&Method::GET, true) if allowed("get") => reply(handlers::get(state, rr).map(|o| {
            if is_table {
                let meta =
                    json!({"resourceVersion": crate::store::meta_str(&o, "resourceVersion")});
                (
                    200,
                    table::render(rr.def, &[o], meta, rr.param("includeObject")),
                )
            } else {
                (200, o)
            }
        })),
        (&Method::GET, false) if rr.flag("watch") && allowed("watch") => {
            match watch::start(state, rr) {
                Ok(body) => {
                    let mut resp = Response::new(Either::Right(body));
                    resp.headers_mut()
                        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    resp.headers_mut()
                        .insert("transfer-encoding", HeaderValue::from_static("chunked"));
                    resp
                }
                Err(e) => error_response(&e),
            }
        }
        (&Method::GET, false) if allowed("list") => {
            reply(handlers::list(state, rr).map(|v| (200, v)))
        }
        (&Method::POST, _) if allowed("create") => reply(handlers::create(state, rr)),
        (&Method::PUT, true) if allowed("update") => {
            reply(handlers::replace(state, rr).map(|v| (200, v)))
        }
        (&Method::PATCH, true) if allowed("patch") => reply(handlers::patch(state, rr)),
        (&Method::DELETE, true) if allowed("delete") => {
            reply(deletion::delete(state, rr).map(|v| (200, v)))
        }
        (&Method::DELETE, false) if allowed("deletecollection") => {
            reply(deletion::delete_collection(state, rr).map(|v| (200, v)))
        }
        _ => error_response(&ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )),
    }
}

fn discovery_route(
    state: &State,
    method: &Method,
    segments: &[&str],
    path: &str,
) -> Response<Body> {
    if method != Method::GET {
        return error_response(&ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        ));
    }
    let doc = match segments {
        ["version"] => Some(discovery::version()),
        ["api"] => Some(discovery::core_versions(&state.addr.to_string())),
        ["api", "v1"] => discovery::resource_list("", "v1"),
        ["apis"] => Some(discovery::group_list()),
        ["apis", g] => discovery::group(g),
        ["apis", g, v] => discovery::resource_list(g, v),
        ["openapi", "v3"] => Some(discovery::openapi_v3_root()),
        ["openapi", "v3", rest @ ..] => discovery::openapi_v3_group_version(&rest.join("/")),
        ["healthz" | "livez" | "readyz"] => {
            let mut resp = Response::new(Either::Left(Full::new(Bytes::from_static(b"ok"))));
            resp.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            return resp;
        }
        _ => None,
    };
    match doc {
        Some(d) => json_response(200, &d),
        None => error_response(&not_found(path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q = parse_query("labelSelector=app%3Dweb%2Ctier+in+(a)&watch=1");
        assert_eq!(q[0], ("labelSelector".into(), "app=web,tier in (a)".into()));
        assert_eq!(q[1], ("watch".into(), "1".into()));
    }

    #[test]
    fn resource_paths() {
        let p = parse_resource("", "v1", &["namespaces", "ns", "secrets", "s"]).unwrap();
        assert_eq!(
            (p.def.plural, p.namespace.as_deref(), p.name.as_deref()),
            ("secrets", Some("ns"), Some("s"))
        );
        assert!(parse_resource("", "v1", &["secrets", "s"]).is_none());
        let p = parse_resource("", "v1", &["namespaces", "ns"]).unwrap();
        assert_eq!(
            (p.def.plural, p.name.as_deref()),
            ("namespaces", Some("ns"))
        );
        let p = parse_resource(
            "apps",
            "v1",
            &["namespaces", "ns", "deployments", "d", "status"],
        )
        .unwrap();
        assert_eq!(p.subresource.as_deref(), Some("status"));
        assert!(
            parse_resource("", "v1", &["namespaces", "ns", "secrets", "s", "status"]).is_none()
        );
        let p = parse_resource(
            "",
            "v1",
            &["namespaces", "ns", "serviceaccounts", "a", "token"],
        )
        .unwrap();
        assert_eq!(p.subresource.as_deref(), Some("token"));
        assert!(parse_resource("", "v1", &["namespaces", "ns", "secrets", "s", "token"]).is_none());
    }
}
