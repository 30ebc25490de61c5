//! Tests of the json store against the sops fixtures and hostile input.
use super::*;
use proptest::prelude::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/sops");

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).unwrap()
}

fn s(v: &str) -> Value {
    Value::Str(v.into())
}

fn app_tree() -> Map {
    let mut db = Map::new();
    db.insert("host", s("db.internal"));
    db.insert("port", Value::Float(5432.0));
    db.insert("password", s("s3cr3t!"));
    let mut m = Map::new();
    m.insert("database", Value::Map(db));
    m.insert("features", Value::Seq(vec![s("a"), s("b")]));
    m.insert("retries", Value::Float(5.0));
    m.insert("debug", Value::Bool(false));
    m
}

#[test]
fn plain_and_expected_fixtures_load() {
    for path in ["plain/app.json", "expected/app.json"] {
        let docs = JsonStore.load_plain(&fixture(path)).unwrap();
        assert_eq!(docs, vec![app_tree()], "{path}");
    }
}

#[test]
fn expected_fixture_round_trips_byte_for_byte() {
    let input = fixture("expected/app.json");
    let docs = JsonStore.load_plain(&input).unwrap();
    assert_eq!(JsonStore.emit_plain(&docs).unwrap(), input);
    // The plain input is written the way sops writes it.
    let docs = JsonStore.load_plain(&fixture("plain/app.json")).unwrap();
    assert_eq!(JsonStore.emit_plain(&docs).unwrap(), input);
}

#[test]
fn encrypted_fixture_loads_and_round_trips() {
    let input = fixture("enc/app.json");
    let docs = JsonStore.load_encrypted(&input).unwrap();
    let md = docs[0].get("sops").and_then(Value::as_map).unwrap();
    let Some(Value::Seq(age)) = md.get("age") else {
        panic!()
    };
    let key = age[0].as_map().unwrap();
    assert_eq!(
        key.get("recipient"),
        Some(&s(
            "age16ghs0xxhqu2rxrjhnmql5t2pcrc4xlfp9sp643fthhzsygvxnafqxrvr3p"
        ))
    );
    let enc = key.get("enc").and_then(Value::as_str).unwrap();
    assert!(enc.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"));
    assert!(enc.ends_with("\n-----END AGE ENCRYPTED FILE-----\n"));
    assert_eq!(md.get("lastmodified"), Some(&s("2026-11-22T03:46:26Z")));
    assert!(md
        .get("mac")
        .and_then(Value::as_str)
        .unwrap()
        .starts_with("ENC[AES256_GCM,"));
    assert_eq!(md.get("unencrypted_suffix"), Some(&s("_unencrypted")));
    assert_eq!(md.get("version"), Some(&s("3.11.0")));
    assert_eq!(JsonStore.emit_encrypted(&docs).unwrap(), input);
}

#[test]
fn go_compatible_details() {
    // Duplicate keys are kept, as sops keeps them.
    let docs = JsonStore.load_plain(br#"{"a":1,"a":2}"#).unwrap();
    assert_eq!(docs[0].0.len(), 2);
    assert_eq!(
        JsonStore.emit_plain(&docs).unwrap(),
        b"{\n\t\"a\": 1,\n\t\"a\": 2\n}\n"
    );
    // Escaping as Go's json.Marshal; floats as Go writes them.
    let docs = JsonStore
        .load_plain("{\"h\":\"<>&\\u2028\\u0001\\b\\f\\t\u{7f} é\",\"e\":{},\"l\":[],\"z\":-0,\"b\":1e21,\"s\":1e-7,\"x\":123456789.5}".as_bytes())
        .unwrap();
    let out = String::from_utf8(JsonStore.emit_plain(&docs).unwrap()).unwrap();
    assert_eq!(
        out,
        "{\n\t\"h\": \"\\u003c\\u003e\\u0026\\u2028\\u0001\\b\\f\\t\u{7f} é\",\n\t\"e\": {},\n\t\"l\": [],\n\t\"z\": -0,\n\t\"b\": 1e+21,\n\t\"s\": 1e-7,\n\t\"x\": 123456789.5\n}\n"
    );
    // Lone surrogates and invalid UTF-8 become U+FFFD.
    let docs = JsonStore.load_plain(b"{\"a\":\"\\ud800x\xff\"}").unwrap();
    assert_eq!(docs[0].get("a"), Some(&s("\u{FFFD}x\u{FFFD}")));
    let docs = JsonStore.load_plain(br#"{"a":"\ud83d\ude00"}"#).unwrap();
    assert_eq!(docs[0].get("a"), Some(&s("😀")));
}

#[test]
fn emit_value_like_sops_extract() {
    assert_eq!(JsonStore.emit_value(&s("raw\n")).unwrap(), b"raw\n");
    assert_eq!(JsonStore.emit_value(&Value::Float(5.0)).unwrap(), b"5");
    assert_eq!(
        JsonStore.emit_value(&Value::Seq(vec![s("a")])).unwrap(),
        b"[\n\t\"a\"\n]"
    );
    let mut m = Map::new();
    m.insert("k", Value::Bool(true));
    assert_eq!(
        JsonStore.emit_value(&Value::Map(m)).unwrap(),
        b"{\n\t\"k\": true\n}\n"
    );
}

#[test]
fn emit_refuses_what_json_cannot_hold() {
    let mut m = Map::new();
    m.insert("f", Value::Float(f64::NAN));
    assert!(matches!(
        JsonStore.emit_plain(&[m]),
        Err(FormatError::Invalid(_))
    ));
    assert!(matches!(
        JsonStore.emit_plain(&[]),
        Err(FormatError::Invalid(_))
    ));
    // Comments are dropped, bytes written lossily.
    let mut m = Map::new();
    m.0.push(MapItem::Comment("c".into()));
    m.insert("b", Value::Bytes(vec![b'a', 0xff]));
    m.insert(
        "l",
        Value::Seq(vec![Value::Comment("c".into()), Value::Int(3)]),
    );
    assert_eq!(
        String::from_utf8(JsonStore.emit_plain(&[m]).unwrap()).unwrap(),
        "{\n\t\"b\": \"a\u{FFFD}\",\n\t\"l\": [\n\t\t3\n\t]\n}\n"
    );
}

#[test]
fn bad_input_is_refused_without_quoting_values() {
    let cases: &[(&[u8], &str)] = &[
        (b"[\"secret-1\"]", "syntax"),
        (b"\"secret-1\"", "syntax"),
        (b"", "syntax"),
        (b"{\"a\": \"secret-1\"", "syntax"),
        (b"{\"a\": \"secret-1\"} \"secret-2\"", "syntax"),
        (b"{\"a\": secret}", "syntax"),
        (b"{\"a\": \"secret-1\\q\"}", "syntax"),
        (b"{\"a\": \"secret\x01\"}", "syntax"),
        (b"{\"a\": 1e400}", "syntax"),
        (b"{\"a\": 01}", "syntax"),
        (b"{\"a\": [1,]}", "syntax"),
        (b"{secret: 1}", "syntax"),
    ];
    for (input, kind) in cases {
        let err = JsonStore.load_plain(input).unwrap_err();
        assert!(matches!(err, FormatError::Syntax { .. }), "{kind}: {err:?}");
        assert!(!err.to_string().contains("secret"), "{err}");
    }
    let deep = format!("{}1{}", "{\"a\":".repeat(200), "}".repeat(200));
    assert!(matches!(
        JsonStore.load_plain(deep.as_bytes()),
        Err(FormatError::Limit(_))
    ));
    let deep = format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(matches!(
        JsonStore.load_plain(deep.as_bytes()),
        Err(FormatError::Limit(_))
    ));
    let ok = format!(
        "{}1{}",
        "{\"a\":".repeat(limits::MAX_DEPTH - 1),
        "}".repeat(limits::MAX_DEPTH - 1)
    );
    assert!(JsonStore.load_plain(ok.as_bytes()).is_ok());
    let err = JsonStore
        .load_encrypted(br#"{"sops":{"version":"secret"},"sops":{}}"#)
        .unwrap_err();
    assert!(!err.to_string().contains("secret"), "{err}");
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = JsonStore.load_plain(&input);
        let _ = JsonStore.load_encrypted(&input);
    }

    #[test]
    fn json_ish_input_never_panics(input in "[{}\\[\\]\":,a-z0-9 .eE+\\\\u-]{0,64}") {
        let _ = JsonStore.load_plain(input.as_bytes());
    }

    #[test]
    fn floats_round_trip(f in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
        let mut m = Map::new();
        m.insert("f", Value::Float(f));
        let out = JsonStore.emit_plain(&[m.clone()]).unwrap();
        prop_assert_eq!(JsonStore.load_plain(&out).unwrap(), vec![m]);
    }

    #[test]
    fn strings_round_trip(v in any::<String>(), k in any::<String>()) {
        let mut m = Map::new();
        m.insert(k, Value::Str(v));
        let out = JsonStore.emit_plain(&[m.clone()]).unwrap();
        prop_assert_eq!(JsonStore.load_plain(&out).unwrap(), vec![m]);
    }
}
