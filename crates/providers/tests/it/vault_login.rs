//! Vault logins against real servers: Kubernetes (TokenReview by the project's API test server) over
//! `-dev-tls` with a CA bundle, and JWT with a signed token.

use super::vault::{one, store};
use crate::support::bao::Bao;
use sealsync_providers::vault::{JwtSource, VaultAuth, VaultProvider, VaultStore};
use sealsync_providers::{ErrorKind, RemoteRef};
use serde_json::{json, Value};

#[tokio::test]
async fn kubernetes_login_over_tls_with_a_ca_bundle() {
    let bao = Bao::start_tls().await;
    let kube = kube_api_test_server::TestServer::start().await;
    let jwt = service_account_jwt("apps", "sealsync");
    // OpenBao compares the review's user and uid with the JWT's claims.
    let mut identity = kube_api_test_server::TokenIdentity::service_account("apps", "sealsync");
    identity.uid = "0000".into();
    kube.add_token(&jwt, identity);
    bao.api("POST", "sys/auth/kubernetes", json!({"type": "kubernetes"}))
        .await;
    let ca = bao.ca_pem.clone().unwrap();
    bao.api(
        "POST",
        "auth/kubernetes/config",
        json!({"kubernetes_host": kube.url(), "disable_local_ca_jwt": true, "kubernetes_ca_cert": ca}),
    )
    .await;
    bao.api(
        "PUT",
        "sys/policies/acl/reader",
        json!({"policy": r#"path "secret/data/*" { capabilities = ["read"] }"#}),
    )
    .await;
    bao.api(
        "POST",
        "auth/kubernetes/role/agent",
        json!({"bound_service_account_names": "sealsync", "bound_service_account_namespaces": "apps", "token_policies": "reader"}),
    )
    .await;
    bao.put_kv2("app/db", json!({"user": "k8s"})).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{jwt}\n")).unwrap();
    let auth = VaultAuth::Kubernetes {
        mount_path: "kubernetes".into(),
        role: "agent".into(),
        jwt: JwtSource::File(token_file),
    };
    let p = VaultProvider::new(store(&bao, auth.clone())).unwrap();
    assert_eq!(
        one(&p, RemoteRef::current("app/db")).await.map(|v| v.0),
        Ok(json!({"user": "k8s"}))
    );
    assert!(
        kube.requests()
            .iter()
            .any(|r| r.path.ends_with("/tokenreviews") && r.status == 201),
        "a TokenReview vouched for the JWT"
    );

    // An unknown token is refused by the TokenReview: Denied, not NotFound.
    let bad = VaultAuth::Kubernetes {
        mount_path: "kubernetes".into(),
        role: "agent".into(),
        jwt: JwtSource::Inline(service_account_jwt("apps", "other").into()),
    };
    let p = VaultProvider::new(store(&bao, bad)).unwrap();
    assert_eq!(
        one(&p, RemoteRef::current("app/db")).await,
        Err(ErrorKind::Denied)
    );

    // Without the CA bundle the dev server's certificate is not trusted.
    let p = VaultProvider::new(VaultStore {
        ca_bundle_pem: None,
        ..store(&bao, auth)
    })
    .unwrap();
    assert_eq!(
        one(&p, RemoteRef::current("app/db")).await,
        Err(ErrorKind::Unavailable)
    );
}

#[tokio::test]
async fn jwt_login_with_a_signed_token() {
    use base64::Engine;
    use ring::signature::{Ed25519KeyPair, KeyPair};
    let bao = Bao::start().await;
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    // SubjectPublicKeyInfo of an Ed25519 key: a fixed DER prefix, then the 32 key bytes.
    let mut spki = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    spki.extend_from_slice(key.public_key().as_ref());
    let b64 = base64::engine::general_purpose::STANDARD.encode(&spki);
    let pem = format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n");
    bao.api("POST", "sys/auth/jwt", json!({"type": "jwt"}))
        .await;
    bao.api(
        "POST",
        "auth/jwt/config",
        json!({"jwt_validation_pubkeys": [pem], "jwt_supported_algs": ["EdDSA"]}),
    )
    .await;
    bao.api(
        "PUT",
        "sys/policies/acl/reader",
        json!({"policy": r#"path "secret/data/*" { capabilities = ["read"] }"#}),
    )
    .await;
    let role = json!({"role_type": "jwt", "user_claim": "sub", "bound_audiences": ["sealsync"], "token_policies": "reader"});
    bao.api("POST", "auth/jwt/role/agent", role).await;
    bao.put_kv2("app/db", json!({"user": "jwt"})).await;

    let url = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({"sub": "sealsync", "aud": "sealsync", "iat": now, "nbf": now - 60, "exp": now + 3600});
    let signing_input = format!(
        "{}.{}",
        url(br#"{"alg":"EdDSA","typ":"JWT"}"#),
        url(claims.to_string().as_bytes())
    );
    let jwt = format!(
        "{signing_input}.{}",
        url(key.sign(signing_input.as_bytes()).as_ref())
    );
    let auth = VaultAuth::Jwt {
        mount_path: "jwt".into(),
        role: Some("agent".into()),
        jwt: JwtSource::Inline(jwt.into()),
    };
    let p = VaultProvider::new(store(&bao, auth)).unwrap();
    assert_eq!(
        one(&p, RemoteRef::current("app/db")).await.map(|v| v.0),
        Ok(json!({"user": "jwt"}))
    );
}

/// A JWT shaped like a service account token (OpenBao reads its claims; the TokenReview vouches for it).
fn service_account_jwt(namespace: &str, name: &str) -> String {
    use base64::Engine;
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let claims = json!({
        "iss": "kubernetes/serviceaccount",
        "sub": format!("system:serviceaccount:{namespace}:{name}"),
        "kubernetes.io/serviceaccount/namespace": namespace,
        "kubernetes.io/serviceaccount/service-account.name": name,
        "kubernetes.io/serviceaccount/service-account.uid": "0000",
    });
    format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(json!({"alg": "RS256", "typ": "JWT"})),
        b64(claims)
    )
}
