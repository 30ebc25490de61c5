//! An ExternalSecret's `target.creationPolicy` and `deletionPolicy` end to end, with values from a real
//! OpenBao: Orphan kept when its document leaves git, Delete only once the remote secret is really gone,
//! Retain keeping the last value, None writing nothing, Merge refused by the dir sink and carried out by
//! the Kubernetes sink, whose store credentials may also live in the cluster rather than in git.

use std::path::Path;

use crate::agent_dir::{agent, encrypted};
use crate::external_refs::{curl, put, run_once_with, start_bao, Bao, TOKEN};
use crate::git_servers::Fixture;
use crate::support::ONE;

/// A store of namespace `ns` whose token is the Secret `bao-token`.
fn store(ns: &str, bao: &Bao) -> String {
    format!("apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata:\n  name: bao\n  namespace: {ns}\nspec:\n  provider:\n    vault:\n      server: {}\n      path: secret\n      auth:\n        tokenSecretRef:\n          name: bao-token\n          key: token\n", bao.addr)
}

/// An ExternalSecret `name` of `ns` writing `password` from `key`, with `target` (YAML flow mapping
/// body).
fn external_secret(ns: &str, name: &str, key: &str, target: &str) -> String {
    format!("apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  secretStoreRef:\n    name: bao\n  target: {{{target}}}\n  data:\n  - secretKey: password\n    remoteRef:\n      key: {key}\n      property: password\n")
}

fn read(sink: &Path, name: &str, key: &str) -> Option<String> {
    std::fs::read_to_string(sink.join("app").join(name).join(key)).ok()
}

fn managed(sink: &Path, name: &str) -> bool {
    sink.join("app").join(name).join("..sealsync.json").exists()
}

#[test]
fn creation_and_deletion_policies_in_the_dir_sink() {
    let fx = Fixture::new();
    let bao = start_bao(fx.dir.path());
    for k in ["kept", "gone", "retained", "none", "merged"] {
        put(
            &bao,
            &format!("app/{k}"),
            &format!(r#"{{"password":"p0l-{k}"}}"#),
        );
    }
    // A remote value over the 1 MiB a Secret may hold: refused on its own.
    // (Through a file: one command-line argument holds at most 128 KiB.)
    let body = fx.dir.path().join("huge.json");
    let huge = "x".repeat(1_100_000);
    std::fs::write(&body, format!(r#"{{"data":{{"password":"{huge}"}}}}"#)).unwrap();
    let at = format!("@{}", body.display());
    curl(&bao, "POST", "secret/data/app/huge", Some(&at)).expect("write to OpenBao");
    fx.write(
        "apps/token.yaml",
        encrypted("app", "bao-token", &[("token", TOKEN)], ONE),
    );
    fx.write("apps/store.yaml", store("app", &bao));
    fx.write(
        "apps/huge.yaml",
        external_secret("app", "huge", "app/huge", "name: huge"),
    );
    let docs = [
        ("kept", "creationPolicy: Orphan"),
        ("gone", "deletionPolicy: Delete"),
        ("retained", "deletionPolicy: Retain"),
        ("none", "creationPolicy: None"),
        ("merged", "creationPolicy: Merge, deletionPolicy: Merge"),
    ];
    for (name, target) in docs {
        fx.write(
            &format!("apps/{name}.yaml"),
            external_secret("app", name, &format!("app/{name}"), target),
        );
    }
    fx.commit("policies");
    fx.push();
    let sink = fx.dir.path().join("sink");
    let secret_values = ["p0l-"];

    let (code, logs) = run_once_with(&fx, &sink, agent(), &secret_values);
    assert_ne!(code, 0, "the Merge document is refused: {logs}");
    assert!(
        logs.contains("apps/merged.yaml") && logs.contains("creationPolicy Merge"),
        "the refusal names the file and why:\n{logs}"
    );
    let huge_refusal = logs
        .lines()
        .find(|l| l.contains("apps/huge.yaml"))
        .unwrap_or_else(|| panic!("huge.yaml is refused:\n{logs}"));
    assert!(
        huge_refusal.contains("too_large") || huge_refusal.contains("limit"),
        "{huge_refusal}"
    );
    assert!(!sink.join("app/huge").exists());
    for name in ["kept", "gone", "retained"] {
        assert_eq!(
            read(&sink, name, "password").unwrap(),
            format!("p0l-{name}")
        );
        assert!(managed(&sink, name));
    }
    assert!(
        !sink.join("app/none").exists(),
        "creationPolicy None writes nothing"
    );
    assert!(!sink.join("app/merged").exists());

    // The remote secrets of `gone` and `retained` are deleted at the source; `kept` leaves git.
    for k in ["gone", "retained"] {
        curl(&bao, "DELETE", &format!("secret/metadata/app/{k}"), None).unwrap();
    }
    fx.remove("apps/kept.yaml");
    fx.commit("kept leaves git");
    fx.push();
    let (code, logs) = run_once_with(&fx, &sink, agent(), &secret_values);
    assert_ne!(code, 0, "retained's remote is gone: an error, reported");
    assert_eq!(
        read(&sink, "kept", "password").as_deref(),
        Some("p0l-kept"),
        "Orphan: the values stay when its document leaves git"
    );
    assert!(
        !managed(&sink, "kept"),
        "released: no longer sealsync's\n{logs}"
    );
    assert!(
        !sink.join("app/gone").exists(),
        "Delete: removed once the store answers not found\n{logs}"
    );
    assert_eq!(
        read(&sink, "retained", "password").as_deref(),
        Some("p0l-retained"),
        "Retain: the last value stays"
    );
    assert!(
        logs.contains("apps/retained.yaml") && logs.contains("not found"),
        "{logs}"
    );
}

#[cfg(feature = "kube")]
#[test]
fn the_kube_sink_merges_and_reads_store_credentials_from_the_cluster() {
    use crate::cluster::{wait, Agent, Cluster};

    let fx = Fixture::new();
    let bao = start_bao(fx.dir.path());
    put(&bao, "team-a/db", r#"{"password":"cl0ud-db"}"#);
    put(&bao, "team-a/shared", r#"{"password":"cl0ud-merged"}"#);
    let cluster = Cluster::start_blocking();
    // The store's token is not in git: only in the cluster.
    cluster.kubectl(&[
        "create",
        "secret",
        "generic",
        "bao-token",
        "-n",
        "team-a",
        &format!("--from-literal=token={TOKEN}"),
    ]);
    cluster.kubectl(&[
        "create",
        "secret",
        "generic",
        "shared",
        "-n",
        "team-a",
        "--from-literal=theirs=kept-as-is",
    ]);
    fx.write("apps/store.yaml", store("team-a", &bao));
    fx.write(
        "apps/db.yaml",
        external_secret("team-a", "db", "team-a/db", "name: app-db"),
    );
    fx.write(
        "apps/shared.yaml",
        external_secret(
            "team-a",
            "shared",
            "team-a/shared",
            "name: shared, creationPolicy: Merge",
        ),
    );
    fx.commit("references");
    fx.push();

    let agent = Agent::start(&fx, &cluster, "agent-p1");
    wait(
        "resolved with the cluster's token, and merged",
        &[&agent],
        || {
            cluster.value("app-db", "password").as_deref() == Some("cl0ud-db")
                && cluster.value("shared", "password").as_deref() == Some("cl0ud-merged")
        },
    );
    assert_eq!(
        cluster.value("shared", "theirs").as_deref(),
        Some("kept-as-is"),
        "Merge leaves the other keys"
    );
    let labels = cluster.kubectl(&[
        "get",
        "secret",
        "shared",
        "-n",
        "team-a",
        "-o",
        "jsonpath={.metadata.labels}",
    ]);
    assert!(
        !labels.contains("sealsync"),
        "a merged Secret is not sealsync's: {labels}"
    );
    let logs = agent.logs();
    assert!(!logs.contains("cl0ud-") && !logs.contains(TOKEN), "{logs}");
}
