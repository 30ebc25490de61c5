//! AWS Secrets Manager references end to end: git (a SecretStore whose access keys are committed
//! encrypted, ExternalSecrets by name and by ARN, a JSON property, a binary secret, the AWSPREVIOUS
//! stage) → `sealsync run --once` → dir sink, against a real moto server. 25 secrets in one cycle take
//! two batch calls, counted at the server; a `put-secret-value` rotation reaches the Secret; a missing
//! secret is refused on its own.

use std::path::Path;

use crate::agent_dir::{agent, encrypted};
use crate::external_refs::run_once_with;
use crate::git_servers::Fixture;
use crate::moto::Moto;
use crate::support::ONE;

fn external_secret(name: &str, remote: &str) -> String {
    format!(
        "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: {name}\n  namespace: app\nspec:\n  secretStoreRef:\n    name: aws\n  data:\n  - secretKey: value\n    remoteRef:\n{remote}"
    )
}

fn run_once(fx: &Fixture, moto: &Moto, sink: &Path) -> (i32, String) {
    let mut command = agent();
    command
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    run_once_with(fx, sink, command, &["s3cr3t-", "not-a-real-key"])
}

fn value(sink: &Path, name: &str) -> Option<Vec<u8>> {
    std::fs::read(sink.join("app").join(name).join("value")).ok()
}

#[test]
fn aws_references_by_name_arn_property_binary_and_stage_in_batches_of_twenty() {
    let fx = Fixture::new();
    let moto = Moto::start(fx.dir.path());
    let arn = moto.boto(
        "for i in range(25):\n    sm.create_secret(Name=f'app/s-{i}', SecretString=f's3cr3t-{i}')\n\
         sm.create_secret(Name='app/json', SecretString=json.dumps({'db': {'password': 's3cr3t-json'}}))\n\
         sm.create_secret(Name='app/bin', SecretBinary=bytes([0, 159, 146, 150, 255]))\n\
         r = sm.create_secret(Name='app/staged', SecretString='s3cr3t-old')\n\
         sm.put_secret_value(SecretId='app/staged', SecretString='s3cr3t-new')\n\
         print(r['ARN'])",
    );
    let arn = arn.trim();

    aws_store(&fx);
    for i in 0..25 {
        fx.write(
            &format!("apps/s-{i}.yaml"),
            external_secret(&format!("s-{i}"), &format!("      key: app/s-{i}\n")),
        );
    }
    fx.write(
        "apps/json.yaml",
        external_secret("json", "      key: app/json\n      property: db.password\n"),
    );
    fx.write(
        "apps/bin.yaml",
        external_secret("bin", "      key: app/bin\n"),
    );
    fx.write(
        "apps/by-arn.yaml",
        external_secret("by-arn", &format!("      key: {arn}\n")),
    );
    fx.write(
        "apps/previous.yaml",
        external_secret(
            "previous",
            "      key: app/staged\n      version: AWSPREVIOUS\n",
        ),
    );
    fx.write(
        "apps/missing.yaml",
        external_secret("missing", "      key: app/nowhere\n"),
    );
    fx.commit("aws references");
    fx.push();

    let sink = fx.dir.path().join("secrets");
    let before = moto.calls();
    let (code, logs) = run_once(&fx, &moto, &sink);
    let calls = moto.calls() - before;
    assert_eq!(
        code, 2,
        "the missing secret makes the pass partial:\n{logs}"
    );
    for i in 0..25 {
        assert_eq!(
            value(&sink, &format!("s-{i}")),
            Some(format!("s3cr3t-{i}").into_bytes()),
            "{logs}"
        );
    }
    assert_eq!(
        value(&sink, "json"),
        Some(b"s3cr3t-json".to_vec()),
        "{logs}"
    );
    assert_eq!(
        value(&sink, "bin"),
        Some(vec![0, 159, 146, 150, 255]),
        "{logs}"
    );
    assert_eq!(
        value(&sink, "by-arn"),
        Some(b"s3cr3t-new".to_vec()),
        "{logs}"
    );
    assert_eq!(
        value(&sink, "previous"),
        Some(b"s3cr3t-old".to_vec()),
        "{logs}"
    );
    assert_eq!(value(&sink, "missing"), None);
    assert!(
        logs.contains("app/nowhere"),
        "the missing secret is named:\n{logs}"
    );
    // 29 distinct current secrets (25 + json + bin + staged by ARN + nowhere) in batches of at most 20:
    // two calls; the pinned stage is one more.
    assert!(
        calls <= 3,
        "{calls} Secrets Manager calls for one cycle (ESO would make 30):\n{logs}"
    );

    moto.boto("sm.put_secret_value(SecretId='app/s-3', SecretString='s3cr3t-rotated')");
    let (_, logs) = run_once(&fx, &moto, &sink);
    assert_eq!(
        value(&sink, "s-3"),
        Some(b"s3cr3t-rotated".to_vec()),
        "the rotation is delivered:\n{logs}"
    );
    assert_eq!(value(&sink, "s-4"), Some(b"s3cr3t-4".to_vec()));
}

/// The store `aws` of namespace `app`, its static keys committed encrypted beside it (moto takes any).
pub(crate) fn aws_store(fx: &Fixture) {
    fx.write(
        "apps/creds.yaml",
        encrypted(
            "app",
            "aws-creds",
            &[("id", "AKIAEXAMPLE"), ("secret", "not-a-real-key")],
            ONE,
        ),
    );
    fx.write(
        "apps/store.yaml",
        "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata:\n  name: aws\n  namespace: app\nspec:\n  provider:\n    aws:\n      service: SecretsManager\n      region: us-east-1\n      auth:\n        secretRef:\n          accessKeyIDSecretRef: {name: aws-creds, key: id}\n          secretAccessKeySecretRef: {name: aws-creds, key: secret}\n",
    );
}
