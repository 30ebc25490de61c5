//! Integration tests: the real `kube` client and `kubectl` against the test server (one binary).

mod apply;
mod crud;
mod faults;
mod kubectl;
mod rbac;
mod token_request;
mod watch;

use kube::{Client, Config};
use kube_api_test_server::TestServer;

/// A kube-rs client for the server, built from its URL as any other crate's tests would.
pub fn client(server: &TestServer) -> Client {
    let config = Config::new(server.url().parse().expect("server URL is a valid URI"));
    Client::try_from(config).expect("kube client from config")
}

/// A kube-rs client authenticating with a bearer token, from the kubeconfig the server writes for it.
pub async fn client_with_token(server: &TestServer, token: &str) -> Client {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&server.kubeconfig_for_token(token))
        .expect("the server writes a valid kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("kube config from the kubeconfig");
    Client::try_from(config).expect("kube client from config")
}

/// The HTTP status of a kube-rs error (panics on transport errors).
pub fn code(err: &kube::Error) -> u16 {
    match err {
        kube::Error::Api(s) => s.code,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// The `Status` of a kube-rs error.
pub fn status(err: kube::Error) -> Box<kube::core::Status> {
    match err {
        kube::Error::Api(s) => s,
        other => panic!("expected an API error, got {other:?}"),
    }
}
