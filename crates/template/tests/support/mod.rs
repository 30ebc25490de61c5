//! Helpers shared by the template tests: data from string pairs, render to a string or an error.
#![allow(dead_code)] // each test binary uses a different subset

use sealsync_template::{Data, Reason, Template, TemplateError};
use std::collections::BTreeMap;
use zeroize::Zeroizing;

pub fn data(pairs: &[(&str, &str)]) -> Data {
    let map: BTreeMap<String, Zeroizing<Vec<u8>>> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Zeroizing::new(v.as_bytes().to_vec())))
        .collect();
    Data::new(&map)
}

/// The data most tests use.
pub fn sample() -> Data {
    data(&[
        ("user", "admin"),
        ("password", "hunter2"),
        ("json", r#"{"a":"x","n":3,"l":["p","q"]}"#),
        ("empty", ""),
    ])
}

pub fn render_with(src: &str, d: &Data) -> Result<String, TemplateError> {
    let t = Template::parse("t", src)?;
    let out = t.execute(d)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Renders `src` against [`sample`], panicking on error.
pub fn render(src: &str) -> String {
    render_with(src, &sample()).unwrap_or_else(|e| panic!("{src}: {e}"))
}

/// The error `src` gives against [`sample`], panicking if it renders.
pub fn fail(src: &str) -> TemplateError {
    match render_with(src, &sample()) {
        Ok(out) => panic!("{src}: rendered {out:?}"),
        Err(e) => e,
    }
}

pub fn exec_msg(src: &str) -> String {
    match fail(src).reason {
        Reason::Exec(m) => m,
        other => panic!("{src}: not an execution error: {other:?}"),
    }
}
