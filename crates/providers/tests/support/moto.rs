//! A moto server (AWS Secrets Manager and STS) on a free loopback port, and an SDK client for set-up.

use super::{eventually, free_port, http, project_root, Proc};
use std::process::{Command, Stdio};

pub const REGION: &str = "us-east-1";

pub struct Moto {
    pub url: String,
    _proc: Proc,
}

impl Moto {
    pub async fn start() -> Moto {
        Self::start_on(free_port()).await
    }

    pub async fn start_on(port: u16) -> Moto {
        let bin = project_root().join(".venv-moto/bin/moto_server");
        assert!(
            bin.exists(),
            "{} missing: run scripts/install-test-deps.sh",
            bin.display()
        );
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto");
        let moto = Moto {
            url: format!("http://127.0.0.1:{port}"),
            _proc: Proc(child),
        };
        let client = http();
        let probe = format!("{}/moto-api/", moto.url);
        eventually("moto to answer", || async {
            matches!(client.get(&probe).send().await, Ok(r) if r.status().is_success())
        })
        .await;
        moto
    }

    /// An SDK client with dummy keys, for the tests' own set-up calls (create, put, tag).
    pub async fn admin(&self) -> aws_sdk_secretsmanager::Client {
        let creds =
            aws_credential_types::Credentials::new("testing", "testing", None, None, "tests");
        let config = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
            .region(aws_sdk_secretsmanager::config::Region::new(REGION))
            .credentials_provider(creds)
            .endpoint_url(&self.url)
            .http_client(
                aws_smithy_http_client::Builder::new()
                    .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                        aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                    ))
                    .build_https(),
            )
            .build();
        aws_sdk_secretsmanager::Client::from_conf(config)
    }
}

/// A store with static dummy keys at `endpoint`.
#[cfg(feature = "aws")]
pub fn store(endpoint: &str) -> sealsync_providers::aws::AwsStore {
    sealsync_providers::aws::AwsStore {
        name: "aws-test".into(),
        region: REGION.into(),
        role: None,
        external_id: None,
        auth: sealsync_providers::aws::AwsAuth::Static {
            access_key_id: "testing".into(),
            secret_access_key: "testing".to_string().into(),
            session_token: None,
        },
        endpoint_url: Some(endpoint.to_owned()),
        limits: super::test_limits(),
    }
}
