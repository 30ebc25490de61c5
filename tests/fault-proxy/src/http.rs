//! A counting HTTP proxy in front of a test server: records each request and can answer the next ones
//! with a chosen status and body instead of forwarding them.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// One request seen: its `X-Amz-Target` (the AWS operation) and body.
#[derive(Clone, Debug)]
pub struct Seen {
    pub target: String,
    pub body: Vec<u8>,
}

#[derive(Default)]
struct Shared {
    seen: Vec<Seen>,
    faults: VecDeque<(u16, String)>,
}

pub struct HttpProxy {
    pub url: String,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HttpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HttpProxy {
    /// A proxy on a free loopback port forwarding to `upstream` (`http://127.0.0.1:PORT`).
    pub async fn start(upstream: &str) -> HttpProxy {
        Self::start_on(upstream, 0).await
    }

    /// As [`HttpProxy::start`], on `port`.
    ///
    /// # Panics
    /// When the port cannot be bound: a test cannot go on without its proxy.
    pub async fn start_on(upstream: &str, port: u16) -> HttpProxy {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (state, upstream) = (shared.clone(), upstream.to_owned());
        let client = client();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (state, upstream, client) = (state.clone(), upstream.clone(), client.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        forward(req, state.clone(), upstream.clone(), client.clone())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        HttpProxy { url, shared, task }
    }

    /// The next `n` requests get `status` with `body` instead of reaching the server.
    pub fn fail_next(&self, n: usize, status: u16, body: &str) {
        let mut s = self.shared.lock().unwrap();
        s.faults
            .extend(std::iter::repeat_n((status, body.to_owned()), n));
    }

    /// Every request received so far, faulted or forwarded.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.lock().unwrap().seen.clone()
    }

    /// Forgets the requests seen and the faults not yet served.
    pub fn clear(&self) {
        let mut s = self.shared.lock().unwrap();
        s.seen.clear();
        s.faults.clear();
    }
}

/// The client that forwards requests (rustls with ring, the TLS stack of the rest of the project).
fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .tls_backend_rustls()
        .build()
        .expect("an HTTP client")
}

async fn forward(
    req: hyper::Request<hyper::body::Incoming>,
    state: Arc<Mutex<Shared>>,
    upstream: String,
    client: reqwest::Client,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let fault = {
        let mut s = state.lock().unwrap();
        s.seen.push(Seen {
            target,
            body: body.to_vec(),
        });
        s.faults.pop_front()
    };
    if let Some((status, text)) = fault {
        let resp = hyper::Response::builder()
            .status(status)
            .header("content-type", "application/x-amz-json-1.1")
            .body(Full::new(Bytes::from(text)))
            .expect("response");
        return Ok(resp);
    }
    let uri = format!(
        "{upstream}{}",
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let mut out = client.request(parts.method.clone(), uri).body(body.clone());
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            out = out.header(name, value);
        }
    }
    let resp = match out.send().await {
        Ok(r) => r,
        Err(_) => {
            return Ok(hyper::Response::builder()
                .status(502)
                .body(Full::new(Bytes::new()))
                .expect("response"))
        }
    };
    let mut builder = hyper::Response::builder().status(resp.status().as_u16());
    for (name, value) in resp.headers() {
        if name != "content-length" && name != "transfer-encoding" && name != "connection" {
            builder = builder.header(name, value);
        }
    }
    let bytes = resp.bytes().await.unwrap_or_default();
    Ok(builder.body(Full::new(bytes)).expect("response"))
}
