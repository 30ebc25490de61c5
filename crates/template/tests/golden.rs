//! Compares rendering with Go's text/template on testdata/cases.json: the expectations in
//! testdata/golden.json were produced by testdata/go (see testdata/README.md); Go is not needed here.

use base64::Engine as _;
use sealsync_template::{Data, Template};
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// `SEALSYNC_TEMPLATE_GOLDEN_DIR` points at another cases.json/golden.json pair (e.g. generated
/// cases rendered by testdata/go), to compare more cases without committing them.
fn load(path: &str) -> serde_json::Value {
    let dir = std::env::var("SEALSYNC_TEMPLATE_GOLDEN_DIR")
        .unwrap_or_else(|_| format!("{}/testdata", env!("CARGO_MANIFEST_DIR")));
    let full = format!("{dir}/{path}");
    serde_json::from_str(&std::fs::read_to_string(full).expect("read")).expect("json")
}

fn strings(v: &serde_json::Value) -> BTreeMap<String, Zeroizing<Vec<u8>>> {
    let obj = v.as_object().cloned().unwrap_or_default();
    obj.into_iter()
        .map(|(k, v)| {
            (
                k,
                Zeroizing::new(v.as_str().expect("string").as_bytes().to_vec()),
            )
        })
        .collect()
}

#[test]
fn renders_as_go_text_template() {
    let cases = load("cases.json");
    let golden = load("golden.json");
    let base = strings(&cases["data"]);
    let expected = golden.as_array().expect("array");
    let list = cases["cases"].as_array().expect("cases");
    assert_eq!(list.len(), expected.len(), "regenerate golden.json");
    let mut failures = Vec::new();
    for (case, want) in list.iter().zip(expected) {
        let name = case["name"].as_str().expect("name");
        assert_eq!(want["name"], case["name"]);
        let mut values = base.clone();
        values.extend(strings(&case["data"]));
        let got = Template::parse(name, case["template"].as_str().expect("template"))
            .and_then(|t| t.execute(&Data::new(&values)));
        let want_bytes = match (&want["output"], &want["output_b64"]) {
            (serde_json::Value::String(s), _) => Some(s.as_bytes().to_vec()),
            (_, serde_json::Value::String(b)) => Some(
                base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .expect("b64"),
            ),
            _ => None,
        };
        match (got, want_bytes) {
            (Ok(g), Some(w)) if g[..] == w[..] => {}
            (Err(_), None) => {}
            (got, w) => failures.push(format!(
                "{name}:\n  got:  {:?}\n  want: {:?}",
                got.map(|g| String::from_utf8_lossy(&g).into_owned()),
                w.map(|w| String::from_utf8_lossy(&w).into_owned())
                    .ok_or(&want["error"]),
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        list.len(),
        failures.join("\n")
    );
}
