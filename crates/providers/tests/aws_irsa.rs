//! IRSA: the SDK's default chain with `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`, and
//! `AWS_ENDPOINT_URL`, through moto's STS. Its own test binary with one test: the environment is set
//! before any thread exists, so no other test shares (or races on) it.
#![cfg(feature = "aws")]

mod support;

use fault_proxy::HttpProxy as Proxy;
use sealsync_providers::aws::{AwsAuth, AwsProvider};
use sealsync_providers::{Provider, RemoteRef};
use support::moto::Moto;

#[test]
fn web_identity_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(
        &token_file,
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzZWFsc3luYyJ9.c2ln",
    )
    .unwrap();
    let (moto_port, proxy_port) = (support::free_port(), support::free_port());
    // Safe: no other thread exists yet in this process (one test, the runtime is built below).
    for (k, v) in [
        (
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            token_file.to_str().unwrap().to_owned(),
        ),
        (
            "AWS_ROLE_ARN",
            "arn:aws:iam::123456789012:role/irsa".to_owned(),
        ),
        ("AWS_ROLE_SESSION_NAME", "sealsync".to_owned()),
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{proxy_port}")),
        ("AWS_REGION", support::moto::REGION.to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
    ] {
        std::env::set_var(k, v);
    }
    for k in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    ] {
        std::env::remove_var(k);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let moto = Moto::start_on(moto_port).await;
        moto.admin()
            .await
            .create_secret()
            .name("app/db")
            .secret_string("irsa-ok")
            .send()
            .await
            .unwrap();
        let proxy = Proxy::start_on(&moto.url, proxy_port).await;
        let mut store = support::moto::store("unused");
        (store.auth, store.endpoint_url, store.region) = (AwsAuth::Default, None, String::new());
        let p = AwsProvider::new(store).await.unwrap();
        let out = p.fetch(&[RemoteRef::current("app/db")]).await;
        assert_eq!(out[0].as_ref().unwrap().bytes(), b"irsa-ok");
        let seen = proxy.seen();
        assert!(
            seen.iter()
                .any(|s| String::from_utf8_lossy(&s.body)
                    .contains("Action=AssumeRoleWithWebIdentity"))
        );
        assert!(
            seen.iter()
                .any(|s| s.target == "secretsmanager.BatchGetSecretValue"),
            "AWS_ENDPOINT_URL was honoured"
        );
    });
}
