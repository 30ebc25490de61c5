//! A Vault outage seen by a long-running agent (dir sink), against a real OpenBao: sealed, then stopped.
//! Each time the Secret keeps its last good value, `/status` names the store and the remote key, and a
//! new value arrives by itself once the server is back (no commit, no manual refresh).

use crate::agent_dir::encrypted;
use crate::agent_dir_daemon::Daemon;
use crate::external_refs::{curl, put, start_bao, start_bao_on, TOKEN};
use crate::git_servers::Fixture;
use crate::support::ONE;

fn repo(fx: &Fixture, addr: &str) {
    fx.write(
        "apps/token.yaml",
        encrypted("app", "bao-token", &[("token", TOKEN)], ONE),
    );
    fx.write(
        "apps/store.yaml",
        format!(
            "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata:\n  name: bao\n  namespace: app\nspec:\n  provider:\n    vault:\n      server: {addr}\n      path: secret\n      auth:\n        tokenSecretRef:\n          name: bao-token\n          key: token\n"
        ),
    );
    fx.write(
        "apps/db.yaml",
        "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: db\n  namespace: app\nspec:\n  refreshInterval: 1s\n  secretStoreRef:\n    name: bao\n  data:\n  - secretKey: password\n    remoteRef:\n      key: app/db\n      property: password\n",
    );
    fx.commit("references");
    fx.push();
}

#[test]
fn a_sealed_or_stopped_vault_keeps_the_last_value_says_why_and_recovers_by_itself() {
    let fx = Fixture::new();
    let bao = start_bao(fx.dir.path());
    put(&bao, "app/db", r#"{"password":"v4lue-1"}"#);
    repo(&fx, &bao.addr);
    let sink = fx.dir.path().join("secrets");
    let file = sink.join("app/db/password");
    let value = || std::fs::read_to_string(&file).ok();
    let agent = Daemon::spawn(&fx, &fx.file_url(), &sink, "1h");
    agent.wait_until(|| value().as_deref() == Some("v4lue-1"), "resolved");

    let reported = |what: &str| {
        let (_, status) = agent.get("/status");
        status.contains("SecretStore app/bao") && status.contains("app/db") && status.contains(what)
    };

    // Sealed: the real thing, through the API.
    curl(&bao, "PUT", "sys/seal", None).expect("seal");
    agent.wait_until(|| reported("unavailable"), "the sealed server reported");
    assert_eq!(
        value().as_deref(),
        Some("v4lue-1"),
        "the last good value stays"
    );
    let key = bao.unseal_key();
    curl(
        &bao,
        "PUT",
        "sys/unseal",
        Some(&format!(r#"{{"key":"{key}"}}"#)),
    )
    .expect("unseal");
    put(&bao, "app/db", r#"{"password":"v4lue-2"}"#);
    agent.wait_until(
        || value().as_deref() == Some("v4lue-2"),
        "recovered after the unseal",
    );

    // Stopped, then back on the same address (a new dev server: the value is written again).
    let port = bao.port;
    drop(bao);
    agent.wait_until(|| reported("unavailable"), "the stopped server reported");
    assert_eq!(
        value().as_deref(),
        Some("v4lue-2"),
        "the last good value stays"
    );
    let bao = start_bao_on(fx.dir.path(), port);
    put(&bao, "app/db", r#"{"password":"v4lue-3"}"#);
    agent.wait_until(
        || value().as_deref() == Some("v4lue-3"),
        "recovered after the restart",
    );
    let (_, status) = agent.get("/status");
    assert!(!status.contains("v4lue-"), "a value in /status: {status}");
    let logs = std::fs::read_to_string(&agent.log).unwrap();
    assert!(
        !logs.contains("v4lue-") && !logs.contains(TOKEN),
        "a value or the token in the logs"
    );
}
