//! Vault stores end to end through the agent, against a real OpenBao: a KV v1 mount, AppRole login
//! with its secret id committed encrypted and an ACL policy denying one path, and a Vault namespace.
//! One `run --once` into the dir sink: what each store may read is written, the denied path is refused
//! on its own naming store and key, and no value or credential reaches the output.

use std::process::Command;

use crate::agent_dir::{agent, encrypted};
use crate::external_refs::{run_once_with, start_bao, Bao, TOKEN};
use crate::git_servers::Fixture;
use crate::support::ONE;

/// One call of OpenBao's HTTP API as root, in `namespace` if given: the answer's body.
fn api(bao: &Bao, namespace: Option<&str>, method: &str, path: &str, body: &str) -> String {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sf",
        "-X",
        method,
        "-H",
        &format!("X-Vault-Token: {TOKEN}"),
    ]);
    if let Some(ns) = namespace {
        cmd.args(["-H", &format!("X-Vault-Namespace: {ns}")]);
    }
    if !body.is_empty() {
        cmd.args(["-d", body]);
    }
    let out = cmd.arg(format!("{}/v1/{path}", bao.addr)).output().unwrap();
    assert!(out.status.success(), "{method} {path}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The string at `field` (a JSON pointer) of an API answer.
fn field(answer: &str, pointer: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(answer).unwrap();
    v.pointer(pointer)
        .and_then(|s| s.as_str())
        .unwrap()
        .to_string()
}

/// A store's `auth` by the token committed encrypted as `app/bao-token` (written by `commit_token`).
const TOKEN_AUTH: &str = "      auth:\n        tokenSecretRef: {name: bao-token, key: token}\n";

fn commit_token(fx: &Fixture) {
    fx.write(
        "apps/token.yaml",
        encrypted("app", "bao-token", &[("token", TOKEN)], ONE),
    );
}

/// The `value` key of the Secret `app/NAME` in the dir sink at `sink`.
fn value(sink: &std::path::Path, name: &str) -> Option<String> {
    std::fs::read_to_string(sink.join("app").join(name).join("value")).ok()
}

/// The agent's refusal line for `file`.
fn refusal<'a>(logs: &'a str, file: &str) -> &'a str {
    logs.lines()
        .find(|l| l.contains("document refused") && l.contains(file))
        .unwrap_or_else(|| panic!("{file} is refused on its own:\n{logs}"))
}

fn store(name: &str, vault: &str) -> String {
    format!("apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata:\n  name: {name}\n  namespace: app\nspec:\n  provider:\n    vault:\n{vault}")
}

fn external_secret(name: &str, store: &str, key: &str, property: &str) -> String {
    format!("apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: {name}\n  namespace: app\nspec:\n  secretStoreRef:\n    name: {store}\n  data:\n  - secretKey: value\n    remoteRef:\n      key: {key}\n      property: {property}\n")
}

#[test]
fn kv_v1_approle_with_a_denied_path_and_a_namespace() {
    let fx = Fixture::new();
    let bao = start_bao(fx.dir.path());
    // KV v1 at kv1/.
    api(&bao, None, "POST", "sys/mounts/kv1", r#"{"type":"kv"}"#);
    api(
        &bao,
        None,
        "POST",
        "kv1/team/api",
        r#"{"token":"kv1-v4lue"}"#,
    );
    // KV v2 values, and an AppRole whose policy reads app/* but not app/forbidden.
    for (k, v) in [("app/ok", "ok-v4lue"), ("app/forbidden", "no-v4lue")] {
        let body = format!(r#"{{"data":{{"k":"{v}"}}}}"#);
        api(&bao, None, "POST", &format!("secret/data/{k}"), &body);
    }
    let policy = r#"{"policy":"path \"secret/data/app/*\" { capabilities = [\"read\"] }\npath \"secret/data/app/forbidden\" { capabilities = [\"deny\"] }"}"#;
    api(&bao, None, "PUT", "sys/policies/acl/reader", policy);
    api(
        &bao,
        None,
        "POST",
        "sys/auth/approle",
        r#"{"type":"approle"}"#,
    );
    api(
        &bao,
        None,
        "POST",
        "auth/approle/role/agent",
        r#"{"token_policies":"reader"}"#,
    );
    let role_id = field(
        &api(&bao, None, "GET", "auth/approle/role/agent/role-id", ""),
        "/data/role_id",
    );
    let secret_id = field(
        &api(
            &bao,
            None,
            "POST",
            "auth/approle/role/agent/secret-id",
            "{}",
        ),
        "/data/secret_id",
    );
    // A namespace with its own KV v2 mount.
    api(&bao, None, "POST", "sys/namespaces/team-ns", "{}");
    let kv2 = r#"{"type":"kv","options":{"version":"2"}}"#;
    api(&bao, Some("team-ns"), "POST", "sys/mounts/secret", kv2);
    api(
        &bao,
        Some("team-ns"),
        "POST",
        "secret/data/app",
        r#"{"data":{"in":"ns-v4lue"}}"#,
    );

    let server = format!("      server: {}\n", bao.addr);
    commit_token(&fx);
    fx.write(
        "apps/approle.yaml",
        encrypted("app", "approle", &[("secret-id", &secret_id)], ONE),
    );
    fx.write(
        "apps/stores.yaml",
        [
            store("kv1", &format!("{server}      path: kv1\n      version: v1\n{TOKEN_AUTH}")),
            store(
                "approle",
                &format!("{server}      path: secret\n      auth:\n        appRole:\n          path: approle\n          roleId: {role_id}\n          secretRef: {{name: approle, key: secret-id}}\n"),
            ),
            store("ns", &format!("{server}      path: secret\n      namespace: team-ns\n{TOKEN_AUTH}")),
        ]
        .join("---\n"),
    );
    fx.write(
        "apps/kv1.yaml",
        external_secret("from-kv1", "kv1", "team/api", "token"),
    );
    fx.write(
        "apps/ok.yaml",
        external_secret("ok", "approle", "app/ok", "k"),
    );
    fx.write(
        "apps/forbidden.yaml",
        external_secret("forbidden", "approle", "app/forbidden", "k"),
    );
    fx.write(
        "apps/ns.yaml",
        external_secret("from-ns", "ns", "app", "in"),
    );
    fx.commit("stores and references");
    fx.push();

    let sink = fx.dir.path().join("sink");
    let (code, logs) = run_once_with(&fx, &sink, agent(), &["v4lue", &secret_id]);
    let read = |name: &str| value(&sink, name);
    assert_eq!(read("from-kv1").as_deref(), Some("kv1-v4lue"), "{logs}");
    assert_eq!(read("ok").as_deref(), Some("ok-v4lue"), "{logs}");
    assert_eq!(read("from-ns").as_deref(), Some("ns-v4lue"), "{logs}");
    assert_eq!(read("forbidden"), None);
    assert_eq!(code, 2, "one document refused, the rest applied: {logs}");
    let refusal = refusal(&logs, "apps/forbidden.yaml");
    assert!(
        refusal.contains("[denied]")
            && refusal.contains("SecretStore app/approle")
            && refusal.contains("app/forbidden"),
        "{refusal}"
    );
}

/// A store over HTTPS with OpenBao's `-dev-tls` CA given as the store's `caBundle` (base64 PEM, as
/// ESO writes it): resolved; the same store without it is refused naming the certificate problem.
#[test]
fn a_ca_bundle_verifies_the_server() {
    use base64::Engine as _;
    let fx = Fixture::new();
    let certs = fx.dir.path().join("bao-tls");
    std::fs::create_dir_all(&certs).unwrap();
    let port = crate::git_servers::free_port();
    let mut child = Command::new(crate::external_refs::bao_binary())
        .args([
            "server",
            "-dev",
            "-dev-tls",
            &format!("-dev-root-token-id={TOKEN}"),
        ])
        .arg(format!("-dev-tls-cert-dir={}", certs.display()))
        .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
        .env("HOME", fx.dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ca = certs.join("vault-ca.pem");
    let addr = format!("https://127.0.0.1:{port}");
    let curl = |method: &str, path: &str, body: Option<&str>| {
        let mut cmd = Command::new("curl");
        cmd.args(["-sf", "--cacert"]).arg(&ca);
        cmd.args(["-X", method, "-H", &format!("X-Vault-Token: {TOKEN}")]);
        cmd.args(body.map(|b| ["-d", b]).into_iter().flatten());
        cmd.arg(format!("{addr}/v1/{path}"))
            .status()
            .is_ok_and(|s| s.success())
    };
    crate::support::poll_until("OpenBao -dev-tls to serve", || {
        ca.exists() && curl("GET", "sys/health", None)
    });
    assert!(curl(
        "POST",
        "secret/data/app/tls",
        Some(r#"{"data":{"k":"tls-v4lue"}}"#)
    ));

    let bundle = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&ca).unwrap());
    commit_token(&fx);
    fx.write(
        "apps/stores.yaml",
        [
            store(
                "tls",
                &format!(
                    "      server: {addr}\n      path: secret\n      caBundle: {bundle}\n{TOKEN_AUTH}"
                ),
            ),
            store(
                "unverified",
                &format!("      server: {addr}\n      path: secret\n{TOKEN_AUTH}"),
            ),
        ]
        .join("---\n"),
    );
    fx.write(
        "apps/tls.yaml",
        external_secret("over-tls", "tls", "app/tls", "k"),
    );
    fx.write(
        "apps/untrusted.yaml",
        external_secret("untrusted", "unverified", "app/tls", "k"),
    );
    fx.commit("a store over TLS");
    fx.push();
    let sink = fx.dir.path().join("sink");
    let (code, logs) = run_once_with(&fx, &sink, agent(), &["v4lue"]);
    let _ = child.kill();
    let _ = child.wait();
    let read = |name: &str| value(&sink, name);
    assert_eq!(read("over-tls").as_deref(), Some("tls-v4lue"), "{logs}");
    assert_eq!(read("untrusted"), None);
    assert_eq!(code, 2, "{logs}");
    let refusal = refusal(&logs, "apps/untrusted.yaml");
    assert!(
        refusal.contains("SecretStore app/unverified")
            && refusal.to_lowercase().contains("certificate"),
        "{refusal}"
    );
}

/// `dataFrom[].find` through the agent: every secret under a path whose name matches, one key each
/// (`/` made `_`, as ESO names them), or renamed by a `rewrite`; a secret added at the source joins at
/// the next refresh (here: the next `run --once`).
#[test]
fn data_from_find_collects_matching_secrets() {
    let fx = Fixture::new();
    let bao = start_bao(fx.dir.path());
    for (k, v) in [
        ("db-a", "fa-v4lue"),
        ("db-b", "fb-v4lue"),
        ("other", "no-v4lue"),
    ] {
        let body = format!(r#"{{"data":{{"v":"{v}"}}}}"#);
        api(
            &bao,
            None,
            "POST",
            &format!("secret/data/app/found/{k}"),
            &body,
        );
    }
    commit_token(&fx);
    fx.write(
        "apps/store.yaml",
        store(
            "bao",
            &format!(
                "      server: {}\n      path: secret\n{TOKEN_AUTH}",
                bao.addr
            ),
        ),
    );
    let es = |name: &str, rewrite: &str| {
        format!("apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: {name}\n  namespace: app\nspec:\n  secretStoreRef:\n    name: bao\n  dataFrom:\n  - find:\n      path: app/found\n      name:\n        regexp: \"db-\"\n{rewrite}")
    };
    fx.write("apps/plain.yaml", es("plain", ""));
    fx.write(
        "apps/renamed.yaml",
        es(
            "renamed",
            "    rewrite:\n    - regexp:\n        source: \"app/found/(.*)\"\n        target: \"$1\"\n",
        ),
    );
    fx.commit("find");
    fx.push();
    let sink = fx.dir.path().join("sink");
    let keys = |name: &str| {
        let mut k: Vec<String> = std::fs::read_dir(sink.join("app").join(name))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with(".."))
                    .collect()
            })
            .unwrap_or_default();
        k.sort();
        k
    };
    let (code, logs) = run_once_with(&fx, &sink, agent(), &["v4lue"]);
    assert_eq!(code, 0, "{logs}");
    assert_eq!(
        keys("plain"),
        ["app_found_db-a", "app_found_db-b"],
        "{logs}"
    );
    assert_eq!(keys("renamed"), ["db-a", "db-b"]);
    let value = std::fs::read_to_string(sink.join("app/renamed/db-a")).unwrap();
    assert_eq!(value, r#"{"v":"fa-v4lue"}"#);

    api(
        &bao,
        None,
        "POST",
        "secret/data/app/found/db-c",
        r#"{"data":{"v":"fc-v4lue"}}"#,
    );
    let (code, logs) = run_once_with(&fx, &sink, agent(), &["v4lue"]);
    assert_eq!(code, 0, "{logs}");
    assert_eq!(keys("renamed"), ["db-a", "db-b", "db-c"]);
}
