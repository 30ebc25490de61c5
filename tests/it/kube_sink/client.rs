//! The agent's Kubernetes client (crates/agent/src/sink/kube/client.rs): kube's middleware over the agent's pool.
//! Every other kube sink test also runs through it (the harness builds it); these check what only it
//! decides.

use k8s_openapi::api::core::v1::Secret;
use kube::api::ListParams;
use kube::{Api, Config};
use kube_api_test_server::{FaultSpec, Verb};
use sealsync_agent::sink::kube::client::{build, ClientError};

use super::harness::Cluster;

#[tokio::test]
async fn overload_answers_are_retried_as_kube_retries_them() {
    let c = Cluster::start().await;
    let secrets: Api<Secret> = Api::namespaced(c.client.clone(), "team-a");
    c.server.clear_requests();
    c.server
        .fail_next(FaultSpec::new(Verb::List, 503).resource("secrets").times(2));
    let listed = secrets.list(&Default::default()).await;
    assert!(listed.is_ok(), "two 503s then a list: {listed:?}");
    let statuses: Vec<u16> = c
        .server
        .requests()
        .into_iter()
        .filter(|r| r.resource == "secrets")
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [503, 503, 200]);

    // A 500 is an answer, not overload: kube does not retry it, and neither does the agent's client.
    c.server.clear_requests();
    c.server
        .fail_next(FaultSpec::new(Verb::List, 500).resource("secrets").times(1));
    assert!(secrets.list(&Default::default()).await.is_err());
    assert_eq!(c.server.requests().len(), 1);
}

#[tokio::test]
async fn without_default_retry_an_overload_answer_is_returned() {
    let c = Cluster::start().await;
    let mut config = Config::new(c.server.url().parse().unwrap());
    config.default_retry = false;
    let secrets: Api<Secret> = Api::namespaced(build(config).unwrap(), "team-a");
    c.server
        .fail_next(FaultSpec::new(Verb::List, 503).resource("secrets").times(1));
    assert!(secrets.list(&Default::default()).await.is_err());
}

#[tokio::test]
async fn many_requests_at_once_share_the_pool_and_all_complete() {
    let c = Cluster::start().await;
    let secrets: Api<Secret> = Api::namespaced(c.client.clone(), "team-a");
    let params = ListParams::default();
    let lists = (0..40).map(|_| secrets.list(&params));
    for listed in futures::future::join_all(lists).await {
        assert!(listed.is_ok(), "{listed:?}");
    }
}

#[test]
fn a_proxy_in_the_kubeconfig_is_refused_with_what_to_do() {
    let mut config = Config::new("https://10.0.0.1:6443".parse().unwrap());
    config.proxy_url = Some("http://proxy.internal:3128".parse().unwrap());
    let Err(err) = build(config) else {
        panic!("a client was built for a kubeconfig with a proxy");
    };
    assert!(matches!(err, ClientError::Proxy(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("proxy.internal:3128"), "{message}");
    assert!(message.contains("directly"), "{message}");
}
