//! The value pipeline end to end on ExternalSecrets from the fixtures: what providers return → Secret data.

mod common;

use std::collections::BTreeMap;

use common::{docs, yaml};
use sealsync_external::pipeline::{self, apply_target, build_data, EsoTemplates, Fetched};
use sealsync_external::{Error, ExternalSecret, SecretData, SecretValue};

fn v(s: &str) -> SecretValue {
    SecretValue::from_text(s)
}

fn text(d: &SecretData, k: &str) -> String {
    String::from_utf8(
        d.get(k)
            .unwrap_or_else(|| panic!("no key {k} in {d:?}"))
            .expose()
            .to_vec(),
    )
    .unwrap()
}

fn full() -> ExternalSecret {
    ExternalSecret::parse(&docs("es-full.yaml")[0], "apps/billing.yaml").unwrap()
}

#[test]
fn full_example_end_to_end() {
    let es = full();
    let postgres = r#"{"password":"pw-3","auth":{"user":"billing"}}"#;
    let settings = r#"{"limits":{"max_conn":20,"region":"eu","nested":{"a":true},"id/x":"slash"}}"#;
    let flags = vec![
        ("billing/flags/beta".to_string(), v("dHJ1ZQ==")), // "true", Base64URL-decoded
        ("billing/flags/dark-mode".to_string(), v("b2Zm")), // "off"
    ];
    let data = build_data(
        &es,
        &[
            Some(Fetched::Extract(v(settings))),
            Some(Fetched::Find(flags)),
        ],
        &[Some(v(postgres)), Some(v(postgres)), Some(v("Y2EtcGVt"))],
        Some(&EsoTemplates),
    )
    .unwrap();
    assert_eq!(text(&data, "password"), "pw-3");
    assert_eq!(
        text(&data, "user"),
        "billing",
        "property auth.user is a path"
    );
    assert_eq!(text(&data, "ca.crt"), "ca-pem", "decodingStrategy Base64");
    assert_eq!(
        text(&data, "max_conn"),
        "20",
        "extract: non-strings JSON-encoded"
    );
    assert_eq!(text(&data, "nested"), r#"{"a":true}"#);
    assert_eq!(
        text(&data, "id_U002f_x"),
        "slash",
        "conversionStrategy Unicode"
    );
    assert_eq!(
        text(&data, "FLAG_BETA"),
        "true",
        "rewrite regexp then transform, then decoding"
    );
    assert_eq!(text(&data, "FLAG_DARK-MODE"), "off");

    let mut templates = BTreeMap::new();
    let mut dsn = SecretData::new();
    dsn.insert(
        "pgpass".into(),
        v("db:5432:billing:{{ .user }}:{{ .password }}"),
    );
    dsn.insert("extra".into(), v("app_region: \"{{ .region }}\"\n"));
    templates.insert("dsn-templates".to_string(), dsn);
    let out = apply_target(&es, data, &templates, Some(&EsoTemplates)).unwrap();
    assert_eq!(out.name, "billing-db-credentials");
    assert_eq!(out.secret_type.as_deref(), Some("kubernetes.io/basic-auth"));
    assert!(out.immutable);
    assert_eq!(text(&out.data, "username"), "billing");
    assert_eq!(
        text(&out.data, "dsn"),
        "postgres://billing:pw-3@db:5432/billing"
    );
    assert_eq!(text(&out.data, "pgpass"), "db:5432:billing:billing:pw-3");
    assert_eq!(text(&out.data, "app_region"), "eu");
    assert_eq!(
        text(&out.data, "password"),
        "pw-3",
        "mergePolicy Merge keeps the fetched keys"
    );
    assert_eq!(
        out.annotations["region"], "eu",
        "templateFrom literal with target Annotations"
    );
    assert_eq!(out.labels["app"], "billing");
    assert_eq!(out.annotations["rotated-by"], "sealsync");
}

#[test]
fn replace_policy_and_no_template() {
    let text_es = "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: t\n  namespace: n\n  labels: {team: a}\n  annotations: {kubectl.kubernetes.io/last-applied-configuration: '{}', note: x}\nspec:\n  secretStoreRef: {name: s}\n  data:\n    - secretKey: pw\n      remoteRef: {key: k}\n";
    let es = ExternalSecret::parse(&yaml(text_es), "t.yaml").unwrap();
    let data = build_data(&es, &[], &[Some(v("p"))], None).unwrap();
    let out = apply_target(&es, data.clone(), &BTreeMap::new(), None).unwrap();
    assert_eq!(
        out.labels["team"], "a",
        "without a template ESO copies the ExternalSecret's labels"
    );
    assert_eq!(out.annotations.keys().collect::<Vec<_>>(), vec!["note"]);
    assert_eq!(out.secret_type, None);

    let with_tpl = format!(
        "{text_es}  target:\n    template:\n      data:\n        conn: 'pw={{{{ .pw }}}}'\n"
    );
    let es = ExternalSecret::parse(&yaml(&with_tpl), "t.yaml").unwrap();
    let out = apply_target(&es, data.clone(), &BTreeMap::new(), Some(&EsoTemplates)).unwrap();
    assert_eq!(
        out.data.keys().collect::<Vec<_>>(),
        vec!["conn"],
        "Replace keeps only rendered keys"
    );
    assert!(out.labels.is_empty());
    let e = apply_target(&es, data, &BTreeMap::new(), None).unwrap_err();
    assert!(
        matches!(e, Error::Template { .. }),
        "no renderer plugged in: {e}"
    );
}

#[test]
fn template_errors_name_the_field_and_function() {
    let text_es = "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: t, namespace: n}\nspec:\n  secretStoreRef: {name: s}\n  target:\n    template:\n      data:\n        conn: '{{ .pw | sprig_everything }}'\n  data:\n    - secretKey: pw\n      remoteRef: {key: k}\n";
    // Refused when the document is read, before anything is fetched.
    let e = ExternalSecret::parse(&yaml(text_es), "t.yaml").unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("t.yaml")
            && msg.contains("spec.target.template.data")
            && msg.contains("conn")
            && msg.contains("sprig_everything"),
        "{msg}"
    );
}

fn one_item(remote: &str) -> ExternalSecret {
    let text = format!("apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {{name: es, namespace: n}}\nspec:\n  secretStoreRef: {{name: s}}\n  data:\n    - secretKey: out\n      remoteRef: {remote}\n");
    ExternalSecret::parse(&yaml(&text), "n/es.yaml").unwrap()
}

#[test]
fn data_item_errors() {
    let es = one_item("{key: app/db, property: password}");
    let e = build_data(&es, &[], &[Some(v(r#"{"user":"u"}"#))], None).unwrap_err();
    assert!(matches!(e, Error::PropertyMissing { .. }));
    assert!(e.to_string().contains("app/db") && e.to_string().contains("password"));
    let e = build_data(&es, &[], &[None], None).unwrap_err();
    assert!(
        e.to_string().contains("not found"),
        "Retain: a missing remote secret is an error: {e}"
    );
    let big = "x".repeat(sealsync_external::limits::MAX_VALUE_BYTES + 1);
    let raw = one_item("{key: app/blob}");
    assert!(matches!(
        build_data(&raw, &[], &[Some(v(&big))], None),
        Err(Error::Limit { .. })
    ));
    let nul = one_item("{key: app/bin, nullBytePolicy: Fail}");
    assert!(build_data(&nul, &[], &[Some(SecretValue::new(vec![1, 0, 2]))], None).is_err());
    let b64 = one_item("{key: app/b, decodingStrategy: Base64}");
    let e = build_data(&b64, &[], &[Some(v("***"))], None).unwrap_err();
    assert!(!e.to_string().contains("***"), "{e}");
}

#[test]
fn deletion_policy_delete_skips_missing_remote_secrets() {
    let text = "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: es, namespace: n}\nspec:\n  secretStoreRef: {name: s}\n  target: {deletionPolicy: Delete}\n  data:\n    - {secretKey: a, remoteRef: {key: gone}}\n    - {secretKey: b, remoteRef: {key: here}}\n";
    let es = ExternalSecret::parse(&yaml(text), "es.yaml").unwrap();
    let data = build_data(&es, &[], &[None, Some(v("x"))], None).unwrap();
    assert_eq!(data.keys().collect::<Vec<_>>(), vec!["b"]);
}

#[test]
fn extract_and_find_edge_cases() {
    let text = "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: es, namespace: n}\nspec:\n  secretStoreRef: {name: s}\n  dataFrom:\n    - extract: {key: app/cfg}\n    - find: {name: {regexp: '.*'}}\n  data:\n    - {secretKey: shared, remoteRef: {key: app/override}}\n";
    let es = ExternalSecret::parse(&yaml(text), "es.yaml").unwrap();
    let e = build_data(
        &es,
        &[
            Some(Fetched::Extract(v("plain text"))),
            Some(Fetched::Find(vec![])),
        ],
        &[Some(v("o"))],
        None,
    )
    .unwrap_err();
    assert!(e.to_string().contains("JSON object"), "{e}");
    let found = vec![
        ("app/one".to_string(), v("1")),
        ("shared".to_string(), v("from find")),
    ];
    let data = build_data(
        &es,
        &[
            Some(Fetched::Extract(v(
                r#"{"shared":"from extract","n":null,"list":[1,2]}"#,
            ))),
            Some(Fetched::Find(found)),
        ],
        &[Some(v("from data"))],
        None,
    )
    .unwrap();
    assert_eq!(
        text_of(&data, "shared"),
        "from data",
        "data wins over dataFrom, later dataFrom over earlier"
    );
    assert_eq!(text_of(&data, "n"), "");
    assert_eq!(text_of(&data, "list"), "[1,2]");
    assert_eq!(
        text_of(&data, "app_one"),
        "1",
        "find keys: path separators become _"
    );
    let bad_key = vec![("über/ключ".to_string(), v("1"))];
    let e = build_data(
        &es,
        &[
            Some(Fetched::Extract(v("{}"))),
            Some(Fetched::Find(bad_key)),
        ],
        &[Some(v("o"))],
        None,
    )
    .unwrap_err();
    assert!(matches!(e, Error::InvalidKey { .. }), "{e}");
}

fn text_of(d: &SecretData, k: &str) -> String {
    text(d, k)
}

#[test]
fn too_many_keys() {
    let es = ExternalSecret::parse(&yaml("apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: es}\nspec:\n  secretStoreRef: {name: s}\n  dataFrom:\n    - extract: {key: big}\n"), "es.yaml").unwrap();
    let many: serde_json::Map<String, serde_json::Value> = (0
        ..=sealsync_external::limits::MAX_KEYS_PER_SECRET)
        .map(|i| (format!("k{i}"), "v".into()))
        .collect();
    let json = serde_json::Value::Object(many).to_string();
    assert!(matches!(
        build_data(&es, &[Some(Fetched::Extract(v(&json)))], &[], None),
        Err(Error::Limit { .. })
    ));
    assert!(pipeline::check_secret_size(&es.origin, &SecretData::new()).is_ok());
}
