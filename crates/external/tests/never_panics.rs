//! Property tests: arbitrary documents, strings and bytes never panic the parsers or the pipeline.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use sealsync_external::avp::{self, jsonpath::JsonPath, Modifier};
use sealsync_external::conditions::cluster_store_allows;
use sealsync_external::duration::parse_go_duration;
use sealsync_external::pipeline::{self, property::select_property, Fetched};
use sealsync_external::store::SecretStore;
use sealsync_external::{ExternalSecret, Origin, SecretValue};

/// Field names the parsers look for, so random documents reach deep into them.
const WORDS: &[&str] = &[
    "spec",
    "data",
    "dataFrom",
    "secretKey",
    "remoteRef",
    "key",
    "property",
    "version",
    "target",
    "name",
    "kind",
    "template",
    "templateFrom",
    "literal",
    "secret",
    "items",
    "extract",
    "find",
    "rewrite",
    "regexp",
    "source",
    "transform",
    "sourceRef",
    "storeRef",
    "secretStoreRef",
    "refreshInterval",
    "provider",
    "vault",
    "aws",
    "auth",
    "server",
    "conditions",
    "namespaces",
    "namespaceSelector",
    "matchExpressions",
    "operator",
    "values",
    "namespaceRegexes",
    "tokenSecretRef",
    "appRole",
    "kubernetes",
    "jwt",
    "service",
    "region",
    "decodingStrategy",
    "creationPolicy",
    "deletionPolicy",
    "path",
    "tags",
    "metadata",
    "labels",
    "annotations",
    "caBundle",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[ -~]{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "SecretStore",
            "ClusterSecretStore",
            "Base64",
            "Auto",
            "v1",
            "1h",
            "0",
            "<path:a#b>",
            "http://x",
            "SecretsManager",
            "In",
            "Exists",
            "(",
            ".*"
        ])
        .prop_map(|s| Value::String(s.into())),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(WORDS), inner), 0..6).prop_map(|kv| {
                Value::Object(
                    kv.into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

fn document(api: &'static str, kind: &'static str) -> impl Strategy<Value = Value> {
    (json_value(), json_value()).prop_map(move |(spec, extra)| {
        json!({"apiVersion": api, "kind": kind, "metadata": {"name": "x", "namespace": "ns"}, "spec": spec, "data": extra, "stringData": extra})
    })
}

fn origin() -> Origin {
    Origin {
        file: "f.yaml".into(),
        kind: "ExternalSecret".into(),
        namespace: None,
        name: "x".into(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn external_secrets_never_panic(doc in document("external-secrets.io/v1", "ExternalSecret"), raw in json_value()) {
        if let Ok(es) = ExternalSecret::parse(&doc, "f.yaml") {
            let data_from: Vec<Option<Fetched>> = es.data_from.iter().map(|_| Some(Fetched::Extract(SecretValue::from_text(&raw.to_string())))).collect();
            let data: Vec<Option<SecretValue>> = es.data.iter().map(|_| Some(SecretValue::from_text(&raw.to_string()))).collect();
            let _ = pipeline::build_data(&es, &data_from, &data, None);
        }
        let _ = ExternalSecret::parse(&raw, "f.yaml");
    }

    #[test]
    fn stores_never_panic(doc in document("external-secrets.io/v1", "ClusterSecretStore"), ns in "[a-z-]{0,8}") {
        if let Ok(store) = SecretStore::parse(&doc, "f.yaml") {
            let _ = cluster_store_allows(&store, &ns, &BTreeMap::new());
        }
    }

    #[test]
    fn avp_secrets_never_panic(doc in document("v1", "Secret"), value in "[ -~\n]{0,40}", fill in "[ -~]{0,16}") {
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": value}});
        for d in [doc, secret] {
            if let Ok(Some(s)) = avp::parse_secret(&d, "f.yaml") {
                let resolved = s.references().into_iter().map(|r| (r.clone(), SecretValue::from_text(&fill))).collect();
                let _ = avp::fill(&s, &resolved);
            }
        }
    }

    #[test]
    fn strings_never_panic(s in "\\PC{0,40}", bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = parse_go_duration(&s);
        let _ = JsonPath::parse(&s);
        if let Ok(m) = Modifier::parse(&s) {
            let _ = m.apply(&bytes);
        }
        let _ = select_property(&origin(), "k", &SecretValue::new(bytes.clone()), Some(&s));
        let _ = select_property(&origin(), "k", &SecretValue::from_text(&s), Some("a.b.0.#"));
        let _ = avp::parse::has_placeholder(&s, true);
    }
}
