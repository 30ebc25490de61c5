//! End to end: `sealctl render` of the very folder the agent's reference test commits (a SecretStore
//! whose token is committed encrypted, an ExternalSecret, an AVP Secret, an unknown store, a missing
//! property) against a real OpenBao: values masked unless `--reveal`, each failure on its own Secret,
//! the values the agent writes, nothing contacted with `--no-resolve`, and `VAULT_TOKEN` standing in
//! for a token Secret that cannot be decrypted.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

use crate::agent_dir::agent;
use crate::external_refs::{put, repo, start_bao, TOKEN};
use crate::git_servers::Fixture;
use crate::support::{key, sealctl, stderr, stdout};

/// `sealctl render .` in `dir`.
fn render(dir: &Path) -> Command {
    let mut cmd = sealctl();
    cmd.current_dir(dir).arg("render");
    cmd
}

fn run(mut cmd: Command) -> (i32, String, String) {
    let out: Output = cmd.arg(".").output().expect("run sealctl render");
    (out.status.code().unwrap_or(-1), stdout(&out), stderr(&out))
}

/// No remote value, no store token and no decrypted file value in `text`.
fn assert_no_value(text: &str) {
    for value in ["v4lue-", TOKEN] {
        assert!(!text.contains(value), "a value leaked:\n{text}");
    }
}

/// `namespace/name/key` → value, from `render --json --reveal`.
fn revealed(json: &str) -> BTreeMap<String, String> {
    let doc: serde_json::Value = serde_json::from_str(json).expect("render --json is JSON");
    let mut out = BTreeMap::new();
    for s in doc["secrets"].as_array().expect("secrets") {
        for k in s["keys"].as_array().expect("keys") {
            if let Some(v) = k["value"].as_str() {
                let at = format!(
                    "{}/{}/{}",
                    s["namespace"].as_str().unwrap(),
                    s["name"].as_str().unwrap(),
                    k["key"].as_str().unwrap()
                );
                out.insert(at, v.to_string());
            }
        }
    }
    out
}

#[test]
fn render_resolves_references_as_the_agent_does() {
    let fx = Fixture::new();
    let bao = start_bao(fx.dir.path());
    put(
        &bao,
        "app/db",
        r#"{"password":"v4lue-1","user":"v4lue-user"}"#,
    );
    repo(&fx, &bao.addr);

    let mut masked = render(&fx.work);
    masked.arg("--identity").arg(key("one.agekey"));
    let (code, out, err) = run(masked);
    assert_eq!(
        code, 20,
        "the bad references make it partial:\n{out}\n{err}"
    );
    assert_no_value(&out);
    assert_no_value(&err);
    for line in [
        "Secret app/db (Opaque)",
        "  from ExternalSecret db in apps/db.yaml (document 1), store SecretStore app/bao",
        "  password  <7 bytes>  remote key app/db, property password, current version",
        "  reads app/db (version 1)",
        "  url  <21 bytes>  remote key secret/data/app/db, property user, current version",
        "  token  <19 bytes>  file apps/token.yaml",
        "  error [unresolved_reference] unknown store: no SecretStore app/nowhere in git",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "missing {line:?} in:\n{out}"
        );
    }
    let missing = out
        .split("\n\n")
        .find(|block| block.starts_with("Secret app/missing "))
        .unwrap_or_else(|| panic!("no block for app/missing:\n{out}"));
    assert!(
        missing.contains("error [unresolved_reference]") && missing.contains("nope"),
        "the missing property is an error of that Secret only:\n{missing}"
    );
    assert!(
        err.contains("2 could not be rendered, 0 document(s) refused"),
        "{err}"
    );

    let mut shown = render(&fx.work);
    shown
        .args(["--reveal", "--identity"])
        .arg(key("one.agekey"));
    let (_, out, _) = run(shown);
    assert!(
        out.contains("  password  \"v4lue-1\"  remote key app/db"),
        "{out}"
    );

    let mut json = render(&fx.work);
    json.args(["--json", "--reveal", "--identity"])
        .arg(key("one.agekey"));
    let (code, out, err) = run(json);
    assert_eq!(code, 20, "{err}");
    let values = revealed(&out);
    let sink = fx.dir.path().join("secrets");
    let agent_run = agent()
        .args(["run", "--once", "--repo", &fx.file_url()])
        .arg("--sink")
        .arg(format!("dir:{}", sink.display()))
        .arg("--cache-dir")
        .arg(fx.dir.path().join("cache"))
        .arg("--identity")
        .arg(key("one.agekey"))
        .output()
        .expect("run the agent");
    assert_eq!(agent_run.status.code(), Some(2), "{}", stderr(&agent_run));
    for at in ["app/db/password", "app/api/url", "app/bao-token/token"] {
        let written =
            std::fs::read_to_string(sink.join(at)).unwrap_or_else(|e| panic!("{at}: {e}"));
        assert_eq!(
            values.get(at),
            Some(&written),
            "render and the agent differ on {at}"
        );
    }
    assert_eq!(
        values.len(),
        3,
        "only the Secrets the agent writes have values: {values:?}"
    );
}

#[test]
fn masked_json_has_sizes_and_no_values() {
    let fx = Fixture::new();
    let bao = start_bao(fx.dir.path());
    put(
        &bao,
        "app/db",
        r#"{"password":"v4lue-1","user":"v4lue-user"}"#,
    );
    repo(&fx, &bao.addr);
    let mut json = render(&fx.work);
    json.arg("--json").arg("--identity").arg(key("one.agekey"));
    let (code, out, err) = run(json);
    assert_eq!(code, 20, "{err}");
    assert_no_value(&out);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let db = doc["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "db")
        .expect("app/db");
    assert_eq!(db["keys"][0]["size"], 7);
    assert!(db["keys"][0].get("value").is_none(), "{db}");
    assert_eq!(db["keys"][0]["sources"][0]["remote_key"], "app/db");
    assert_eq!(db["from"]["store"], "SecretStore app/bao");
    let bad = doc["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "bad")
        .expect("app/bad");
    assert_eq!(bad["error"]["reason"], "unresolved_reference");
    assert_eq!(bad["keys"][0]["size"], serde_json::Value::Null);
}

#[test]
fn no_resolve_contacts_no_store() {
    let fx = Fixture::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    repo(&fx, &addr);
    for gone in ["apps/bad.yaml", "apps/missing.yaml"] {
        std::fs::remove_file(fx.work.join(gone)).unwrap();
    }

    let mut planned = render(&fx.work);
    planned
        .args(["--no-resolve", "--identity"])
        .arg(key("one.agekey"));
    let (code, out, err) = run(planned);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(
            "  password  (not fetched)  remote key app/db, property password, current version"
        ),
        "{out}"
    );
    assert!(
        listener
            .accept()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
        "--no-resolve contacted the store"
    );

    // Resolving does contact it; a server that hangs up is that Secret's error, named by store and key.
    std::thread::spawn(move || loop {
        match listener.accept() {
            Ok((stream, _)) => drop(stream),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    });
    let mut resolving = render(&fx.work);
    resolving.arg("--identity").arg(key("one.agekey"));
    let (code, out, err) = run(resolving);
    assert_eq!(code, 20, "{out}\n{err}");
    assert!(
        out.contains("  error [unresolved_reference] store SecretStore app/bao:"),
        "{out}"
    );
    assert!(
        out.contains("  token  <19 bytes>  file apps/token.yaml"),
        "the rest renders:\n{out}"
    );
    assert_no_value(&out);
}

#[test]
fn vault_token_stands_in_for_a_token_secret_that_cannot_be_decrypted() {
    let fx = Fixture::new();
    let bao = start_bao(fx.dir.path());
    put(
        &bao,
        "app/db",
        r#"{"password":"v4lue-1","user":"v4lue-user"}"#,
    );
    repo(&fx, &bao.addr);

    let (code, out, _) = run(render(&fx.work));
    assert_eq!(code, 20);
    assert!(
        out.contains("  [no_key] apps/token.yaml: cannot decrypt"),
        "{out}"
    );
    assert!(
        out.contains("credentials Secret app/bao-token (key token) is not materialized from git"),
        "without an identity or VAULT_TOKEN the store has no token:\n{out}"
    );

    let mut with_token = render(&fx.work);
    with_token.env("VAULT_TOKEN", TOKEN);
    let (code, out, err) = run(with_token);
    assert_eq!(code, 20, "{err}");
    assert!(
        out.contains(
            "  password  <7 bytes>  remote key app/db, property password, current version"
        ),
        "{out}"
    );
    assert!(
        out.contains("  [no_key] apps/token.yaml: cannot decrypt"),
        "{out}"
    );
    assert_no_value(&out);
    assert_no_value(&err);
}

#[test]
fn versions_asked_for_and_returned_are_shown() {
    let fx = Fixture::new();
    let bao = start_bao(fx.dir.path());
    put(
        &bao,
        "app/db",
        r#"{"password":"v4lue-1","user":"v4lue-user"}"#,
    );
    put(
        &bao,
        "app/db",
        r#"{"password":"v4lue-2","user":"v4lue-user"}"#,
    );
    repo(&fx, &bao.addr);
    fx.write(
        "apps/pinned.yaml",
        "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: pinned\n  namespace: app\nspec:\n  secretStoreRef:\n    name: bao\n  data:\n  - secretKey: password\n    remoteRef:\n      key: app/db\n      property: password\n      version: \"1\"\n",
    );
    let mut cmd = render(&fx.work);
    cmd.args(["--reveal", "--identity"]).arg(key("one.agekey"));
    let (_, out, _) = run(cmd);
    let block = |name: &str| {
        out.split("\n\n")
            .find(|b| b.starts_with(&format!("Secret app/{name} ")))
            .unwrap_or_else(|| panic!("no app/{name} in:\n{out}"))
            .to_string()
    };
    let pinned = block("pinned");
    assert!(
        pinned.contains("  reads app/db@1 (version 1)\n"),
        "{pinned}"
    );
    assert!(
        pinned.contains("\"v4lue-1\"  remote key app/db, property password, version 1"),
        "{pinned}"
    );
    let current = block("db");
    assert!(
        current.contains("  reads app/db (version 2)\n"),
        "{current}"
    );
    assert!(current.contains("\"v4lue-2\""), "{current}");
}
