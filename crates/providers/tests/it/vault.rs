//! The Vault provider against a real OpenBao dev server: KV v1/v2, versions, AppRole, renewal, policies, namespaces, outages.

use crate::support::bao::{Bao, ROOT_TOKEN};
use crate::support::{eventually, test_limits};
use sealsync_providers::vault::{KvVersion, VaultAuth, VaultProvider, VaultStore};
use sealsync_providers::{ErrorKind, FindQuery, Provider, RemoteRef};
use serde_json::{json, Value};

pub(crate) fn store(bao: &Bao, auth: VaultAuth) -> VaultStore {
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

pub(crate) fn root(bao: &Bao) -> VaultStore {
    store(bao, VaultAuth::Token(ROOT_TOKEN.to_string().into()))
}

pub(crate) async fn one(
    p: &VaultProvider,
    r: RemoteRef,
) -> Result<(Value, Option<String>), ErrorKind> {
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
pub(crate) async fn approle(
    bao: &Bao,
    name: &str,
    policies: &str,
    extra: Value,
) -> (String, String) {
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

pub(crate) fn approle_auth((role_id, secret_id): (String, String)) -> VaultAuth {
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
