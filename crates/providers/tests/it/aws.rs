//! The Secrets Manager provider against moto: names and ARNs, JSON and binary, stages, version ids,
//! rotation, batches of at most 20 ids, find, role assumption, throttling and outages.

use crate::support::moto::{store, Moto};
use aws_smithy_types::Blob;
use fault_proxy::HttpProxy as Proxy;
use sealsync_providers::aws::AwsProvider;
use sealsync_providers::{ErrorKind, FindQuery, Provider, RemoteRef, RemoteValue};

const BATCH: &str = "secretsmanager.BatchGetSecretValue";

fn text(v: &Result<RemoteValue, sealsync_providers::ProviderError>) -> String {
    match v {
        Ok(v) => String::from_utf8(v.bytes().to_vec()).unwrap(),
        Err(e) => panic!("{e}"),
    }
}

fn kind(v: &Result<RemoteValue, sealsync_providers::ProviderError>) -> ErrorKind {
    let e = v.as_ref().unwrap_err();
    assert!(e.to_string().contains("aws-test"), "{e}");
    e.kind()
}

#[tokio::test]
async fn names_arns_binary_stages_version_ids_and_rotation() {
    let moto = Moto::start().await;
    let admin = moto.admin().await;
    let db = admin
        .create_secret()
        .name("app/db")
        .secret_string(r#"{"user":"a"}"#)
        .send()
        .await
        .unwrap();
    let (arn, v1) = (
        db.arn().unwrap().to_owned(),
        db.version_id().unwrap().to_owned(),
    );
    admin
        .create_secret()
        .name("app/cert")
        .secret_binary(Blob::new(vec![0u8, 1, 2, 255]))
        .send()
        .await
        .unwrap();
    let p = AwsProvider::new(store(&moto.url)).await.unwrap();

    let out = p
        .fetch(&[
            RemoteRef::current("app/db"),
            RemoteRef::current(&arn),
            RemoteRef::current("app/cert"),
        ])
        .await;
    assert_eq!(text(&out[0]), r#"{"user":"a"}"#);
    assert_eq!(text(&out[1]), r#"{"user":"a"}"#);
    assert_eq!(out[0].as_ref().unwrap().version(), Some(v1.as_str()));
    assert_eq!(out[2].as_ref().unwrap().bytes(), [0u8, 1, 2, 255]);

    let v2 = admin
        .put_secret_value()
        .secret_id("app/db")
        .secret_string(r#"{"user":"b"}"#)
        .send()
        .await
        .unwrap();
    let out = p
        .fetch(&[
            RemoteRef::current("app/db"),
            RemoteRef::pinned("app/db", "AWSPREVIOUS"),
            RemoteRef::pinned("app/db", format!("uuid/{v1}")),
            RemoteRef::pinned("app/db", "AWSCURRENT"),
            RemoteRef::current("app/missing"),
            RemoteRef::pinned("app/missing", "AWSPREVIOUS"),
        ])
        .await;
    assert_eq!(
        text(&out[0]),
        r#"{"user":"b"}"#,
        "rotation is seen on the next fetch"
    );
    assert_eq!(out[0].as_ref().unwrap().version(), v2.version_id());
    assert_eq!(text(&out[1]), r#"{"user":"a"}"#);
    assert_eq!(text(&out[2]), r#"{"user":"a"}"#);
    assert_eq!(text(&out[3]), r#"{"user":"b"}"#);
    assert_eq!(kind(&out[4]), ErrorKind::NotFound);
    assert_eq!(kind(&out[5]), ErrorKind::NotFound);
}

#[tokio::test]
async fn forty_five_current_ids_take_three_batches_of_at_most_twenty() {
    let moto = Moto::start().await;
    let admin = moto.admin().await;
    for i in 0..45 {
        admin
            .create_secret()
            .name(format!("s{i:02}"))
            .secret_string(format!("v{i}"))
            .send()
            .await
            .unwrap();
    }
    let proxy = Proxy::start(&moto.url).await;
    let p = AwsProvider::new(store(&proxy.url)).await.unwrap();
    let refs: Vec<RemoteRef> = (0..45)
        .map(|i| RemoteRef::current(format!("s{i:02}")))
        .collect();
    let out = p.fetch(&refs).await;
    for (i, v) in out.iter().enumerate() {
        assert_eq!(text(v), format!("v{i}"));
    }
    let batches: Vec<usize> = proxy
        .seen()
        .iter()
        .filter(|s| s.target == BATCH)
        .map(|s| {
            let body: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
            body["SecretIdList"].as_array().map_or(0, Vec::len)
        })
        .collect();
    assert_eq!(batches.len(), 3, "{batches:?}");
    assert!(batches.iter().all(|&n| n <= 20), "{batches:?}");
    assert_eq!(batches.iter().sum::<usize>(), 45);
    assert_eq!(proxy.seen().len(), 3, "nothing but the three batches");
}

#[tokio::test]
async fn server_errors_are_retried_throttling_and_outages_are_classified() {
    let moto = Moto::start().await;
    moto.admin()
        .await
        .create_secret()
        .name("app/db")
        .secret_string("v")
        .send()
        .await
        .unwrap();
    let proxy = Proxy::start(&moto.url).await;
    let p = AwsProvider::new(store(&proxy.url)).await.unwrap();

    proxy.fail_next(
        2,
        500,
        r#"{"__type":"InternalServiceError","message":"try later"}"#,
    );
    assert_eq!(
        text(&p.fetch(&[RemoteRef::current("app/db")]).await[0]),
        "v"
    );
    assert_eq!(proxy.seen().len(), 3, "two 500s retried, then the answer");

    proxy.clear();
    proxy.fail_next(
        10,
        400,
        r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
    );
    assert_eq!(
        kind(&p.fetch(&[RemoteRef::current("app/db")]).await[0]),
        ErrorKind::Throttled
    );
    assert_eq!(proxy.seen().len(), 4, "the first try and three retries");

    proxy.clear();
    proxy.fail_next(10, 502, "<html>bad gateway</html>");
    assert_eq!(
        kind(&p.fetch(&[RemoteRef::pinned("app/db", "AWSPREVIOUS")]).await[0]),
        ErrorKind::Unavailable
    );

    proxy.clear();
    drop(proxy);
    drop(moto);
    let stopped = AwsProvider::new(store(&format!(
        "http://127.0.0.1:{}",
        crate::support::free_port()
    )))
    .await
    .unwrap();
    assert_eq!(
        kind(&stopped.fetch(&[RemoteRef::current("app/db")]).await[0]),
        ErrorKind::Unavailable
    );
}

#[tokio::test]
async fn values_over_the_limit_are_refused() {
    let moto = Moto::start().await;
    let admin = moto.admin().await;
    admin
        .create_secret()
        .name("big")
        .secret_string("x".repeat(4096))
        .send()
        .await
        .unwrap();
    admin
        .create_secret()
        .name("small")
        .secret_string("ok")
        .send()
        .await
        .unwrap();
    let mut s = store(&moto.url);
    s.limits.max_value_bytes = 1024;
    let p = AwsProvider::new(s).await.unwrap();
    let out = p
        .fetch(&[
            RemoteRef::current("big"),
            RemoteRef::current("small"),
            RemoteRef::pinned("big", "AWSCURRENT"),
        ])
        .await;
    assert_eq!(kind(&out[0]), ErrorKind::TooLarge);
    assert!(!out[0].as_ref().unwrap_err().to_string().contains("xxx"));
    assert_eq!(text(&out[1]), "ok");
    assert_eq!(kind(&out[2]), ErrorKind::TooLarge);
}

#[tokio::test]
async fn find_by_prefix_tags_and_name_and_assume_role() {
    let moto = Moto::start().await;
    let admin = moto.admin().await;
    let tag = |k: &str, v: &str| {
        aws_sdk_secretsmanager::types::Tag::builder()
            .key(k)
            .value(v)
            .build()
    };
    for (name, env) in [
        ("team/api", "prod"),
        ("team/db", "prod"),
        ("team/tmp", "dev"),
        ("other/x", "prod"),
    ] {
        admin
            .create_secret()
            .name(name)
            .secret_string(format!("{name}-value"))
            .tags(tag("env", env))
            .send()
            .await
            .unwrap();
    }
    let proxy = Proxy::start(&moto.url).await;
    let mut s = store(&proxy.url);
    s.role = Some("arn:aws:iam::123456789012:role/sealsync-reader".into());
    s.external_id = Some("ext-1".into());
    let p = AwsProvider::new(s).await.unwrap();
    let q = FindQuery {
        path: Some("team/".into()),
        name_regex: Some("^team/(api|db|tmp)$".into()),
        tags: vec![("env".into(), "prod".into())],
    };
    let found = p.find(&q).await.unwrap();
    let names: Vec<(&str, String)> = found
        .iter()
        .map(|(k, v)| (k.as_str(), String::from_utf8(v.bytes().to_vec()).unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("team/api", "team/api-value".to_owned()),
            ("team/db", "team/db-value".to_owned())
        ]
    );
    let assumed = proxy.seen().iter().any(|s| {
        let body = String::from_utf8_lossy(&s.body);
        body.contains("Action=AssumeRole") && body.contains("ExternalId=ext-1")
    });
    assert!(assumed, "the store's role was assumed through STS");
}
