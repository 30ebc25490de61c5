//! External store faults seen by a running `sealsync` agent (dir sink), against a real OpenBao and a
//! real moto behind the fault-injecting HTTP proxy (`tests/fault-proxy`): Vault 5xx, sealed, a login
//! token that expires mid-run (AppRole: the agent logs in again), a committed token that expires (the
//! agent says so, and recovers once a valid token is in git); AWS `ThrottlingException` and 5xx. Each
//! time the file keeps its last good value, whole, `/status` names store, key and cause, and the agent
//! converges by itself once the fault clears; the time it takes is printed
//! (`cargo test --test it faults_refs -- --nocapture`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use fault_proxy::HttpProxy;

use crate::agent_dir::{agent, encrypted};
use crate::agent_dir_daemon::Daemon;
use crate::external_refs::{curl, put, start_bao, Bao, TOKEN};
use crate::faults_common::{recovered, refusal};
use crate::git_servers::Fixture;
use crate::moto::Moto;
use crate::support::ONE;

/// The ExternalSecret `db` of namespace `app`: `password` from `key` through store `store`, every second.
fn external_secret(store: &str, key: &str, property: Option<&str>) -> String {
    let property = property
        .map(|p| format!("      property: {p}\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: db\n  namespace: app\nspec:\n  refreshInterval: 1s\n  secretStoreRef:\n    name: {store}\n  data:\n  - secretKey: password\n    remoteRef:\n      key: {key}\n{property}"
    )
}

/// A SecretStore `bao` at `server` authenticating with `auth` (YAML under `auth:`, indented 8).
fn vault_store(server: &str, auth: &str) -> String {
    format!(
        "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata:\n  name: bao\n  namespace: app\nspec:\n  provider:\n    vault:\n      server: {server}\n      path: secret\n      auth:\n{auth}"
    )
}

const TOKEN_AUTH: &str =
    "        tokenSecretRef:\n          name: bao-token\n          key: token\n";

fn commit_token(fx: &Fixture, token: &str) {
    fx.write(
        "apps/token.yaml",
        encrypted("app", "bao-token", &[("token", token)], ONE),
    );
    fx.commit("the Vault token");
}

/// The agent's view of `app/db`, its file's content, and a way to wait on it.
struct Watched<'a> {
    agent: &'a Daemon,
    file: PathBuf,
}

impl Watched<'_> {
    fn new<'a>(agent: &'a Daemon, sink: &Path) -> Watched<'a> {
        Watched {
            agent,
            file: sink.join("app/db/password"),
        }
    }

    fn value(&self) -> Option<String> {
        std::fs::read_to_string(&self.file).ok()
    }

    fn wait_value(&self, want: &str, what: &str) {
        self.agent
            .wait_until(|| self.value().as_deref() == Some(want), what);
    }

    /// Waits until `/status` refuses `apps/db.yaml` (its reference unresolved) with a message
    /// containing every one of `words`; answers the reason and the message.
    fn wait_failed(&self, words: &[&str], what: &str) -> String {
        let mut told = String::new();
        self.agent.wait_until(
            || {
                let (_, status) = self.agent.get("/status");
                match refusal(&status, "apps/db.yaml") {
                    Some((reason, message)) if words.iter().all(|w| message.contains(w)) => {
                        told = format!("/status refused apps/db.yaml ({reason}): {message}");
                        true
                    }
                    _ => false,
                }
            },
            what,
        );
        told
    }

    /// The fault was seen and said; the last good value `kept` is in place, whole.
    fn kept(&self, kept: &str, what: &str) {
        assert_eq!(
            self.value().as_deref(),
            Some(kept),
            "{what}: the last good value stays, whole"
        );
    }

    /// Waits for `want` after the fault cleared at `cleared`; prints the time.
    fn converged(&self, want: &str, what: &str, cleared: Instant, told: &str) {
        self.wait_value(want, &format!("{what}: converged"));
        recovered(what, cleared.elapsed(), told);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn no_leak(agent: &Daemon, values: &[&str]) {
    let logs = std::fs::read_to_string(&agent.log).unwrap_or_default();
    let (_, status) = agent.get("/status");
    for value in values {
        assert!(
            !logs.contains(value) && !status.contains(value),
            "{value} leaked into the logs or /status"
        );
    }
}

#[test]
fn vault_5xx_sealed_and_an_expired_token_keep_the_last_value_and_recover() {
    let fx = Fixture::new();
    let bao = start_bao(fx.dir.path());
    put(&bao, "app/db", r#"{"password":"v4lue-1"}"#);
    let rt = runtime();
    let proxy = rt.block_on(HttpProxy::start(&bao.addr));
    fx.write("apps/store.yaml", vault_store(&proxy.url, TOKEN_AUTH));
    fx.write(
        "apps/db.yaml",
        external_secret("bao", "app/db", Some("password")),
    );
    commit_token(&fx, TOKEN);
    let sink = fx.dir.path().join("secrets");
    // Polls git every 2 s: the token committed below is taken up without a webhook.
    let agent = Daemon::spawn(&fx, &fx.file_url(), &sink, "2s");
    let db = Watched::new(&agent, &sink);
    db.wait_value("v4lue-1", "resolved");

    // 5xx on every call (the provider retries each 3 times, then the reference waits and tries again).
    let what = "Vault answers 503 to every call";
    proxy.fail_next(
        1_000_000,
        503,
        r#"{"errors":["injected: Vault is unavailable"]}"#,
    );
    put(&bao, "app/db", r#"{"password":"v4lue-2"}"#);
    let told = db.wait_failed(&["SecretStore app/bao", "app/db", "unavailable"], what);
    db.kept("v4lue-1", what);
    proxy.clear();
    db.converged("v4lue-2", what, Instant::now(), &told);

    // Sealed, through the API.
    let what = "Vault sealed";
    curl(&bao, "PUT", "sys/seal", None).expect("seal");
    let told = db.wait_failed(&["SecretStore app/bao", "app/db"], what);
    db.kept("v4lue-2", what);
    let key = bao.unseal_key();
    curl(
        &bao,
        "PUT",
        "sys/unseal",
        Some(&format!(r#"{{"key":"{key}"}}"#)),
    )
    .expect("unseal");
    let cleared = Instant::now();
    put(&bao, "app/db", r#"{"password":"v4lue-3"}"#);
    db.converged("v4lue-3", what, cleared, &told);

    // A token committed to git with a short life: it works, then expires mid-run.
    let short = short_lived_token(&bao, "8s");
    put(&bao, "app/db", r#"{"password":"v4lue-4"}"#);
    commit_token(&fx, &short);
    db.wait_value("v4lue-4", "resolved with the short-lived token");
    wait_expired(&bao, &short);
    let what = "the committed Vault token expires mid-run";
    put(&bao, "app/db", r#"{"password":"v4lue-5"}"#);
    let told = db.wait_failed(&["SecretStore app/bao", "expired or was revoked"], what);
    db.kept("v4lue-4", what);
    // A valid token in git: recovered without a restart.
    commit_token(&fx, TOKEN);
    db.converged(
        "v4lue-5",
        "the committed Vault token expires mid-run (valid token committed)",
        Instant::now(),
        &told,
    );
    no_leak(&agent, &["v4lue-", TOKEN, &short]);
}

/// A token (not renewable past `ttl`) that may read `secret/data/app/*`.
fn short_lived_token(bao: &Bao, ttl: &str) -> String {
    read_policy(bao);
    let body = format!(
        r#"{{"policies":["read-app"],"ttl":"{ttl}","explicit_max_ttl":"{ttl}","no_parent":true}}"#
    );
    let answer = curl(bao, "POST", "auth/token/create", Some(&body)).expect("token create");
    let doc: serde_json::Value = serde_json::from_str(&answer).unwrap();
    doc["auth"]["client_token"].as_str().unwrap().to_string()
}

fn read_policy(bao: &Bao) {
    curl(
        bao,
        "PUT",
        "sys/policies/acl/read-app",
        Some(r#"{"policy":"path \"secret/data/app/*\" { capabilities = [\"read\"] }"}"#),
    )
    .expect("policy");
}

/// Waits until OpenBao no longer knows `token` (expired).
fn wait_expired(bao: &Bao, token: &str) {
    crate::support::poll_until("the token to expire", || {
        curl(
            bao,
            "POST",
            "auth/token/lookup",
            Some(&format!(r#"{{"token":"{token}"}}"#)),
        )
        .is_none()
    });
}

#[test]
fn an_approle_login_token_expiring_mid_run_is_replaced_by_a_new_login() {
    let fx = Fixture::new();
    let bao = start_bao(fx.dir.path());
    put(&bao, "app/db", r#"{"password":"v4lue-1"}"#);
    read_policy(&bao);
    curl(
        &bao,
        "POST",
        "sys/auth/approle",
        Some(r#"{"type":"approle"}"#),
    )
    .expect("approle");
    // Login tokens live 3 s and cannot be renewed past that.
    curl(
        &bao,
        "POST",
        "auth/approle/role/agent",
        Some(r#"{"token_policies":["read-app"],"token_ttl":"3s","token_max_ttl":"3s"}"#),
    )
    .expect("role");
    let field = |path: &str, method: &str, name: &str| {
        let answer = curl(&bao, method, path, None).expect(path);
        let doc: serde_json::Value = serde_json::from_str(&answer).unwrap();
        doc["data"][name].as_str().unwrap().to_string()
    };
    let role_id = field("auth/approle/role/agent/role-id", "GET", "role_id");
    let secret_id = field("auth/approle/role/agent/secret-id", "POST", "secret_id");
    fx.write(
        "apps/approle.yaml",
        encrypted("app", "approle", &[("secret-id", &secret_id)], ONE),
    );
    fx.write(
        "apps/store.yaml",
        vault_store(
            &bao.addr,
            &format!("        appRole:\n          path: approle\n          roleId: {role_id}\n          secretRef:\n            name: approle\n            key: secret-id\n"),
        ),
    );
    fx.write(
        "apps/db.yaml",
        external_secret("bao", "app/db", Some("password")),
    );
    fx.commit("approle");
    let sink = fx.dir.path().join("secrets");
    let agent = Daemon::spawn(&fx, &fx.file_url(), &sink, "1h");
    let db = Watched::new(&agent, &sink);
    db.wait_value("v4lue-1", "resolved through an AppRole login");
    // Several login tokens' lives: each rotation arrives, through a new login when the token expired.
    for n in 2..=4 {
        std::thread::sleep(std::time::Duration::from_secs(4));
        let value = format!("v4lue-{n}");
        put(&bao, "app/db", &format!(r#"{{"password":"{value}"}}"#));
        let asked = Instant::now();
        db.wait_value(&value, "a value after the login token expired");
        recovered(
            "the AppRole login token expires mid-run (value put after expiry)",
            asked.elapsed(),
            "nothing (the agent logs in again)",
        );
    }
    no_leak(&agent, &["v4lue-", &secret_id]);
}

#[test]
fn aws_throttling_and_5xx_keep_the_last_value_and_recover() {
    let fx = Fixture::new();
    let moto = Moto::start(fx.dir.path());
    moto.boto("sm.create_secret(Name='app/db', SecretString='s3cr3t-1')");
    let rt = runtime();
    let proxy = rt.block_on(HttpProxy::start(&moto.url));
    crate::references_aws::aws_store(&fx);
    fx.write("apps/db.yaml", external_secret("aws", "app/db", None));
    fx.commit("aws");
    let sink = fx.dir.path().join("secrets");
    let hook = fx.dir.path().join("hook.key");
    std::fs::write(&hook, "hook-secret\n").unwrap();
    let mut command = agent();
    command
        .env("AWS_ENDPOINT_URL", &proxy.url)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    let agent = Daemon::start_with(&fx, &fx.file_url(), &sink, &hook, command);
    let db = Watched::new(&agent, &sink);
    db.wait_value("s3cr3t-1", "resolved");

    for (n, what, status, body, word) in [
        (
            2,
            "AWS answers ThrottlingException to every call",
            400,
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
            "throttled",
        ),
        (
            3,
            "AWS answers 500 InternalServiceError to every call",
            500,
            r#"{"__type":"InternalServiceError","message":"injected"}"#,
            "unavailable",
        ),
        (
            4,
            "AWS answers 503 ServiceUnavailable to every call",
            503,
            r#"{"__type":"ServiceUnavailableException","message":"injected"}"#,
            "unavailable",
        ),
    ] {
        proxy.fail_next(1_000_000, status, body);
        let value = format!("s3cr3t-{n}");
        moto.boto(&format!(
            "sm.put_secret_value(SecretId='app/db', SecretString='{value}')"
        ));
        let told = db.wait_failed(&["SecretStore app/aws", "app/db", word], what);
        db.kept(&format!("s3cr3t-{}", n - 1), what);
        proxy.clear();
        db.converged(&value, what, Instant::now(), &told);
    }
    no_leak(&agent, &["s3cr3t-", "not-a-real-key"]);
}
