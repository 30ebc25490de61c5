//! argocd-vault-plugin Secrets: which count, their plan, filling, and the bad ones.

mod common;

use std::collections::BTreeMap;

use base64::Engine;
use common::{doc, yaml};
use sealsync_external::avp::{
    self, parse::has_placeholder, AvpSecret, Encoding, Modifier, Part, RemoteRef,
};
use sealsync_external::{Error, SecretValue};

fn secret(name: &str) -> AvpSecret {
    avp::parse_secret(&doc("avp-secrets.yaml", name), "apps/shop/secrets.yaml")
        .unwrap()
        .unwrap()
}

fn r(path: &str, key: &str, version: Option<&str>) -> RemoteRef {
    RemoteRef {
        path: path.into(),
        key: key.into(),
        version: version.map(Into::into),
    }
}

fn values(pairs: &[(RemoteRef, &str)]) -> BTreeMap<RemoteRef, SecretValue> {
    pairs
        .iter()
        .map(|(r, v)| (r.clone(), SecretValue::from_text(v)))
        .collect()
}

fn text(data: &sealsync_external::SecretData, key: &str) -> String {
    String::from_utf8(data[key].expose().to_vec()).unwrap()
}

#[test]
fn inline_placeholders_are_planned() {
    let s = secret("app-config");
    assert_eq!(s.store.as_deref(), Some("team-vault"));
    assert_eq!(s.secret_type.as_deref(), Some("Opaque"));
    let refs: Vec<&RemoteRef> = s.references().into_iter().collect();
    assert_eq!(
        refs,
        vec![
            &r("secret/data/shop/api", "token", None),
            &r("secret/data/shop/db", "password", None),
            &r("secret/data/shop/db", "password", Some("2")),
            &r("secret/data/shop/db", "user", None),
            &r("secret/data/shop/tls", "bundle", None),
        ]
    );
    let url = s.entries.iter().find(|e| e.key == "url").unwrap();
    assert_eq!(
        url.parts.len(),
        5,
        "text, placeholder, text, placeholder, text: {:?}",
        url.parts
    );
    assert!(matches!(&url.parts[0], Part::Text(t) if t == "postgres://"));
    let cert = s
        .placeholders()
        .find(|(loc, _)| loc == "stringData.cert")
        .unwrap()
        .1;
    assert_eq!(cert.modifiers.len(), 2);
    assert_eq!(cert.modifiers[1], Modifier::Indent(2));
    let wrapped = s.entries.iter().find(|e| e.key == "wrapped").unwrap();
    assert_eq!(wrapped.encoding, Encoding::Base64Wrapped);
    let token = s.entries.iter().find(|e| e.key == "token").unwrap();
    assert_eq!(token.encoding, Encoding::Base64);
    let plain = s.entries.iter().find(|e| e.key == "plain").unwrap();
    assert_eq!(
        plain.parts,
        vec![Part::Text("not a <placeholder> at all".into())],
        "without the path annotation, <x> is text"
    );
}

#[test]
fn inline_placeholders_are_filled_as_avp_does() {
    let s = secret("app-config");
    let resolved = values(&[
        (r("secret/data/shop/db", "password", None), "s3cret"),
        (r("secret/data/shop/db", "password", Some("2")), "older"),
        (r("secret/data/shop/db", "user", None), "shop"),
        (
            r("secret/data/shop/tls", "bundle", None),
            r#"{"cert":"-----BEGIN-----\nAAA\n-----END-----"}"#,
        ),
        (r("secret/data/shop/api", "token", None), "tok-123"),
    ]);
    let data = avp::fill(&s, &resolved).unwrap();
    assert_eq!(text(&data, "password"), "s3cret");
    assert_eq!(text(&data, "url"), "postgres://shop:s3cret@db:5432/shop");
    assert_eq!(text(&data, "pinned"), "older");
    assert_eq!(text(&data, "user-b64"), "c2hvcA==");
    assert_eq!(
        text(&data, "cert"),
        "-----BEGIN-----\n  AAA\n  -----END-----\n",
        "indent keeps the text after the placeholder"
    );
    assert_eq!(text(&data, "digest"), hex_sha("s3cret"));
    assert_eq!(
        text(&data, "token"),
        "tok-123",
        "data: | base64encode, then decoded by the API server"
    );
    assert_eq!(
        text(&data, "wrapped"),
        "tok-123",
        "data whose base64 held a placeholder: decoded, filled"
    );
    assert_eq!(text(&data, "literal"), "hello");
    assert_eq!(text(&data, "plain"), "not a <placeholder> at all");
}

fn hex_sha(v: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(v.as_bytes()))
}

#[test]
fn generic_placeholders_read_the_annotated_path() {
    let s = secret("generic");
    assert_eq!(s.kv_version, Some(2));
    assert!(s.remove_missing);
    let refs: Vec<&RemoteRef> = s.references().into_iter().collect();
    assert!(
        refs.contains(&&r("secret/data/shop/db", "user", Some("4"))),
        "secret-version applies: {refs:?}"
    );
    assert!(
        refs.contains(&&r("secret/data/shop/other", "host", None)),
        "inline form still works: {refs:?}"
    );
    let resolved = values(&[
        (r("secret/data/shop/db", "user", Some("4")), "shop"),
        (r("secret/data/shop/db", "password", Some("4")), "pw"),
        (r("secret/data/shop/other", "host", None), "db.internal"),
    ]);
    let data = avp::fill(&s, &resolved).unwrap();
    assert_eq!(text(&data, "username"), "shop");
    assert_eq!(text(&data, "mixed"), "shop@db.internal");
    assert!(
        !data.contains_key("optional"),
        "remove-missing drops a key whose remote key is missing"
    );
}

#[test]
fn which_secrets_count() {
    let parse = |name| avp::parse_secret(&doc("avp-secrets.yaml", name), "f.yaml").unwrap();
    assert!(
        parse("html").is_none(),
        "angle brackets alone do not make an AVP Secret"
    );
    assert!(parse("ignored").is_none(), "avp.kubernetes.io/ignore");
    let sops = yaml("apiVersion: v1\nkind: Secret\nmetadata: {name: x}\nstringData: {a: '<path:a#b>'}\nsops: {version: 3.9.0}\n");
    assert!(
        avp::parse_secret(&sops, "f.yaml").unwrap().is_none(),
        "SOPS documents are not AVP Secrets"
    );
    let cm =
        yaml("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: '<path:a#b>'}\n");
    assert!(avp::parse_secret(&cm, "f.yaml").unwrap().is_none());
    assert!(has_placeholder("x <path:a/b#c> y", false));
    assert!(!has_placeholder("<b>bold</b>", false));
    assert!(has_placeholder("<b>", true));
}

#[test]
fn missing_remote_key_names_path_and_key_not_value() {
    let s = secret("app-config");
    let resolved = values(&[(r("secret/data/shop/db", "password", None), "s3cret")]);
    let e = avp::fill(&s, &resolved).unwrap_err();
    assert!(matches!(e, Error::MissingValue { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("apps/shop/secrets.yaml") && msg.contains("shop/app-config"),
        "{msg}"
    );
    assert!(msg.contains("secret/data/shop/"), "{msg}");
    assert!(!msg.contains("s3cret"), "{msg}");
}

#[test]
fn malformed_placeholders_and_modifiers() {
    let parse = |name| avp::parse_secret(&doc("avp-bad.yaml", name), "bad.yaml");
    match parse("malformed").unwrap_err() {
        Error::Placeholder {
            location, reason, ..
        } => {
            assert_eq!(location, "stringData.password");
            assert!(reason.contains("malformed"), "{reason}");
        }
        other => panic!("{other}"),
    }
    let e = parse("bad-modifier").unwrap_err();
    assert!(e.to_string().contains("toUpper"), "{e}");
    let labelled = parse("label-placeholder").unwrap().unwrap();
    assert_eq!(labelled.unsupported[0].path, "metadata.labels.version");
}

#[test]
fn data_value_that_is_not_base64_after_filling() {
    let s = avp::parse_secret(&yaml("apiVersion: v1\nkind: Secret\nmetadata: {name: x, namespace: n}\ndata:\n  pw: <path:kv/app#pw>\n"), "f.yaml").unwrap().unwrap();
    let e = avp::fill(&s, &values(&[(r("kv/app", "pw", None), "not base64!")])).unwrap_err();
    assert!(e.to_string().contains("base64encode"), "{e}");
    let ok = avp::fill(&s, &values(&[(r("kv/app", "pw", None), "aGk=")])).unwrap();
    assert_eq!(text(&ok, "pw"), "hi");
}

#[test]
fn modifier_failure_is_a_placeholder_error() {
    let s = avp::parse_secret(&yaml("apiVersion: v1\nkind: Secret\nmetadata: {name: x}\nstringData:\n  pw: '<path:kv/app#cfg | jsonPath {.db.pw}>'\n"), "f.yaml").unwrap().unwrap();
    let e = avp::fill(&s, &values(&[(r("kv/app", "cfg", None), r#"{"db":{}}"#)])).unwrap_err();
    assert!(
        matches!(&e, Error::Placeholder { reason, .. } if reason.contains("jsonPath")),
        "{e}"
    );
    let ok = avp::fill(
        &s,
        &values(&[(r("kv/app", "cfg", None), r#"{"db":{"pw":"x"}}"#)]),
    )
    .unwrap();
    assert_eq!(text(&ok, "pw"), "x");
}

#[test]
fn oversize_values_are_refused() {
    let s = avp::parse_secret(&yaml("apiVersion: v1\nkind: Secret\nmetadata: {name: x}\nstringData:\n  pw: 'a<path:kv/app#pw>'\n"), "f.yaml").unwrap().unwrap();
    let big = "x".repeat(sealsync_external::limits::MAX_VALUE_BYTES);
    assert!(matches!(
        avp::fill(&s, &values(&[(r("kv/app", "pw", None), &big)])),
        Err(Error::Limit { .. })
    ));
    let b64 = base64::engine::general_purpose::STANDARD.encode("plain");
    let lit = avp::parse_secret(&yaml(&format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: x}}\ndata: {{a: {b64}}}\nstringData: {{b: '<path:kv/app#pw>'}}\n")), "f.yaml").unwrap().unwrap();
    assert_eq!(
        text(
            &avp::fill(&lit, &values(&[(r("kv/app", "pw", None), "v")])).unwrap(),
            "a"
        ),
        "plain"
    );
}

#[test]
fn whole_remote_secrets_resolve_placeholders() {
    use sealsync_external::avp::{resolve, RemoteSecretId};
    let s = secret("app-config");
    let ids: Vec<RemoteSecretId> = s.secrets_to_fetch().into_iter().collect();
    assert_eq!(ids.len(), 4, "db (latest), db (v2), api, tls: {ids:?}");
    let id = |p: &str, v: Option<&str>| RemoteSecretId {
        path: p.into(),
        version: v.map(Into::into),
    };
    let mut fetched = BTreeMap::new();
    fetched.insert(
        id("secret/data/shop/db", None),
        SecretValue::from_text(r#"{"password":"s3cret","user":"shop","port":5432}"#),
    );
    fetched.insert(
        id("secret/data/shop/db", Some("2")),
        SecretValue::from_text(r#"{"password":"older"}"#),
    );
    fetched.insert(
        id("secret/data/shop/api", None),
        SecretValue::from_text(r#"{"token":"tok"}"#),
    );
    fetched.insert(
        id("secret/data/shop/tls", None),
        SecretValue::from_text(r#"{"bundle":{"cert":"C"}}"#),
    );
    let resolved = resolve(&s, &fetched).unwrap();
    assert_eq!(
        resolved[&r("secret/data/shop/tls", "bundle", None)].expose(),
        br#"{"cert":"C"}"#
    );
    let data = avp::fill(&s, &resolved).unwrap();
    assert_eq!(text(&data, "url"), "postgres://shop:s3cret@db:5432/shop");
    assert_eq!(text(&data, "cert"), "C\n");
    fetched.remove(&id("secret/data/shop/api", None));
    let e = avp::fill(&s, &resolve(&s, &fetched).unwrap()).unwrap_err();
    assert!(
        matches!(e, Error::MissingValue { .. }),
        "a secret not found leaves its keys missing: {e}"
    );
    fetched.insert(
        id("secret/data/shop/api", None),
        SecretValue::from_text("plain"),
    );
    assert!(matches!(resolve(&s, &fetched), Err(Error::Remote { .. })));
}
