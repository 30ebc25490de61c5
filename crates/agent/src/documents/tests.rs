//! Classification of real sops files and hand-written manifests.

use std::path::Path;

use crate::keys::{Identities, IdentitySource};
use crate::policy::{Fallback, NamespacePolicy, PolicyRule};

use super::*;

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/sops")
            .join(rel),
    )
    .unwrap()
}

fn identities(key: &str) -> Identities {
    let mut ids = Identities::default();
    ids.add(IdentitySource::File {
        path: Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/sops/keys")
            .join(key),
        origin: "test".into(),
    })
    .unwrap();
    ids
}

fn classify_with(key: &str, policy: NamespacePolicy, path: &str, bytes: &[u8]) -> FileOutcome {
    let ids = identities(key);
    let c = Classifier {
        identities: &ids,
        decryption: &DecryptionPolicy::default(),
        policy: &policy,
        default_namespace: "default",
        max_file_size: 1024 * 1024,
        cluster_store_paths: &Default::default(),
    };
    c.classify(path, bytes, "c0ffee")
}

fn classify(path: &str, bytes: &[u8]) -> FileOutcome {
    classify_with(
        "all-three.agekeys",
        NamespacePolicy::new(vec![], Fallback::AllowAll),
        path,
        bytes,
    )
}

#[test]
fn sops_secret_becomes_desired() {
    let out = classify("apps/db.yaml", &fixture("enc/secret-stringdata.yaml"));
    assert!(out.refused.is_empty(), "{:?}", out.refused);
    let s = &out.secrets[0];
    assert_eq!(s.key, SecretKey::new("payments", "db-credentials"));
    assert_eq!(s.data["username"].expose(), b"payments_rw");
    assert_eq!(s.labels["app"], "payments");
    assert_eq!(s.source.path, "apps/db.yaml");
    assert_eq!(s.source.commit, "c0ffee");
}

#[test]
fn base64_data_is_decoded() {
    let out = classify("tls.yaml", &fixture("enc/secret-data.yaml"));
    let s = &out.secrets[0];
    assert_eq!(s.secret_type, "kubernetes.io/tls");
    assert!(s.data["tls.crt"]
        .expose()
        .starts_with(b"-----BEGIN CERTIFICATE-----"));
}

#[test]
fn multi_document_sops_file() {
    let out = classify("multi.yaml", &fixture("enc/multi.yaml"));
    let names: Vec<_> = out.secrets.iter().map(|s| s.key.to_string()).collect();
    assert_eq!(names, ["default/first", "default/second"]);
}

#[test]
fn tampered_and_keyless_files_are_refused_by_reason() {
    let out = classify("t.yaml", &fixture("enc/tampered-mac.yaml"));
    assert_eq!(out.refused[0].reason, Reason::Mac);
    assert!(out.secrets.is_empty());
    let out = classify("t.yaml", &fixture("enc/tampered-value.yaml"));
    assert_eq!(out.refused[0].reason, Reason::Decrypt);
    let out = classify_with(
        "outsider.agekey",
        NamespacePolicy::new(vec![], Fallback::AllowAll),
        "o.yaml",
        &fixture("enc/secret-stringdata.yaml"),
    );
    assert_eq!(out.refused[0].reason, Reason::NoKey);
    assert!(out.refused[0]
        .to_string()
        .starts_with("o.yaml: cannot decrypt"));
}

#[test]
fn plain_documents() {
    let yaml = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: plain\n  namespace: ns\n  annotations:\n    sealsync.dev/adopt: \"true\"\nstringData:\n  a: b\ndata:\n  c: aGk=\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n---\n---\nfoo: bar\n";
    let out = classify("p.yaml", yaml);
    assert_eq!(out.secrets.len(), 1);
    assert!(out.secrets[0].adopt);
    assert_eq!(out.secrets[0].data["c"].expose(), b"hi");
    assert_eq!(out.ignored[0].kind, "ConfigMap");
    assert_eq!(out.refused.len(), 1);
    assert_eq!(out.refused[0].reason, Reason::Invalid);
    assert_eq!(out.refused[0].document, Some(4));
}

#[test]
fn stripped_and_invalid_secrets() {
    let stripped = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  p: ENC[AES256_GCM,data:aaa=,iv:bbb=,tag:ccc=,type:str]\n";
    assert_eq!(
        classify("s.yaml", stripped).refused[0].reason,
        Reason::StrippedMetadata
    );
    // A sops file cut inside its first value (tests/hostile: truncated-mid-line.yaml) parses as a
    // plain Secret whose value is the start of the ciphertext: refused, not applied as that text.
    for cut in ["ENC[AES256_G", "ENC[AES256_GCM,data:q83v"] {
        let doc = format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  p: {cut}\n"
        );
        let out = classify("s.yaml", doc.as_bytes());
        assert!(out.secrets.is_empty(), "{cut}");
        assert_eq!(out.refused[0].reason, Reason::StrippedMetadata, "{cut}");
    }
    for (doc, needle) in [
        (
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: Bad_Name\n",
            "invalid Secret name",
        ),
        (
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ok\n  namespace: -x\n",
            "invalid namespace",
        ),
        (
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ok\ndata:\n  k: '%%%'\n",
            "not valid base64",
        ),
        (
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ok\nstringData:\n  k: 3\n",
            "must be a string",
        ),
        (
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ok\nstringData:\n  a/b: x\n",
            "invalid key",
        ),
    ] {
        let out = classify("i.yaml", doc.as_bytes());
        assert_eq!(out.refused.len(), 1, "{doc}");
        assert!(
            out.refused[0].message.contains(needle),
            "{}",
            out.refused[0].message
        );
    }
    let broken = classify("b.yaml", b"key: [unclosed\n");
    assert_eq!(broken.refused[0].reason, Reason::Parse);
    assert!(classify("e.yaml", b"").refused.is_empty());
    assert!(classify("e.yaml", b"# only a comment\n").secrets.is_empty());
}

#[test]
fn references_are_handed_to_the_resolver() {
    let doc = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: r\nstringData:\n  p: <path:secret/data/x#p>\n";
    let out = classify("r.yaml", doc);
    assert!(
        out.refused.is_empty() && out.secrets.is_empty(),
        "{:?}",
        out.refused
    );
    assert_eq!(out.external.len(), 1);
    let es = b"apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: e\nspec:\n  secretStoreRef: {name: s}\n  data: [{secretKey: a, remoteRef: {key: k}}]\n";
    assert_eq!(classify("e.yaml", es).external.len(), 1);
    let bad = b"apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: e\nspec:\n  secretStoreRef: {name: s}\n  syncWindows: []\n  data: [{secretKey: a, remoteRef: {key: k}}]\n";
    let out = classify("e.yaml", bad);
    assert_eq!(
        out.refused[0].reason,
        Reason::Unsupported,
        "{:?}",
        out.refused
    );
    assert!(
        out.refused[0].message.contains("syncWindows"),
        "{}",
        out.refused[0].message
    );
}

#[test]
fn cluster_stores_only_from_allowed_paths() {
    let doc = b"apiVersion: external-secrets.io/v1\nkind: ClusterSecretStore\nmetadata:\n  name: c\nspec:\n  provider:\n    vault: {server: 'http://v', path: secret, auth: {tokenSecretRef: {name: t, key: token, namespace: ns}}}\n";
    let out = classify("apps/c.yaml", doc);
    assert_eq!(out.refused[0].reason, Reason::Policy);
    assert!(out.refused[0].message.contains("--cluster-store-path"));
}

/// A SecretStore that logs in as the agent itself (its own service account token, or the AWS default
/// chain) is trusted like a ClusterSecretStore: refused from a team folder (before: accepted, so any
/// folder could send the agent's token to a server it names).
#[test]
fn stores_using_the_agents_identity_only_from_allowed_paths() {
    let store = |provider: &str| {
        format!("apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata:\n  name: s\n  namespace: team-a\nspec:\n  provider:\n{provider}")
    };
    let own_vault = store("    vault: {server: 'https://evil.example', path: secret, auth: {kubernetes: {role: r}}}\n");
    let aws_chain = store("    aws: {service: SecretsManager, region: us-east-1}\n");
    let with_account = store("    vault: {server: 'https://v', path: secret, auth: {kubernetes: {role: r, serviceAccountRef: {name: app}}}}\n");
    let ids = identities("one.agekey");
    let policy = NamespacePolicy::new(vec![], Fallback::AllowAll);
    let platform = ClusterStorePaths::new(&["platform/**".to_string()]).unwrap();
    let classify_in = |paths: &ClusterStorePaths, path: &str, doc: &str| {
        Classifier {
            identities: &ids,
            decryption: &DecryptionPolicy::default(),
            policy: &policy,
            default_namespace: "default",
            max_file_size: 1 << 20,
            cluster_store_paths: paths,
        }
        .classify(path, doc.as_bytes(), "c")
    };
    for doc in [&own_vault, &aws_chain] {
        for paths in [&ClusterStorePaths::default(), &platform] {
            let out = classify_in(paths, "teams/a/store.yaml", doc);
            assert_eq!(out.refused.len(), 1, "{doc}");
            assert_eq!(out.refused[0].reason, Reason::Policy);
            let m = &out.refused[0].message;
            assert!(
                m.contains("logs in as the agent itself") && m.contains("--cluster-store-path"),
                "{m}"
            );
        }
        let out = classify_in(&platform, "platform/store.yaml", doc);
        assert!(out.refused.is_empty(), "{:?}", out.refused);
        assert_eq!(out.external.len(), 1);
    }
    let out = classify_in(
        &ClusterStorePaths::default(),
        "teams/a/store.yaml",
        &with_account,
    );
    assert!(
        out.refused.is_empty(),
        "a store with its own account: {:?}",
        out.refused
    );
}

#[test]
fn namespace_policy_is_enforced() {
    let policy = NamespacePolicy::new(
        vec![PolicyRule::parse("apps/team-a/**=team-a").unwrap()],
        Fallback::AllowAll,
    );
    let doc = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n  namespace: team-b\nstringData:\n  a: b\n";
    let out = classify_with("one.agekey", policy, "apps/team-a/x.yaml", doc);
    assert_eq!(out.refused[0].reason, Reason::Policy);
    assert!(
        out.refused[0].message.contains("team-a"),
        "{}",
        out.refused[0].message
    );
}

#[test]
fn oversize_files_and_secrets() {
    let ids = identities("one.agekey");
    let policy = NamespacePolicy::new(vec![], Fallback::AllowAll);
    let c = Classifier {
        identities: &ids,
        decryption: &DecryptionPolicy::default(),
        policy: &policy,
        default_namespace: "default",
        max_file_size: 10,
        cluster_store_paths: &Default::default(),
    };
    let out = c.classify("big.yaml", &[b'a'; 11], "c");
    assert_eq!(out.refused[0].reason, Reason::TooLarge);
    let big = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: big\nstringData:\n  a: {}\n",
        "x".repeat(MAX_SECRET_SIZE + 1)
    );
    let out = classify("big.yaml", big.as_bytes());
    assert_eq!(out.refused[0].reason, Reason::TooLarge);
}

#[test]
fn duplicates_are_refused_on_both_sides() {
    let doc = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: same\n  namespace: ns\nstringData:\n  a: b\n";
    let mut files = vec![
        ("a.yaml".to_string(), classify("a.yaml", doc)),
        ("b.yaml".to_string(), classify("b.yaml", doc)),
    ];
    refuse_duplicates(&mut files);
    for (_, outcome) in &files {
        assert!(outcome.secrets.is_empty());
        assert_eq!(outcome.refused[0].reason, Reason::Duplicate);
        assert!(outcome.refused[0].message.contains("a.yaml, b.yaml"));
    }
}

#[test]
fn no_value_appears_in_any_refusal() {
    let out = classify("t.yaml", &fixture("enc/tampered-mac.yaml"));
    let text = format!("{out:?}");
    for secret in ["payments_rw", "c0rrect horse"] {
        assert!(!text.contains(secret));
    }
}

/// A JSON manifest naming a key twice is refused (tests/hostile: duplicate-keys.json). The JSON store
/// keeps both entries, as sops does; the classifier read the first (`metadata.name` "dj") where kubectl
/// reads the last, and applied it.
#[test]
fn json_with_a_duplicate_key_is_refused() {
    let doc = br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"dj","name":"dk"},"stringData":{"a":"b"}}"#;
    let out = classify("dup.json", doc);
    assert!(out.secrets.is_empty(), "{:?}", out.secrets);
    assert_eq!(out.refused[0].reason, Reason::Parse);
    assert!(
        out.refused[0]
            .message
            .contains("key 'metadata.name' is given twice"),
        "{}",
        out.refused[0].message
    );
    let nested =
        br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"n"},"x":[{"a":1,"a":2}]}"#;
    assert!(classify("dup.json", nested).refused[0]
        .message
        .contains("'x[0].a'"));
}

/// Found by the hostile corpus: a `kind: Secret` of another apiVersion was ignored (a debug log and a
/// count) — the user's Secret vanished without a word; it is refused naming the reason. An encrypted
/// object of another kind stays ignored (it is another tool's), said at info.
#[test]
fn secrets_of_another_version_are_refused_and_encrypted_other_kinds_ignored() {
    let v2 = b"apiVersion: v2\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  a: b\n";
    let out = classify("s.yaml", v2);
    assert_eq!(out.refused[0].reason, Reason::Invalid);
    assert!(out.refused[0]
        .message
        .contains("a Kubernetes Secret is apiVersion v1"));
    assert!(out.ignored.is_empty());

    let plain = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: b\n";
    let spec = crate::sops::file::EncryptionSpec {
        groups: vec![vec![
            "age16ghs0xxhqu2rxrjhnmql5t2pcrc4xlfp9sp643fthhzsygvxnafqxrvr3p"
                .parse()
                .unwrap(),
        ]],
        ..Default::default()
    };
    // An encrypted object of another kind is another tool's (Flux decrypts any kind): ignored and
    // counted like a plain one (logged at info), not refused, so a shared repository does not fail.
    let encrypted = crate::sops::file::encrypt(plain, Format::Yaml, &spec).unwrap();
    let out = classify("c.yaml", &encrypted);
    assert!(out.refused.is_empty(), "{:?}", out.refused);
    assert_eq!(out.ignored[0].kind, "ConfigMap");
    assert_eq!(classify("c.yaml", plain).ignored[0].kind, "ConfigMap");
}
