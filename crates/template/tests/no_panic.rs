//! Property: no input makes parsing or execution panic, and every output stays within its bound.

mod support;

use proptest::prelude::*;
use sealsync_template::{Limits, Template};
use support::data;

/// Fragments that make random sources likely to parse and reach the evaluator and functions.
const PIECES: &[&str] = &[
    "{{",
    "}}",
    "{{- ",
    " -}}",
    "{{/*",
    "*/}}",
    " ",
    "\n",
    "x",
    ".",
    ".user",
    ".json",
    "$",
    "$x",
    ":=",
    "=",
    "|",
    "(",
    ")",
    "if",
    "else",
    "end",
    "range",
    "with",
    "break",
    "continue",
    "\"s\"",
    "`r`",
    "'c'",
    "1",
    "-2",
    "1.5",
    "nil",
    "true",
    "and",
    "or",
    "not",
    "eq",
    "lt",
    "len",
    "index",
    "printf",
    "\"%v%d%s%q%5.2f\"",
    "print",
    "println",
    "b64enc",
    "b64dec",
    "toJson",
    "fromJson",
    "toPrettyJson",
    "toYaml",
    "fromYaml",
    "default",
    "quote",
    "squote",
    "trim",
    "trimPrefix",
    "upper",
    "replace",
    "indent",
    "nindent",
    "split",
    "splitList",
    "join",
    "regexReplaceAll",
    "\"a*\"",
    "dict",
    "get",
    "hasKey",
    "sha256sum",
    "list",
    ",",
];

fn source() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(prop::sample::select(PIECES), 0..40).prop_map(|p| p.join(" ")),
        prop::collection::vec(prop::sample::select(PIECES), 0..40).prop_map(|p| p.concat()),
    ]
}

proptest! {
    // PROPTEST_CASES raises the count for a longer run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(2000),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_templates_never_panic(src in source(), value in any::<String>()) {
        let d = data(&[("user", &value), ("json", r#"{"a":[1,{"b":"c"}],"n":null}"#)]);
        let limits = Limits { max_output: 4096, max_steps: 2000, ..Limits::DEFAULT };
        if let Ok(t) = Template::parse_with_limits("p", &src, limits) {
            if let Ok(out) = t.execute(&d) {
                prop_assert!(out.len() <= 4096);
            }
        }
    }

    #[test]
    fn functions_never_panic_on_any_string(f in prop::sample::select(PIECES), a in any::<String>(), b in any::<String>()) {
        let d = data(&[("a", &a), ("b", &b)]);
        for src in [format!("{{{{ {f} .a }}}}"), format!("{{{{ {f} .a .b }}}}"), format!("{{{{ .a | {f} .b }}}}"), format!("{{{{ {f} 3 .a }}}}")] {
            if let Ok(t) = Template::parse("f", &src) {
                let _ = t.execute(&d);
            }
        }
    }
}

/// Found by the `template` fuzz target: `toYaml` of a map whose keys go-yaml's key order does not
/// order consistently panicked the sort ("comparison function does not correctly implement a total
/// order").
#[test]
fn to_yaml_of_keys_without_a_total_order_does_not_panic() {
    let source = "{{ dict \"a\" \"yes\" \"b\" \"123\" \"cv\0\0\0ello: world\" \"d\" \"\" \"e\" \"- x\" \"f\" \"x#y\" \"g\" \"2024-00-01\" \"h\" \"x #y\" \"i\" \" lead\" \"j\" \"thb\\there\" \"k\" \"06:30\" \"l\" \"~\" \"m\" \"true\" \"n\" \"0x1F\" \"o\" \"1_000\" \"p\" \"ps\" \"b\" \"123\" \"cv\0\0\0ello:lain text\" \"q\" \"itat\" \"s\" \"trail$\u{8}\0\0\0\0\0\0\0.5\" \"u\" \"null\" \"\" \".5\" \"w\" \"-\" | toYaml }}";
    let out = Template::parse("t", source)
        .expect("parses")
        .execute(&data(&[]))
        .expect("renders");
    assert!(!out.is_empty());
}
