//! The Vault provider against a real OpenBao dev server: KV v1/v2, versions, logins, policies, TLS, outages.
#![cfg(feature = "vault")]

mod support;

use sealsync_providers::vault::{JwtSource, KvVersion, VaultAuth, VaultProvider, VaultStore};
use sealsync_providers::{ErrorKind, FindQuery, Provider, RemoteRef};
use serde_json::{json, Value};
use support::bao::{Bao, ROOT_TOKEN};
use support::{eventually, test_limits};

fn store(bao: &Bao, auth: VaultAuth) -> VaultStore {
    VaultStore {
        name: "vault-test".into(),
        server: bao.addr.clone(),
        mount_path: "secret".into(),
        kv_version: KvVersion::V2,
        namespace: None,
        ca_bundle_pem: bao.ca_pem.clone(),
        headers: vec![("X-Test-Header".into(), "yes".into())],
        auth,
        limits: test_limits(),
    }
}

fn root(bao: &Bao) -> VaultStore {
    store(bao, VaultAuth::Token(ROOT_TOKEN.to_string().into()))
}

async fn one(p: &VaultProvider, r: RemoteRef) -> Result<(Value, Option<String>), ErrorKind> {
    let mut out = p.fetch(&[r]).await;
    match out.pop().expect("one result") {
        Ok(v) => Ok((
            serde_json::from_slice(v.bytes()).expect("JSON"),
            v.version().map(str::to_owned),
        )),
        Err(e) => {
            assert!(e.to_string().contains("vault-test"), "{e}");
            Err(e.kind())
        }
    }
}

/// AppRole `name` with `policies`; returns (role_id, secret_id).
async fn approle(bao: &Bao, name: &str, policies: &str, extra: Value) -> (String, String) {
    let _ = bao
        .api("POST", "sys/auth/approle", json!({"type": "approle"}))
        .await;
    let mut role = json!({"token_policies": policies});
    role.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    bao.api("POST", &format!("auth/approle/role/{name}"), role)
        .await;
    let id = bao
        .api(
            "GET",
            &format!("auth/approle/role/{name}/role-id"),
            Value::Null,
        )
        .await;
    let secret = bao
        .api(
            "POST",
            &format!("auth/approle/role/{name}/secret-id"),
            json!({}),
        )
        .await;
    (
        id["data"]["role_id"].as_str().unwrap().into(),
        secret["data"]["secret_id"].as_str().unwrap().into(),
    )
}

fn approle_auth((role_id, secret_id): (String, String)) -> VaultAuth {
    VaultAuth::AppRole {
        mount_path: "approle".into(),
        role_id,
        secret_id: secret_id.into(),
    }
}

#[tokio::test]
async fn kv_v2_and_v1_current_pinned_missing_and_find() {
    let bao = Bao::start().await;
    bao.put_kv2("app/db", json!({"user": "a"})).await;
    bao.put_kv2("app/db", json!({"user": "b"})).await;
    bao.put_kv2("app/cache", json!({"url": "redis"})).await;
    let p = VaultProvider::new(root(&bao)).unwrap();
    assert_eq!(
        one(&p, RemoteRef::current("app/db")).await,
        Ok((json!({"user": "b"}), Some("2".into())))
    );
    assert_eq!(
        one(&p, RemoteRef::pinned("app/db", "1")).await,
        Ok((json!({"user": "a"}), Some("1".into())))
    );
    assert_eq!(
        one(&p, RemoteRef::current("app/nope")).await,
        Err(ErrorKind::NotFound)
    );
    assert_eq!(
        one(&p, RemoteRef::pinned("app/db", "7")).await,
        Err(ErrorKind::NotFound)
    );
    assert_eq!(
        one(&p, RemoteRef::pinned("app/db", "x")).await,
        Err(ErrorKind::Invalid)
    );
    assert_eq!(
        one(&p, RemoteRef::current("../sys/seal")).await,
        Err(ErrorKind::Invalid)
    );

    let q = FindQuery {
        path: Some("app".into()),
        name_regex: Some("^d".into()),
        tags: vec![],
    };
    let found = p.find(&q).await.unwrap();
    assert_eq!(
        found.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["app/db"]
    );

    bao.api(
        "POST",
        "sys/mounts/kv1",
        json!({"type": "kv", "options": {"version": "1"}}),
    )
    .await;
    bao.api("POST", "kv1/team/api", json!({"token": "t1"}))
        .await;
    let v1 = VaultProvider::new(VaultStore {
        mount_path: "kv1".into(),
        kv_version: KvVersion::V1,
        ..root(&bao)
    })
    .unwrap();
    assert_eq!(
        one(&v1, RemoteRef::current("team/api")).await,
        Ok((json!({"token": "t1"}), None))
    );
    assert_eq!(
        one(&v1, RemoteRef::pinned("team/api", "1")).await,
        Err(ErrorKind::Invalid)
    );
    let all = v1
        .find(&FindQuery {
            path: Some("team".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].0, "team/api");
}

#[tokio::test]
async fn approle_with_a_policy_denying_one_path() {
    let bao = Bao::start().await;
    let policy = r#"path "secret/data/app/*" { capabilities = ["read"] }
path "secret/data/app/forbidden" { capabilities = ["deny"] }"#;
    bao.api("PUT", "sys/policies/acl/reader", json!({"policy": policy}))
        .await;
    bao.put_kv2("app/ok", json!({"k": "v"})).await;
    bao.put_kv2("app/forbidden", json!({"k": "no"})).await;
    let p = VaultProvider::new(store(
        &bao,
        approle_auth(approle(&bao, "agent", "reader", json!({})).await),
    ))
    .unwrap();
    let out = p
        .fetch(&[
            RemoteRef::current("app/ok"),
            RemoteRef::current("app/forbidden"),
        ])
        .await;
    assert_eq!(
        serde_json::from_slice::<Value>(out[0].as_ref().unwrap().bytes()).unwrap(),
        json!({"k": "v"})
    );
    let denied = out[1].as_ref().unwrap_err();
    assert_eq!(denied.kind(), ErrorKind::Denied);
    assert!(denied.to_string().contains("app/forbidden"), "{denied}");
    // A policy denial is not an expired token: one login, no re-login loop.
    assert_eq!(p.auth_counts().logins, 1);

    // A token revoked behind the store's back (its TTL is long): the 403 leads to exactly one login.
    let _ = bao
        .api("PUT", "sys/leases/revoke-prefix/auth/approle", Value::Null)
        .await;
    let again = p.fetch(&[RemoteRef::current("app/ok")]).await;
    assert!(again[0].is_ok(), "{:?}", again[0].as_ref().err());
    assert_eq!(p.auth_counts().logins, 2);
}

#[tokio::test]
async fn short_lived_tokens_are_renewed_then_replaced() {
    let bao = Bao::start().await;
    bao.api(
        "PUT",
        "sys/policies/acl/reader",
        json!({"policy": r#"path "secret/data/*" { capabilities = ["read"] }"#}),
    )
    .await;
    bao.put_kv2("app/db", json!({"user": "a"})).await;
    let extra = json!({"token_ttl": "3s", "token_max_ttl": "5s"});
    let p = VaultProvider::new(store(
        &bao,
        approle_auth(approle(&bao, "short", "reader", extra).await),
    ))
    .unwrap();
    eventually("a renewal and a second login", || async {
        assert!(
            one(&p, RemoteRef::current("app/db")).await.is_ok(),
            "every read succeeds across renewals"
        );
        let c = p.auth_counts();
        c.renewals >= 1 && c.logins >= 2
    })
    .await;
}

#[tokio::test]
async fn namespaces_select_their_own_mounts() {
    let bao = Bao::start().await;
    bao.api("POST", "sys/namespaces/team-a", json!({})).await;
    bao.api_as(
        ROOT_TOKEN,
        Some("team-a"),
        "POST",
        "sys/mounts/secret",
        json!({"type": "kv", "options": {"version": "2"}}),
    )
    .await;
    bao.api_as(
        ROOT_TOKEN,
        Some("team-a"),
        "POST",
        "secret/data/app",
        json!({"data": {"in": "team-a"}}),
    )
    .await;
    let ns = VaultProvider::new(VaultStore {
        namespace: Some("team-a".into()),
        ..root(&bao)
    })
    .unwrap();
    assert_eq!(
        one(&ns, RemoteRef::current("app")).await.map(|v| v.0),
        Ok(json!({"in": "team-a"}))
    );
    let top = VaultProvider::new(root(&bao)).unwrap();
    assert_eq!(
        one(&top, RemoteRef::current("app")).await,
        Err(ErrorKind::NotFound)
    );
}

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

#[tokio::test]
async fn sealed_vault_is_unavailable_and_large_values_are_refused() {
    let bao = Bao::start().await;
    bao.put_kv2("app/big", json!({"blob": "x".repeat(1024 * 1024 + 10)}))
        .await;
    bao.put_kv2("app/db", json!({"user": "a"})).await;
    let p = VaultProvider::new(root(&bao)).unwrap();
    let big = p
        .fetch(&[RemoteRef::current("app/big")])
        .await
        .pop()
        .unwrap()
        .unwrap_err();
    assert_eq!(big.kind(), ErrorKind::TooLarge);
    assert!(!big.to_string().contains("xxxx"), "{big}");
    assert!(one(&p, RemoteRef::current("app/db")).await.is_ok());
    bao.api("PUT", "sys/seal", Value::Null).await;
    assert_eq!(
        one(&p, RemoteRef::current("app/db")).await,
        Err(ErrorKind::Unavailable)
    );
}

#[tokio::test]
async fn a_stopped_server_is_unavailable() {
    let bao = Bao::start().await;
    let p = VaultProvider::new(root(&bao)).unwrap();
    drop(bao);
    assert_eq!(
        one(&p, RemoteRef::current("app/db")).await,
        Err(ErrorKind::Unavailable)
    );
}
