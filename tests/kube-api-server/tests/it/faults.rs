//! Fault injection through the library and the `/_test` HTTP endpoints, and the request log.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use kube_api_test_server::{FaultSpec, TestServer, Verb};

use crate::{client, status};

/// One raw HTTP/1.1 exchange (`Connection: close`), answering the status line, headers and body.
fn raw(server: &TestServer, method: &str, path: &str, body: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[tokio::test]
async fn next_calls_fail_with_the_configured_code() {
    let server = TestServer::start().await;
    let mut config = kube::Config::new(server.url().parse().unwrap());
    config.default_retry = false;
    let plain: Api<Secret> = Api::namespaced(kube::Client::try_from(config).unwrap(), "default");
    server.fail_next(FaultSpec::new(Verb::Get, 503).resource("secrets").times(2));
    server.fail_next(FaultSpec::new(Verb::List, 500));
    for _ in 0..2 {
        let st = status(plain.get("x").await.unwrap_err());
        assert_eq!((st.code, st.reason.as_str()), (503, "ServiceUnavailable"));
    }
    assert_eq!(
        status(plain.get("x").await.unwrap_err()).code,
        404,
        "faults are used up"
    );
    assert_eq!(
        status(plain.list(&ListParams::default()).await.unwrap_err()).code,
        500
    );
    assert!(plain.list(&ListParams::default()).await.is_ok());

    let log = server.requests();
    let statuses: Vec<(&str, u16)> = log
        .iter()
        .filter(|r| r.resource == "secrets")
        .map(|r| (r.verb.as_str(), r.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("get", 503),
            ("get", 503),
            ("get", 404),
            ("list", 500),
            ("list", 200)
        ]
    );
    assert_eq!(log[0].method, "GET");
    assert_eq!(log[0].path, "/api/v1/namespaces/default/secrets/x");
}

#[tokio::test]
async fn kube_client_retries_through_transient_faults() {
    let server = TestServer::start().await;
    let api: Api<Secret> = Api::namespaced(client(&server), "default");
    server.fail_next(FaultSpec::new(Verb::List, 503).times(2));
    server.fail_next(FaultSpec::new(Verb::List, 429).retry_after(1));
    let t = Instant::now();
    api.list(&ListParams::default())
        .await
        .expect("kube-rs retries 503 and 429 by default");
    assert!(
        t.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured: {:?}",
        t.elapsed()
    );
    let codes: Vec<u16> = server.requests().iter().map(|r| r.status).collect();
    assert_eq!(codes, [503, 503, 429, 200]);
}

#[tokio::test]
async fn control_endpoint_injects_429_with_retry_after_and_latency() {
    let server = TestServer::start().await;
    let srv = std::sync::Arc::new(server);
    let s2 = srv.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let added = raw(
            &s2,
            "POST",
            "/_test/faults",
            r#"{"verb":"list","code":429,"retryAfterSeconds":7}"#,
        );
        assert!(added.starts_with("HTTP/1.1 201"), "{added}");
        raw(&s2, "GET", "/api/v1/namespaces/default/secrets", "")
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 7"),
        "{answer}"
    );
    assert!(
        answer.contains("\"reason\":\"TooManyRequests\"")
            && answer.contains("\"retryAfterSeconds\":7"),
        "{answer}"
    );

    srv.set_latency(Duration::from_millis(300));
    let api: Api<Secret> = Api::namespaced(client(&srv), "default");
    let t = Instant::now();
    api.list(&ListParams::default()).await.unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "latency applied: {:?}",
        t.elapsed()
    );
    srv.clear_faults();
    let t = Instant::now();
    api.list(&ListParams::default()).await.unwrap();
    assert!(t.elapsed() < Duration::from_millis(300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_call_is_never_answered_until_the_server_stops() {
    let server = std::sync::Arc::new(TestServer::start().await);
    let s2 = server.clone();
    let hung = tokio::task::spawn_blocking(move || {
        let refused = raw(&s2, "POST", "/_test/faults", r#"{"verb":"get"}"#);
        assert!(refused.starts_with("HTTP/1.1 400"), "{refused}");
        let added = raw(
            &s2,
            "POST",
            "/_test/faults",
            r#"{"verb":"get","resource":"secrets","hang":true}"#,
        );
        assert!(added.starts_with("HTTP/1.1 201"), "{added}");
        let mut s = std::net::TcpStream::connect(("127.0.0.1", s2.port())).unwrap();
        write!(
            s,
            "GET /api/v1/namespaces/default/secrets/x HTTP/1.1\r\nHost: localhost\r\n\r\n"
        )
        .unwrap();
        s
    })
    .await
    .unwrap();
    let held = || {
        server
            .requests()
            .iter()
            .any(|r| r.verb == "get" && r.resource == "secrets" && r.status == 0)
    };
    while !held() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The fault is used up: the next call is answered, the held one still is not.
    let api: Api<Secret> = Api::namespaced(client(&server), "default");
    assert_eq!(status(api.get("x").await.unwrap_err()).code, 404);
    hung.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    let pending = (&hung).read(&mut buf);
    assert!(
        pending
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
        "no answer to the held call: {pending:?}"
    );
    // Stopping the server ends the held connection without an answer.
    let server = std::sync::Arc::into_inner(server).expect("the only handle");
    server.shutdown().await;
    hung.set_nonblocking(false).unwrap();
    let mut rest = Vec::new();
    let _ = (&hung).read_to_end(&mut rest);
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
}
