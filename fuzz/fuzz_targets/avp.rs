//! The argocd-vault-plugin placeholder parser (`sealsync_external::avp`): arbitrary text as a Secret
//! value (in `stringData`, and base64-encoded in `data`), with and without the path annotation, and as
//! a modifier and a JSONPath template on their own — an error or a plan, never a panic.
#![no_main]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use sealsync_external::avp::jsonpath::JsonPath;
use sealsync_external::avp::{parse_secret, Modifier};
use serde_json::{json, Value};

fn secret(annotated: bool, field: &str, value: &str) -> Value {
    let mut annotations = serde_json::Map::new();
    if annotated {
        annotations.insert("avp.kubernetes.io/path".into(), "secret/data/app".into());
    }
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "app", "namespace": "team-a", "annotations": annotations},
        field: {"key": value},
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for annotated in [false, true] {
        let _ = parse_secret(&secret(annotated, "stringData", text), "fuzz.yaml");
        let _ = parse_secret(&secret(annotated, "data", &B64.encode(text)), "fuzz.yaml");
    }
    if let Ok(modifier) = Modifier::parse(text) {
        let _ = modifier.apply(br#"{"a":{"b":["c",1]}}"#);
    }
    if let Ok(path) = JsonPath::parse(text) {
        let _ = path.execute(&json!({"a": {"b": ["c", 1, {"d": true}]}, "e": "f"}));
    }
});
