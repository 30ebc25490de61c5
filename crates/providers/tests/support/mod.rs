//! Real servers for the providers' tests: OpenBao and moto (the fault-injecting proxy in front of them is
//! the `fault-proxy` crate, shared with the integration tests).
#![allow(dead_code)]

pub mod bao;
pub mod moto;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Child;
use std::time::Duration;

/// A free loopback port (bound then released; the server binds it next).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The project's root (venvs live there).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A server process, killed and reaped when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `cond` every 100 ms for up to 60 s (generous: the suite runs on two loaded cores).
pub async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..600 {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Small backoff and generous timeouts for tests.
pub fn test_limits() -> sealsync_providers::Limits {
    sealsync_providers::Limits {
        backoff_min: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        retries: 3,
        requests_per_second: 1000,
        ..Default::default()
    }
}

/// A plain HTTP client for the tests' own admin calls.
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .tls_backend_rustls()
        .build()
        .expect("client")
}
