//! The operations server driven over real TCP on loopback by a real HTTP client.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretSlice;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::*;
use crate::ops::metrics::tests::{parse_openmetrics, FAMILIES};
use crate::ops::status::tests::sample_status;
use crate::ops::webhook::tests::{GITHUB_DOC_BODY, GITHUB_DOC_SECRET, GITHUB_DOC_SIGNATURE};
use crate::reason::Reason;

struct Server {
    addr: SocketAddr,
    state: OpsState,
    triggers: mpsc::Receiver<()>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<()>>>,
}

impl Server {
    async fn start(webhook_secret: Option<&[u8]>) -> Server {
        Server::start_with(
            webhook_secret,
            Endpoints::All,
            ConnectionLimits::for_listeners(1),
        )
        .await
    }

    async fn start_with(
        webhook_secret: Option<&[u8]>,
        endpoints: Endpoints,
        limits: ConnectionLimits,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (trigger, triggers) = trigger_channel();
        let webhook = webhook_secret.map(|s| WebhookConfig::new(SecretSlice::from(s.to_vec())));
        let state = OpsState::new(Metrics::new(), StatusBoard::new(), webhook, trigger);
        let (shutdown, stop) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_endpoints(
            listener,
            state.clone(),
            endpoints,
            limits,
            async {
                let _ = stop.await;
            },
        ));
        Server {
            addr,
            state,
            triggers,
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn stop(mut self) {
        self.shutdown.take().unwrap().send(()).unwrap();
        let task = self.task.take().unwrap();
        // Generous (the listener's own grace is 5 s): only a shutdown that hangs takes this long.
        tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("graceful shutdown completes")
            .unwrap()
            .unwrap();
    }
}

struct Reply {
    status: u16,
    content_type: Option<String>,
    body: String,
}

/// One request through ureq, a real blocking HTTP client, off the runtime's threads.
async fn request(
    method: &'static str,
    url: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
) -> Reply {
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let mut response = match method {
            "GET" => {
                let mut req = agent.get(&url);
                for (k, v) in &headers {
                    req = req.header(*k, v);
                }
                req.call()
            }
            "POST" | "PUT" => {
                let mut req = if method == "POST" {
                    agent.post(&url)
                } else {
                    agent.put(&url)
                };
                for (k, v) in &headers {
                    req = req.header(*k, v);
                }
                req.send(&body[..])
            }
            other => panic!("unsupported method {other}"),
        }
        .unwrap();
        Reply {
            status: response.status().as_u16(),
            content_type: response
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string()),
            body: response.body_mut().read_to_string().unwrap(),
        }
    })
    .await
    .unwrap()
}

async fn get(server: &Server, path: &str) -> Reply {
    request("GET", server.url(path), vec![], vec![]).await
}

async fn post_hook(server: &Server, headers: Vec<(&'static str, String)>, body: &[u8]) -> Reply {
    request("POST", server.url("/hooks/git"), headers, body.to_vec()).await
}

fn github_headers() -> Vec<(&'static str, String)> {
    vec![
        ("X-GitHub-Event", "push".into()),
        ("X-Hub-Signature-256", GITHUB_DOC_SIGNATURE.into()),
    ]
}

#[tokio::test]
async fn healthz_answers_ok() {
    let server = Server::start(None).await;
    let reply = get(&server, "/healthz").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok"));
    assert_eq!(get(&server, "/nope").await.status, 404);
    server.stop().await;
}

#[tokio::test]
async fn readyz_is_503_until_the_first_reconcile() {
    let server = Server::start(None).await;
    assert_eq!(get(&server, "/readyz").await.status, 503);
    assert!(
        !serde_json::from_str::<Status>(&get(&server, "/status").await.body)
            .unwrap()
            .ready
    );
    server.state.mark_ready();
    assert_eq!(get(&server, "/readyz").await.status, 200);
    assert!(
        serde_json::from_str::<Status>(&get(&server, "/status").await.body)
            .unwrap()
            .ready
    );
    server.stop().await;
}

#[tokio::test]
async fn metrics_are_openmetrics_with_every_family() {
    let server = Server::start(None).await;
    server.state.metrics.error(Reason::Decrypt);
    server.state.set_leader(true);
    let reply = get(&server, "/metrics").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.content_type.as_deref(),
        Some(OPENMETRICS_CONTENT_TYPE)
    );
    for family in FAMILIES {
        assert!(
            reply.body.contains(&format!("# TYPE {family} ")),
            "{family} missing"
        );
    }
    let samples = parse_openmetrics(&reply.body);
    assert!(samples.contains(&("sealsync_errors_total{reason=\"decrypt\"}".to_string(), 1.0)));
    assert!(samples.contains(&("sealsync_leader".to_string(), 1.0)));
    server.stop().await;
}

#[tokio::test]
async fn status_json_round_trips() {
    let server = Server::start(None).await;
    let mut expected = sample_status();
    server.state.status.record_fetch(
        expected.commit.clone().unwrap(),
        expected.last_fetch.unwrap(),
    );
    server.state.status.record_reconcile(
        expected.last_reconcile.unwrap(),
        expected.secrets.clone(),
        expected.refused.clone(),
    );
    server.state.status.set_webhook(expected.webhook.clone());
    server.state.set_leader(true);
    server.state.mark_ready();
    let reply = get(&server, "/status").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type.as_deref(), Some("application/json"));
    // The board keeps Secrets sorted by namespace/name.
    expected
        .secrets
        .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    assert_eq!(
        serde_json::from_str::<Status>(&reply.body).unwrap(),
        expected
    );
    server.stop().await;
}

#[tokio::test]
async fn github_signature_triggers_a_fetch_and_repeats_coalesce() {
    let mut server = Server::start(Some(GITHUB_DOC_SECRET)).await;
    let reply = post_hook(&server, github_headers(), GITHUB_DOC_BODY).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(server.triggers.try_recv(), Ok(()));

    // A burst while one fetch is pending leaves exactly one request queued.
    for _ in 0..3 {
        assert_eq!(
            post_hook(&server, github_headers(), GITHUB_DOC_BODY)
                .await
                .status,
            202
        );
    }
    assert_eq!(server.triggers.try_recv(), Ok(()));
    assert!(server.triggers.try_recv().is_err());
    server.stop().await;
}

#[tokio::test]
async fn a_one_byte_change_is_rejected_without_a_trigger() {
    let mut server = Server::start(Some(GITHUB_DOC_SECRET)).await;
    let reply = post_hook(&server, github_headers(), b"Hello, World?").await;
    assert_eq!(reply.status, 401);
    let reply = post_hook(&server, vec![], GITHUB_DOC_BODY).await;
    assert_eq!(reply.status, 401, "a missing signature is rejected");
    assert!(server.triggers.try_recv().is_err());
    server.stop().await;
}

#[tokio::test]
async fn gitlab_token_right_and_wrong() {
    let mut server = Server::start(Some(b"gl-token-42")).await;
    let wrong = post_hook(
        &server,
        vec![("X-Gitlab-Token", "gl-token-43".into())],
        b"{}",
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert!(server.triggers.try_recv().is_err());
    let right = post_hook(
        &server,
        vec![("X-Gitlab-Token", "gl-token-42".into())],
        b"{}",
    )
    .await;
    assert_eq!(right.status, 202);
    assert_eq!(server.triggers.try_recv(), Ok(()));
    server.stop().await;
}

#[tokio::test]
async fn no_secret_configured_is_404_and_wrong_methods_are_405() {
    let mut server = Server::start(None).await;
    let reply = post_hook(&server, github_headers(), GITHUB_DOC_BODY).await;
    assert_eq!(reply.status, 404);
    assert!(server.triggers.try_recv().is_err());
    assert_eq!(get(&server, "/hooks/git").await.status, 405);
    let put = request("PUT", server.url("/healthz"), vec![], vec![]).await;
    assert_eq!(put.status, 405);
    let post = request("POST", server.url("/metrics"), vec![], vec![]).await;
    assert_eq!(post.status, 405);
    server.stop().await;
}

/// Sends raw bytes and reads the status line of the answer: an honest client cannot send a body
/// that lies about its length, and the server must answer before the client finishes sending.
fn raw_exchange(addr: SocketAddr, head: &str, body_chunks: &[Vec<u8>]) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    for chunk in body_chunks {
        // The server may answer and close before taking everything; that is the point.
        if stream.write_all(chunk).is_err() {
            break;
        }
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn oversize_bodies_are_413_and_not_read() {
    let mut server = Server::start(Some(GITHUB_DOC_SECRET)).await;
    let addr = server.addr;
    let sig = GITHUB_DOC_SIGNATURE;

    // Declared too large: refused before a byte of the body arrives.
    let head = format!(
        "POST /hooks/git HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: {sig}\r\nContent-Length: {}\r\n\r\n",
        MAX_WEBHOOK_BODY + 1
    );
    let line = tokio::task::spawn_blocking(move || raw_exchange(addr, &head, &[]))
        .await
        .unwrap();
    assert!(line.starts_with("HTTP/1.1 413"), "{line}");

    // Chunked, with no length announced: cut off once past the limit.
    let head = format!(
        "POST /hooks/git HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: {sig}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let chunk_size = 64 * 1024;
    let mut chunk = format!("{chunk_size:x}\r\n").into_bytes();
    chunk.extend(std::iter::repeat_n(b'a', chunk_size));
    chunk.extend_from_slice(b"\r\n");
    let mut chunks = vec![chunk; MAX_WEBHOOK_BODY / chunk_size];
    // One byte past the limit; the terminating chunk never comes.
    chunks.push(b"1\r\na\r\n".to_vec());
    let line = tokio::task::spawn_blocking(move || raw_exchange(addr, &head, &chunks))
        .await
        .unwrap();
    assert!(line.starts_with("HTTP/1.1 413"), "{line}");

    // Exactly at the limit is read and judged on its signature.
    let body = vec![b'a'; MAX_WEBHOOK_BODY];
    assert_eq!(
        post_hook(&server, github_headers(), &body).await.status,
        401
    );
    assert!(server.triggers.try_recv().is_err());
    server.stop().await;
}

#[tokio::test]
async fn shutdown_is_graceful_and_the_port_is_released() {
    let server = Server::start(None).await;
    let addr = server.addr;
    assert_eq!(get(&server, "/healthz").await.status, 200);
    server.stop().await;
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[tokio::test]
async fn an_unsigned_post_is_refused_before_its_body_is_read() {
    let mut server = Server::start(Some(GITHUB_DOC_SECRET)).await;
    let addr = server.addr;
    // 100 MiB announced, none sent: the answer comes anyway, so the body was never waited for.
    let head =
        "POST /hooks/git HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n".to_string();
    let line = tokio::task::spawn_blocking(move || raw_exchange(addr, &head, &[]))
        .await
        .unwrap();
    assert!(line.starts_with("HTTP/1.1 401"), "{line}");
    assert!(server.triggers.try_recv().is_err());
    server.stop().await;
}

#[tokio::test]
async fn a_replayed_delivery_asks_for_one_fetch() {
    let mut server = Server::start(Some(GITHUB_DOC_SECRET)).await;
    let mut headers = github_headers();
    headers.push((
        "X-GitHub-Delivery",
        "72d3162e-cc78-11e3-81ab-4c9367dc0958".into(),
    ));
    let first = post_hook(&server, headers.clone(), GITHUB_DOC_BODY).await;
    assert_eq!(first.status, 202, "{}", first.body);
    assert_eq!(server.triggers.try_recv(), Ok(()));
    for _ in 0..20 {
        let again = post_hook(&server, headers.clone(), GITHUB_DOC_BODY).await;
        assert_eq!(again.status, 200, "{}", again.body);
    }
    assert!(
        server.triggers.try_recv().is_err(),
        "a replay asked for a fetch"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_source_of_rejected_requests_is_answered_429() {
    let mut server = Server::start(Some(GITHUB_DOC_SECRET)).await;
    // A burst of 20 rejections, then one a second: a fast loop meets 429 long before 500 requests.
    let mut statuses = Vec::new();
    while statuses.len() < 500 && statuses.last() != Some(&429) {
        statuses.push(post_hook(&server, vec![], b"{}").await.status);
    }
    assert_eq!(statuses[0], 401);
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(server.triggers.try_recv().is_err());
    server.stop().await;
}

#[tokio::test]
async fn split_listeners_serve_only_their_endpoints() {
    let limits = ConnectionLimits::for_listeners(2);
    let ops = Server::start_with(Some(GITHUB_DOC_SECRET), Endpoints::Operations, limits).await;
    assert_eq!(
        post_hook(&ops, github_headers(), GITHUB_DOC_BODY)
            .await
            .status,
        404
    );
    assert_eq!(get(&ops, "/healthz").await.status, 200);
    ops.stop().await;
    let mut hook = Server::start_with(Some(GITHUB_DOC_SECRET), Endpoints::Webhook, limits).await;
    assert_eq!(get(&hook, "/healthz").await.status, 404);
    assert_eq!(get(&hook, "/metrics").await.status, 404);
    assert_eq!(
        post_hook(&hook, github_headers(), GITHUB_DOC_BODY)
            .await
            .status,
        202
    );
    assert_eq!(hook.triggers.try_recv(), Ok(()));
    hook.stop().await;
}

#[tokio::test]
async fn connections_over_the_limit_are_closed_and_idle_ones_time_out() {
    let limits = ConnectionLimits {
        max_connections: 4,
        header_read_timeout: Duration::from_secs(1),
        ..ConnectionLimits::for_listeners(1)
    };
    let server = Server::start_with(None, Endpoints::All, limits).await;
    let addr = server.addr;
    let idle: Vec<std::net::TcpStream> = (0..4)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    // The idle connections are closed by the header timeout; /healthz is answered again after that.
    let answered = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            let line = raw_exchange(addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", &[]);
            if line.starts_with("HTTP/1.1 200") {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    })
    .await
    .unwrap();
    assert!(answered);
    for mut stream in idle {
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut buf = [0u8; 16];
        // Closed by the server (EOF or reset), not left open.
        assert!(matches!(stream.read(&mut buf), Ok(0) | Err(_)));
    }
    server.stop().await;
}

async fn post_refresh(server: &Server, query: &str, signed_body: &[u8]) -> Reply {
    let headers = vec![(
        "X-Hub-Signature-256",
        crate::ops::sign_github(GITHUB_DOC_SECRET, signed_body),
    )];
    let path = if query.is_empty() {
        "/refresh".to_string()
    } else {
        format!("/refresh?{query}")
    };
    request("POST", server.url(&path), headers, signed_body.to_vec()).await
}

#[tokio::test]
async fn refresh_is_signed_like_the_webhook_and_names_its_scope() {
    use crate::desired::SecretKey;
    use crate::external::Refresh;

    let mut server = Server::start(Some(GITHUB_DOC_SECRET)).await;
    let reply = post_refresh(&server, "secret=team-a/db", b"secret=team-a/db").await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert!(reply.body.contains("team-a/db"), "{}", reply.body);
    assert_eq!(server.triggers.try_recv(), Ok(()), "a pass is asked for");
    assert_eq!(
        server.state.refresh.take(),
        Refresh::Secrets([SecretKey::new("team-a", "db")].into())
    );

    let reply = post_refresh(&server, "", b"").await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(server.state.refresh.take(), Refresh::All);

    // The signature covers the body: a signed body that does not repeat the query is refused, so a
    // captured one-Secret refresh cannot be replayed as a refresh of everything (or of another).
    let reply = post_refresh(&server, "secret=team-b/db", b"secret=team-a/db").await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let reply = post_refresh(&server, "", b"secret=team-a/db").await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    // Unsigned, or signed with another secret: 401, nothing asked for.
    let reply = request("POST", server.url("/refresh"), vec![], vec![]).await;
    assert_eq!(reply.status, 401);
    let forged = vec![(
        "X-Hub-Signature-256",
        crate::ops::sign_github(b"guess", b""),
    )];
    let reply = request("POST", server.url("/refresh"), forged, vec![]).await;
    assert_eq!(reply.status, 401);
    // A malformed scope is named.
    let reply = post_refresh(&server, "secret=Team_A/db", b"secret=Team_A/db").await;
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("namespace"), "{}", reply.body);
    assert_eq!(server.state.refresh.take(), Refresh::Nothing);

    // GitLab's token is the secret itself: no body to repeat.
    let gitlab = vec![(
        "X-Gitlab-Token",
        String::from_utf8(GITHUB_DOC_SECRET.to_vec()).unwrap(),
    )];
    let reply = request(
        "POST",
        server.url("/refresh?secret=team-a/db"),
        gitlab,
        vec![],
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    server.stop().await;

    let server = Server::start(None).await;
    let reply = post_refresh(&server, "", b"").await;
    assert_eq!(
        reply.status, 404,
        "without a webhook secret there is no refresh"
    );
    assert!(
        reply.body.contains("--webhook-secret-file"),
        "{}",
        reply.body
    );
    server.stop().await;
}
