//! TokenRequest (`serviceaccounts/token`) through kube-rs: a token for an existing ServiceAccount,
//! vouched for by TokenReview with its audiences, authenticating as the account under RBAC; the API
//! server's errors for an unknown account and a too short expiry.

use k8s_openapi::api::authentication::v1::{
    TokenRequest, TokenRequestSpec, TokenReview, TokenReviewSpec,
};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::api::{Api, ObjectMeta, PostParams};
use kube_api_test_server::{TestServer, DEFAULT_AUDIENCE};

use crate::{client, client_with_token, code};

fn request(audiences: &[&str], expiration: Option<i64>) -> TokenRequest {
    TokenRequest {
        spec: TokenRequestSpec {
            audiences: audiences.iter().map(|a| a.to_string()).collect(),
            expiration_seconds: expiration,
            bound_object_ref: None,
        },
        ..Default::default()
    }
}

async fn account(server: &TestServer, ns: &str, name: &str) -> String {
    let sa = ServiceAccount {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let api: Api<ServiceAccount> = Api::namespaced(client(server), ns);
    let made = api.create(&PostParams::default(), &sa).await.unwrap();
    made.metadata.uid.unwrap()
}

async fn review(server: &TestServer, token: &str, audiences: &[&str]) -> serde_json::Value {
    let api: Api<TokenReview> = Api::all(client(server));
    let r = TokenReview {
        spec: TokenReviewSpec {
            token: Some(token.into()),
            audiences: Some(audiences.iter().map(|a| a.to_string()).collect()),
        },
        ..Default::default()
    };
    let out = api.create(&PostParams::default(), &r).await.unwrap();
    serde_json::to_value(out.status.unwrap()).unwrap()
}

#[tokio::test]
async fn a_requested_token_is_reviewed_with_its_audiences() {
    let server = TestServer::start().await;
    let uid = account(&server, "apps", "reader").await;
    let api: Api<ServiceAccount> = Api::namespaced(client(&server), "apps");
    let pp = PostParams::default();
    let out = api
        .create_token_request("reader", &pp, &request(&["vault"], Some(600)))
        .await
        .unwrap();
    assert_eq!(out.spec.audiences, ["vault"]);
    assert_eq!(out.spec.expiration_seconds, Some(600));
    let token = out.status.unwrap().token;
    let ok = review(&server, &token, &["vault"]).await;
    assert_eq!(ok["authenticated"], true, "{ok}");
    assert_eq!(ok["user"]["username"], "system:serviceaccount:apps:reader");
    assert_eq!(ok["user"]["uid"], uid.as_str());
    let other = review(&server, &token, &["sts.amazonaws.com"]).await;
    assert_ne!(other["authenticated"], true, "{other}");

    // No audiences: the API server's own; the JWT's claims name the account, as Vault reads them.
    let out = api
        .create_token_request("reader", &pp, &request(&[], None))
        .await
        .unwrap();
    assert_eq!(
        (out.spec.audiences.as_slice(), out.spec.expiration_seconds),
        ([DEFAULT_AUDIENCE.to_string()].as_slice(), Some(3600))
    );
    let token = out.status.unwrap().token;
    let claims = token.split('.').nth(1).unwrap();
    use base64::Engine;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(claims)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], "system:serviceaccount:apps:reader");
    assert_eq!(
        claims["kubernetes.io"]["serviceaccount"]["uid"],
        uid.as_str()
    );
    assert_eq!(review(&server, &token, &[]).await["authenticated"], true);
}

#[tokio::test]
async fn unknown_accounts_short_expiries_and_other_verbs_are_refused() {
    let server = TestServer::start().await;
    account(&server, "apps", "reader").await;
    let api: Api<ServiceAccount> = Api::namespaced(client(&server), "apps");
    let pp = PostParams::default();
    let e = api
        .create_token_request("nobody", &pp, &request(&[], None))
        .await
        .unwrap_err();
    assert_eq!(code(&e), 404);
    let e = api
        .create_token_request("reader", &pp, &request(&[], Some(60)))
        .await
        .unwrap_err();
    assert_eq!(code(&e), 422);
    let url = format!(
        "{}/api/v1/namespaces/apps/serviceaccounts/reader/token",
        server.url()
    );
    let status = tokio::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &url])
        .output()
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&status.stdout), "405");
}

#[tokio::test]
async fn rbac_needs_create_on_serviceaccounts_token_and_the_token_authenticates() {
    let server = TestServer::builder().rbac(true).start().await.unwrap();
    account(&server, "apps", "reader").await;
    account(&server, "sealsync", "agent").await;
    let admin: Api<ServiceAccount> = Api::namespaced(client(&server), "sealsync");
    let pp = PostParams::default();
    let agent_token = admin
        .create_token_request("agent", &pp, &request(&[], None))
        .await
        .unwrap()
        .status
        .unwrap()
        .token;
    let as_agent = client_with_token(&server, &agent_token).await;
    let accounts: Api<ServiceAccount> = Api::namespaced(as_agent.clone(), "apps");
    let e = accounts
        .create_token_request("reader", &pp, &request(&["vault"], None))
        .await
        .unwrap_err();
    assert_eq!(code(&e), 403);
    let role = Role {
        metadata: ObjectMeta {
            name: Some("token".into()),
            ..Default::default()
        },
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec!["".into()]),
            resources: Some(vec!["serviceaccounts/token".into()]),
            verbs: vec!["create".into()],
            resource_names: Some(vec!["reader".into()]),
            ..Default::default()
        }]),
    };
    Api::<Role>::namespaced(client(&server), "apps")
        .create(&pp, &role)
        .await
        .unwrap();
    let binding = RoleBinding {
        metadata: ObjectMeta {
            name: Some("token".into()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: "token".into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: "agent".into(),
            namespace: Some("sealsync".into()),
            ..Default::default()
        }]),
    };
    Api::<RoleBinding>::namespaced(client(&server), "apps")
        .create(&pp, &binding)
        .await
        .unwrap();
    let token = accounts
        .create_token_request("reader", &pp, &request(&["vault"], None))
        .await
        .unwrap()
        .status
        .unwrap()
        .token;
    // The issued token is the account's: it may do what the account may (here nothing).
    let as_reader: Api<Secret> = Api::namespaced(client_with_token(&server, &token).await, "apps");
    assert_eq!(code(&as_reader.get("x").await.unwrap_err()), 403);
}
