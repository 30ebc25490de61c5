//! Tests of the dotenv store against the sops fixtures and hostile input.
use super::*;
use proptest::prelude::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/sops");

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).unwrap()
}

fn s(v: &str) -> Value {
    Value::Str(v.into())
}

#[test]
fn plain_and_expected_fixtures_load_and_round_trip() {
    for path in ["plain/app.env", "expected/app.env"] {
        let input = fixture(path);
        let docs = DotenvStore.load_plain(&input).unwrap();
        let want = Map(vec![
            MapItem::Entry("DB_PASSWORD".into(), s("hunter2")),
            MapItem::Entry("API_TOKEN".into(), s("tok_123=with=equals")),
            MapItem::Comment(" a comment".into()),
            MapItem::Entry("EMPTY".into(), s("")),
        ]);
        assert_eq!(docs, vec![want], "{path}");
        assert_eq!(DotenvStore.emit_plain(&docs).unwrap(), input, "{path}");
    }
}

#[test]
fn encrypted_fixture_loads_and_round_trips() {
    let input = fixture("enc/app.env");
    let docs = DotenvStore.load_encrypted(&input).unwrap();
    let doc = &docs[0];
    let keys: Vec<_> = doc.entries().map(|(k, _)| k).collect();
    assert_eq!(keys, ["DB_PASSWORD", "API_TOKEN", "EMPTY", "sops"]);
    assert!(matches!(&doc.0[2], MapItem::Comment(c) if c.starts_with("ENC[AES256_GCM,")));
    let md = doc.get("sops").and_then(Value::as_map).unwrap();
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
    assert_eq!(DotenvStore.emit_encrypted(&docs).unwrap(), input);
}

#[test]
fn metadata_is_written_sorted() {
    let mut md = Map::new();
    md.insert("version", s("3.11.0"));
    md.insert("shamir_threshold", Value::Int(2));
    let mut g = Map::new();
    let mut k = Map::new();
    k.insert("recipient", s("r"));
    k.insert("enc", s("a\nb"));
    g.insert("age", Value::Seq(vec![Value::Map(k)]));
    md.insert(
        "key_groups",
        Value::Seq(vec![Value::Map(g.clone()), Value::Map(g)]),
    );
    let mut doc = Map::new();
    doc.insert("sops", Value::Map(md));
    doc.insert("A", s("x"));
    let out = String::from_utf8(DotenvStore.emit_encrypted(&[doc]).unwrap()).unwrap();
    assert_eq!(
        out,
        "A=x\n\
         sops_key_groups__list_0__map_age__list_0__map_enc=a\\nb\n\
         sops_key_groups__list_0__map_age__list_0__map_recipient=r\n\
         sops_key_groups__list_1__map_age__list_0__map_enc=a\\nb\n\
         sops_key_groups__list_1__map_age__list_0__map_recipient=r\n\
         sops_shamir_threshold=2\n\
         sops_version=3.11.0\n"
    );
    let back = DotenvStore.load_encrypted(out.as_bytes()).unwrap();
    let md = back[0].get("sops").and_then(Value::as_map).unwrap();
    let Some(Value::Seq(groups)) = md.get("key_groups") else {
        panic!()
    };
    assert_eq!(groups.len(), 2);
    assert_eq!(md.get("shamir_threshold"), Some(&s("2")));
}

#[test]
fn sops_quirks() {
    let docs = DotenvStore
        .load_plain(b"=v\n K=v\nL=w\r\nA=x\\\\ny\nB=\xff\n\n")
        .unwrap();
    let want = Map(vec![
        MapItem::Entry("".into(), s("v")),
        MapItem::Entry(" K".into(), s("v")),
        MapItem::Entry("L".into(), s("w\r")),
        MapItem::Entry("A".into(), s("x\\\ny")),
        MapItem::Entry("B".into(), Value::Bytes(vec![0xff])),
    ]);
    assert_eq!(docs, vec![want]);
    let mut m = Map::new();
    m.insert("I", Value::Int(3));
    m.insert("F", Value::Float(3.0));
    m.insert("G", Value::Float(1e21));
    m.insert("T", Value::Bool(true));
    m.insert("N", Value::Null);
    m.insert("M", s("a\nb"));
    assert_eq!(
        DotenvStore.emit_plain(&[m]).unwrap(),
        b"I=3\nF=3.0\nG=1E+21\nT=true\nN=\nM=a\\nb\n"
    );
}

#[test]
fn bad_input_is_refused_without_quoting_values() {
    let err = DotenvStore
        .load_plain(b"A=1\n\nsecret-value\n")
        .unwrap_err();
    match &err {
        FormatError::Syntax { line, .. } => assert_eq!(*line, 3),
        other => panic!("{other:?}"),
    }
    assert!(!err.to_string().contains("secret"), "{err}");
    let err = DotenvStore.load_plain(b"#secret\xff\n").unwrap_err();
    assert!(
        matches!(err, FormatError::Syntax { line: 1, .. }),
        "{err:?}"
    );
    let err = DotenvStore
        .load_encrypted(b"sops_a=secret-1\nsops_a__map_b=secret-2\n")
        .unwrap_err();
    assert!(matches!(err, FormatError::Invalid(_)), "{err:?}");
    assert!(!err.to_string().contains("secret"), "{err}");
    let err = DotenvStore
        .load_encrypted(b"sops=secret\nsops_version=x\n")
        .unwrap_err();
    assert!(matches!(err, FormatError::Invalid(_)), "{err:?}");
    assert!(!err.to_string().contains("secret"), "{err}");

    let mut m = Map::new();
    m.insert("nested", Value::Map(Map::new()));
    let err = DotenvStore.emit_plain(&[m]).unwrap_err();
    assert!(matches!(err, FormatError::Invalid(_)), "{err:?}");
    let mut m = Map::new();
    m.insert("list", Value::Seq(vec![s("secret")]));
    let err = DotenvStore.emit_plain(&[m]).unwrap_err();
    assert!(!err.to_string().contains("secret"), "{err}");
    let mut m = Map::new();
    m.insert("a=b", s("secret"));
    assert!(DotenvStore.emit_plain(&[m]).is_err());
    assert!(DotenvStore.emit_value(&Value::Int(1)).is_err());
    assert_eq!(DotenvStore.emit_value(&s("v")).unwrap(), b"v");
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = DotenvStore.load_plain(&input);
        let _ = DotenvStore.load_encrypted(&input);
    }

    #[test]
    fn metadata_like_input_never_panics(input in "(sops_[a-z_0-9]{0,20}=[a-z\\\\]{0,4}\n){0,6}") {
        let _ = DotenvStore.load_encrypted(input.as_bytes());
    }

    #[test]
    fn plain_round_trip(entries in prop::collection::vec(("[A-Z_][A-Z0-9_]{0,8}", "[^\\\\]{0,16}"), 0..6)) {
        let mut m = Map::new();
        for (k, v) in entries {
            m.0.push(MapItem::Entry(k, Value::Str(v)));
        }
        let out = DotenvStore.emit_plain(&[m.clone()]).unwrap();
        prop_assert_eq!(DotenvStore.load_plain(&out).unwrap(), vec![m]);
    }
}
