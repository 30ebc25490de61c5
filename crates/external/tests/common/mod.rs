//! Fixture loading shared by the integration tests: YAML (one or more documents) → `serde_json::Value`.
#![allow(dead_code)]

use serde::Deserialize;
use serde_json::Value;

/// Every document of `tests/fixtures/NAME`.
pub fn docs(name: &str) -> Vec<Value> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    yaml_docs(&text)
}

pub fn yaml_docs(text: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).expect("fixture is YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

pub fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).expect("test YAML")
}

/// The document of `NAME` whose metadata.name is `object`.
pub fn doc(name: &str, object: &str) -> Value {
    docs(name)
        .into_iter()
        .find(|d| d["metadata"]["name"] == object)
        .unwrap_or_else(|| panic!("{name} has no {object}"))
}
