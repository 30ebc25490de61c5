//! Template syntax and control flow: literals, trim markers, comments, pipelines, variables and
//! their scopes, if/else if/with/range, and the parse errors Go gives.

mod support;

use sealsync_template::{Reason, Template};
use support::{exec_msg, fail, render};

#[test]
fn text_and_fields() {
    assert_eq!(render("plain"), "plain");
    assert_eq!(render("u={{ .user }}"), "u=admin");
    assert_eq!(render("{{ $.user }}"), "admin");
    assert_eq!(render("{{ (fromJson .json).a }}"), "x");
    assert_eq!(render("{{ $j := fromJson .json }}{{ $j.a }}"), "x");
}

#[test]
fn trim_markers_and_comments() {
    assert_eq!(render("a \n {{- .user -}} \n b"), "aadminb");
    assert_eq!(render("a {{/* c */}} b"), "a  b");
    assert_eq!(render("a \n{{- /* c */ -}}\n b"), "ab");
    // "{{-3}}" is the number -3, not a trim marker.
    assert_eq!(render("a {{-3}}"), "a -3");
    assert!(matches!(fail("{{ /* c */ }}").reason, Reason::Syntax(_)));
    assert!(matches!(fail("{{/* unclosed }}").reason, Reason::Syntax(_)));
}

#[test]
fn literals() {
    assert_eq!(render(r#"{{ "a\tb\x41\u00e9\101" }}"#), "a\tbAéA");
    assert_eq!(render("{{ `raw\\n` }}"), "raw\\n");
    assert_eq!(render("{{ 'a' }} {{ '\\n' }} {{ 'é' }}"), "97 10 233");
    assert_eq!(
        render("{{ 1 }} {{ 1.5 }} {{ 1e3 }} {{ 0x1F }} {{ 0o17 }} {{ 0b11 }} {{ 1_000 }}"),
        "1 1.5 1000 31 15 3 1000"
    );
    assert_eq!(render("{{ true }} {{ false }}"), "true false");
    assert!(matches!(fail("{{ nil }}").reason, Reason::Syntax(_)));
    assert!(matches!(
        fail(r#"{{ "unterminated }}"#).reason,
        Reason::Syntax(_)
    ));
    assert!(matches!(fail("{{ 12abc }}").reason, Reason::Syntax(_)));
}

#[test]
fn pipelines_pass_the_value_last() {
    assert_eq!(render(r#"{{ .user | printf "%s-%s" "x" }}"#), "x-admin");
    assert_eq!(render(r#"{{ "a" | printf "%s%s%s" "b" "c" }}"#), "bca");
    assert_eq!(render("{{ (.user | upper) | lower }}"), "admin");
    assert_eq!(render("{{ .user | upper | printf \"[%s]\" }}"), "[ADMIN]");
    assert_eq!(
        exec_msg("{{ .user .password }}"),
        "user is not a method but has arguments"
    );
    assert_eq!(
        exec_msg("{{ \"a\" | \"b\" }}"),
        "can't give argument to non-function"
    );
}

#[test]
fn variables_and_scopes() {
    assert_eq!(render("{{ $x := 1 }}{{ $x = 2 }}{{ $x }}"), "2");
    assert_eq!(
        render("{{ $x := 0 }}{{ range (list 1 2 3) }}{{ $x = . }}{{ end }}{{ $x }}"),
        "3"
    );
    assert_eq!(
        render("{{ if $x := .user }}{{ $x }}{{ else }}{{ $x }}{{ end }}"),
        "admin"
    );
    // A variable lives to the end of its control structure.
    let e = fail("{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}");
    assert_eq!(e.reason, Reason::Syntax("undefined variable \"$y\"".into()));
    assert!(matches!(fail("{{ $z = 1 }}").reason, Reason::Syntax(_)));
    // Inside range, `$` is still the root data.
    assert_eq!(render("{{ range (list 1) }}{{ $.user }}{{ end }}"), "admin");
}

#[test]
fn if_else_chains() {
    let t = r#"{{ if eq .user "a" }}A{{ else if eq .user "admin" }}B{{ else }}C{{ end }}"#;
    assert_eq!(render(t), "B");
    assert_eq!(render("{{ if .empty }}y{{ else }}n{{ end }}"), "n");
    assert_eq!(
        render("{{ if (list) }}y{{ else }}n{{ end }}{{ if (dict \"a\" 1) }}y{{ end }}"),
        "ny"
    );
    assert_eq!(
        render("{{ if 0 }}y{{ else if 0.0 }}y{{ else if false }}y{{ else }}n{{ end }}"),
        "n"
    );
}

#[test]
fn with_and_else_with() {
    assert_eq!(render("{{ with .user }}{{ . }}{{ end }}"), "admin");
    assert_eq!(render("{{ with .empty }}x{{ else }}none{{ end }}"), "none");
    assert_eq!(
        render("{{ with .empty }}x{{ else with .user }}{{ . }}{{ end }}"),
        "admin"
    );
}

#[test]
fn range_forms() {
    assert_eq!(
        render("{{ range $i, $v := (list \"a\" \"b\") }}{{ $i }}{{ $v }}{{ end }}"),
        "0a1b"
    );
    assert_eq!(
        render("{{ range $k, $v := (dict \"b\" 2 \"a\" 1) }}{{ $k }}{{ $v }}{{ end }}"),
        "a1b2"
    );
    assert_eq!(
        render("{{ range (list) }}x{{ else }}empty{{ end }}"),
        "empty"
    );
    assert_eq!(render("{{ range 3 }}{{ . }}{{ end }}"), "012");
    let t = "{{ range (list 1 2 3 4) }}{{ if eq . 2 }}{{ continue }}{{ end }}{{ if eq . 4 }}{{ break }}{{ end }}{{ . }}{{ end }}";
    assert_eq!(render(t), "13");
    assert!(matches!(fail("{{ break }}").reason, Reason::Syntax(_)));
    assert_eq!(
        exec_msg("{{ range .user }}{{ end }}"),
        "range can't iterate over string"
    );
    // Variables declared in the body do not outlive an iteration.
    assert_eq!(
        render("{{ range (list 1 2) }}{{ $v := . }}{{ $v }}{{ end }}"),
        "12"
    );
}

#[test]
fn unsupported_constructs_are_refused() {
    for src in [
        "{{ define \"x\" }}{{ end }}",
        "{{ template \"x\" }}",
        "{{ block \"x\" . }}{{ end }}",
    ] {
        assert!(matches!(fail(src).reason, Reason::Unsupported(_)), "{src}");
    }
}

#[test]
fn unknown_functions_are_refused_at_parse_time_by_name() {
    for (src, name) in [
        ("{{ .user | urlquery }}", "urlquery"),
        ("{{ env \"HOME\" }}", "env"),
        ("{{ if (trunc 3 .user) }}{{ end }}", "trunc"),
    ] {
        let e = Template::parse("k", src).expect_err(src);
        assert_eq!(e.reason, Reason::UnknownFunction(name.into()));
        assert_eq!(
            e.to_string(),
            format!("template: k:1: function \"{name}\" not defined")
        );
    }
    // Even in a branch that never runs.
    assert!(Template::parse("k", "{{ if false }}{{ html .x }}{{ end }}").is_err());
}

#[test]
fn errors_name_template_line_and_key() {
    let e = support::render_with("line1\n{{ .user }}\n{{ .nope }}", &support::sample())
        .expect_err("missing");
    assert_eq!((e.template.as_str(), e.line), ("t", 3));
    assert_eq!(e.reason, Reason::MissingKey("nope".into()));
    assert_eq!(
        e.to_string(),
        "template: t:3: map has no entry for key \"nope\""
    );
    assert!(
        exec_msg("{{ (fromJson .json).n.x }}").contains("can't evaluate field x in type float64")
    );
    assert!(matches!(fail("{{ if true }}").reason, Reason::Syntax(_)));
    assert!(matches!(fail("{{ end }}").reason, Reason::Syntax(_)));
    assert!(matches!(fail("{{ .user").reason, Reason::Syntax(_)));
    assert!(matches!(fail("{{ (.user }}").reason, Reason::Syntax(_)));
}
