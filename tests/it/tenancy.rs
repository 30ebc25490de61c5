//! Multi-tenancy end to end: a team that can write only its own folder copies another team's
//! encrypted files (made by the real `sops`) into it, edited so the MAC still verifies, and the real
//! agent (`run --once --sink dir:`) must not decrypt any of them into the team's namespace — with one
//! set of identities and a namespace policy (what the MAC does not bind is refused), and with per-path
//! decryption identities (the copies do not decrypt at all). The team's own files still apply.

use std::path::Path;
use std::process::Output;

use crate::agent_dir::agent;
use crate::git_servers::Fixture;
use crate::support::{key, ok, sealctl, sops, stderr, stdout, ONE, TWO};

/// Plaintext values of the fixture; none may reach anything the agent prints.
const VALUES: [&str; 4] = [
    "team-a-own-value",
    "team-b-db-value",
    "team-b-api-value",
    "team-b-cache-value",
];

fn plain_secret(ns: &str, name: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {ns}\ntype: Opaque\nstringData:\n  password: {value}\n")
}

/// Team-b's file, encrypted by the real sops for team-b's recipient, as a Kubernetes user does
/// (`encrypted_regex` on data/stringData, so metadata stays readable).
fn sops_encrypted(fx: &Fixture, name: &str, value: &str, mac_only: bool) -> String {
    let dir = fx.scratch(&format!("sops-{name}"));
    let config = dir.join(".sops.yaml");
    std::fs::write(
        &config,
        format!(
            "creation_rules:\n  - age: {TWO}\n    encrypted_regex: '^(data|stringData)$'\n    mac_only_encrypted: {mac_only}\n"
        ),
    )
    .unwrap();
    let plain = dir.join(format!("{name}.yaml"));
    std::fs::write(&plain, plain_secret("team-b", name, value)).unwrap();
    let out = ok(sops()
        .arg("--disable-version-check")
        .arg("--config")
        .arg(&config)
        .arg("encrypt")
        .arg(&plain));
    let text = stdout(&out);
    assert_eq!(
        text.contains("mac_only_encrypted: true"),
        mac_only,
        "sops honoured the rule:\n{text}"
    );
    text
}

/// Team-a's own file, encrypted with `sealctl` for team-a's recipient.
fn sealctl_encrypted(fx: &Fixture, name: &str, value: &str) -> String {
    let plain = fx.scratch("sealctl").join(format!("{name}.yaml"));
    std::fs::write(&plain, plain_secret("team-a", name, value)).unwrap();
    stdout(&ok(sealctl()
        .args([
            "encrypt",
            "--age",
            ONE,
            "--encrypted-regex",
            "^(data|stringData)$",
        ])
        .arg(&plain)))
}

fn edited(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} in\n{text}");
    text.replacen(from, to, 1)
}

/// Team-a's folder holds its own Secret and four copies of team-b's files, each edited by a team-a
/// writer in a way the MAC does not notice.
fn repo(fx: &Fixture) {
    let db = sops_encrypted(fx, "db", VALUES[1], false);
    let api = sops_encrypted(fx, "api", VALUES[2], true);
    let cache = sops_encrypted(fx, "cache", VALUES[3], false);
    fx.write(
        "apps/team-a/own.yaml",
        sealctl_encrypted(fx, "own", VALUES[0]),
    );
    fx.write("apps/team-b/db.yaml", &db);
    fx.write("apps/team-b/api.yaml", &api);
    fx.write("apps/team-b/cache.yaml", &cache);
    // Unchanged: still targets team-b.
    fx.write("apps/team-a/copied-db.yaml", &db);
    // mac_only_encrypted: the plaintext namespace is outside the MAC.
    fx.write(
        "apps/team-a/retargeted-api.yaml",
        edited(&api, "namespace: team-b", "namespace: team-a"),
    );
    // Full MAC, which covers values in order but not key names: rename the key...
    fx.write(
        "apps/team-a/renamed-db.yaml",
        edited(&db, "    namespace: team-b", "    tenant: team-b"),
    );
    // ... or move the value under labels; the default namespace then applies.
    fx.write(
        "apps/team-a/moved-cache.yaml",
        edited(
            &cache,
            "    namespace: team-b",
            "    labels:\n        tenant: team-b",
        ),
    );
    fx.commit("team-a copies team-b's ciphertext");
}

const COPIES: [&str; 4] = [
    "apps/team-a/copied-db.yaml",
    "apps/team-a/retargeted-api.yaml",
    "apps/team-a/renamed-db.yaml",
    "apps/team-a/moved-cache.yaml",
];

fn run_once(fx: &Fixture, sink: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = agent()
        .args(["run", "--once", "--repo", &fx.file_url()])
        .arg("--sink")
        .arg(format!("dir:{}", sink.display()))
        .arg("--cache-dir")
        .arg(fx.dir.path().join("cache"))
        .args([
            "--namespace-policy",
            "apps/team-a/**=team-a;apps/team-b/**=team-b",
            // The namespace a document without one lands in is team-a's: the renamed key's target.
            "--default-namespace",
            "team-a",
        ])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let logs = format!("{}{}", stdout(&out), stderr(&out));
    for v in VALUES {
        assert!(!logs.contains(v), "a value leaked:\n{logs}");
    }
    out
}

/// The Secrets the dir sink holds in `ns`, by name.
fn names(sink: &Path, ns: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(sink.join(ns))
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The log line refusing `path`.
fn refusal<'a>(logs: &'a str, path: &str) -> &'a str {
    logs.lines()
        .find(|l| l.contains("document refused") && l.contains(path))
        .unwrap_or_else(|| panic!("no refusal of {path}:\n{logs}"))
}

#[test]
fn one_set_of_identities_refuses_what_the_mac_does_not_bind() {
    let fx = Fixture::new();
    repo(&fx);
    let sink = fx.dir.path().join("secrets");
    let keys = key("one-and-two.agekeys");
    let out = run_once(&fx, &sink, &["--identity", keys.to_str().unwrap()], &[]);
    let logs = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{logs}");
    assert_eq!(names(&sink, "team-a"), ["own"], "{logs}");
    // Without per-path identities even team-b's own mac_only_encrypted file is refused: nothing
    // tells it apart from a copy.
    assert_eq!(names(&sink, "team-b"), ["cache", "db"], "{logs}");
    assert!(refusal(&logs, "apps/team-b/api.yaml").contains("--decryption-policy"));
    assert_eq!(
        std::fs::read_to_string(sink.join("team-a/own/password")).unwrap(),
        VALUES[0]
    );
    assert!(refusal(&logs, COPIES[0]).contains("namespace 'team-b' is not allowed"));
    let retargeted = refusal(&logs, COPIES[1]);
    assert!(
        retargeted.contains("unbound_target") && retargeted.contains("outside the MAC"),
        "{retargeted}"
    );
    let renamed = refusal(&logs, COPIES[2]);
    assert!(
        renamed.contains("metadata.tenant is not a field"),
        "{renamed}"
    );
    let moved = refusal(&logs, COPIES[3]);
    assert!(moved.contains("names no metadata.namespace"), "{moved}");
}

#[test]
fn per_path_identities_do_not_decrypt_a_copied_file() {
    let fx = Fixture::new();
    repo(&fx);
    let sink = fx.dir.path().join("secrets");
    let policy = format!(
        "apps/team-a/**={};apps/team-b/**={}",
        key("one.agekey").display(),
        key("two.agekey").display()
    );
    // No global identity: every path is scoped. The ';'-separated environment form.
    let out = run_once(
        &fx,
        &sink,
        &[],
        &[("SEALSYNC_DECRYPTION_POLICY", policy.as_str())],
    );
    let logs = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{logs}");
    assert_eq!(names(&sink, "team-a"), ["own"], "{logs}");
    // Team-b's own mac_only_encrypted file is fine in its own, scoped folder.
    assert_eq!(names(&sink, "team-b"), ["api", "cache", "db"], "{logs}");
    for copy in COPIES {
        let line = refusal(&logs, copy);
        assert!(
            line.contains("encrypted for recipients this path may not use")
                && line.contains(TWO)
                && line.contains("apps/team-a/**"),
            "{line}"
        );
    }
}

#[test]
fn a_bad_decryption_policy_is_a_configuration_error() {
    let fx = Fixture::new();
    fx.commit("empty");
    let sink = fx.dir.path().join("secrets");
    for (rule, expected) in [
        ("apps/team-a/**", "expected GLOB=IDENTITY_FILE"),
        (
            "apps/team-a/**=/nonexistent/team-a.agekey",
            "/nonexistent/team-a.agekey",
        ),
    ] {
        let out = run_once(&fx, &sink, &["--decryption-policy", rule], &[]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{}", stderr(&out));
    }
}
