//! Each supported function: Go's builtins and Sprig's, with the edge semantics ESO users meet.

mod support;

use support::{data, exec_msg, render, render_with};

#[test]
fn and_or_short_circuit_and_return_operands() {
    assert_eq!(
        render(
            r#"{{ or .empty "fb" }}|{{ and .user 5 }}|{{ and .empty .nope }}|{{ or .user .nope }}"#
        ),
        "fb|5||admin"
    );
    assert_eq!(render("{{ .user | and 1 }}"), "admin");
    assert!(exec_msg("{{ and }}").contains("wrong number of args for and"));
}

#[test]
fn comparisons() {
    assert_eq!(
        render(
            r#"{{ eq .user "x" "admin" }} {{ ne 1 2 }} {{ lt "a" "b" }} {{ le 2 2 }} {{ gt 1.5 1.0 }} {{ ge 1 2 }}"#
        ),
        "true true true true true false"
    );
}

#[test]
fn comparison_errors() {
    assert!(exec_msg("{{ eq 1 1.0 }}").contains("incompatible types for comparison"));
    assert!(exec_msg("{{ lt 1 \"a\" }}").contains("incompatible types"));
    assert!(exec_msg("{{ eq (list) (list) }}").contains("non-comparable"));
    assert!(exec_msg("{{ lt true false }}").contains("invalid type for comparison"));
}

#[test]
fn not_len_index() {
    assert_eq!(render("{{ not .empty }} {{ not 1 }} {{ len .user }} {{ len (fromJson .json) }} {{ len (list 1 2) }}"), "true false 5 3 2");
    assert_eq!(
        render(
            r#"{{ index (fromJson .json) "l" 1 }} {{ index . "user" }} [{{ index . "absent" }}] [{{ index (dict) "absent" }}]"#
        ),
        "q admin [] [<no value>]"
    );
    assert_eq!(render(r#"{{ index "abc" 1 }}"#), "98");
    assert!(exec_msg("{{ index (list 1) 3 }}").contains("index out of range: 3"));
    assert!(exec_msg("{{ len 3 }}").contains("len of type int"));
}

#[test]
fn printf_verbs_and_mismatches() {
    assert_eq!(
        render(
            r#"{{ printf "%s|%d|%v|%q|%x|%X|%t|%.3f|%e" "a" 7 1.5 "q\"" "hi" 255 true 2.0 1234.5 }}"#
        ),
        r#"a|7|1.5|"q\""|6869|FF|true|2.000|1.234500e+03"#
    );
    assert_eq!(
        render(
            r#"{{ printf "[%5s][%-5s][%05d][%+d][%.2s][%c][%T]" "ab" "ab" 42 3 "abc" 65 (dict) }}"#
        ),
        "[   ab][ab   ][00042][+3][ab][A][map[string]interface {}]"
    );
    assert_eq!(
        render(
            r#"{{ printf "%d %d" 1 }}|{{ printf "%s" "a" 2 }}|{{ printf "%d" "x" }}|{{ printf "%s" nil }}"#
        ),
        "1 %!d(MISSING)|a%!(EXTRA int=2)|%!d(string=x)|%!s(<nil>)"
    );
    assert_eq!(
        render(r#"{{ printf "%v %v" (dict "b" 2 "a" (list 1 "x")) (split "," "p,q") }}"#),
        "map[a:[1 x] b:2] map[_0:p _1:q]"
    );
    assert_eq!(
        render(r#"{{ print "a" 1 2 "b" }}|{{ println 1 "x" }}"#),
        "a1 2b|1 x\n"
    );
}

#[test]
fn float_formatting_matches_go() {
    let t =
        r#"{{ range (fromJson "[1e6, 123456, 1e-5, 0.0001, 1e21, 2.5, 100]") }}{{ . }} {{ end }}"#;
    assert_eq!(render(t), "1e+06 123456 1e-05 0.0001 1e+21 2.5 100 ");
}

#[test]
fn base64() {
    assert_eq!(
        render("{{ .user | b64enc }} {{ \"YWRtaW4=\" | b64dec }}"),
        "YWRtaW4= admin"
    );
    assert_eq!(render(r#"{{ "abc" | b64dec }}|{{ "YW=x" | b64dec }}|{{ "YQ" | b64dec }}"#), "illegal base64 data at input byte 0|illegal base64 data at input byte 2|illegal base64 data at input byte 0");
    assert_eq!(render("{{ \"YW\\nJj\" | b64dec }}"), "abc");
    // Binary values survive: bytes, not UTF-8 text.
    let d = data(&[("bin", "/w==")]);
    assert_eq!(
        render_with("{{ .bin | b64dec | b64enc }}", &d).unwrap(),
        "/w=="
    );
}

#[test]
fn json() {
    assert_eq!(
        render(r#"{{ dict "p" "<&>" "n" 1 "f" 0.5 "l" (list nil true) | toJson }}"#),
        r#"{"f":0.5,"l":[null,true],"n":1,"p":"\u003c\u0026\u003e"}"#
    );
    // Go 1.22+ writes \b and \f; other control characters as \u00XX.
    assert_eq!(
        render(r#"{{ toJson "\b\f\x01\u2028" }}"#),
        r#""\b\f\u0001\u2028""#
    );
    assert_eq!(
        render(r#"{{ dict "a" (dict) "b" (list 1) | toPrettyJson }}"#),
        "{\n  \"a\": {},\n  \"b\": [\n    1\n  ]\n}"
    );
    assert_eq!(
        render(r#"{{ (fromJson "{\"a\":[1,2]}").a }} {{ fromJson "nope" }}"#),
        "[1 2] <no value>"
    );
    assert_eq!(
        render(r#"{{ toJson (fromJson "[1e-7, 1e21, 5]") }}"#),
        "[1e-7,1e+21,5]"
    );
}

#[test]
fn yaml() {
    assert_eq!(
        render(r#"{{ dict "b" (list 1 "yes") "a" "x: y" | toYaml }}"#),
        "a: 'x: y'\nb:\n- 1\n- \"yes\""
    );
    assert_eq!(
        render(r#"{{ dict "k" "l1\nl2" | toYaml }}"#),
        "k: |-\n  l1\n  l2"
    );
    assert_eq!(
        render(
            r#"{{ (fromYaml "a: yes\nb: [1, x]\n").a }} {{ (fromYaml "a: yes\nb: [1, x]").b }}"#
        ),
        "true [1 x]"
    );
    assert_eq!(render(r#"{{ fromYaml "- a" }}"#), "map[Error:error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go value of type map[string]interface {}]");
    assert!(render(r#"{{ (fromYaml "a: b\nc: [").Error }}"#)
        .starts_with("error converting YAML to JSON: yaml: line"));
    assert_eq!(
        render(r#"{{ fromYaml "" }} {{ (fromYaml "a: &x {b: 1}\nc: *x").c.b }}"#),
        "map[] 1"
    );
}

#[test]
fn default_and_quote() {
    assert_eq!(
        render(
            r#"{{ .empty | default "d" }} {{ .user | default "d" }} {{ default "d" 0 }} {{ default "d" (list) }} {{ default "d" }}"#
        ),
        "d admin d d d"
    );
    assert_eq!(
        render(r#"{{ quote .user "a\tb" 1 nil }}|{{ squote .user 2 }}"#),
        r#""admin" "a\tb" "1"|'admin' '2'"#
    );
}

#[test]
fn string_functions() {
    assert_eq!(
        render(
            r#"[{{ trim "  x \n" }}] {{ trimPrefix "ad" .user }} {{ trimSuffix "in" .user }} {{ upper .user }} {{ lower "ÀB" }}"#
        ),
        "[x] min adm ADMIN àb"
    );
    assert_eq!(
        render(
            r#"{{ replace "," ";" "a,b,c" }} {{ "a,b" | replace "," "" }} {{ replace "" "-" "ab" }}"#
        ),
        "a;b;c ab -a-b-"
    );
    assert_eq!(
        render(r#"{{ "a\nb" | indent 2 }}|{{ "a\nb" | nindent 2 }}"#),
        "  a\n  b|\n  a\n  b"
    );
    assert!(exec_msg(r#"{{ indent -1 "x" }}"#).contains("negative Repeat count"));
    assert!(exec_msg("{{ upper 5 }}").contains("wrong type for value; expected string; got int"));
}

#[test]
fn split_join() {
    assert_eq!(
        render(r#"{{ (split "," "a,b")._1 }} {{ split "," "a,,b" }} {{ splitList "," "a,b" }}"#),
        "b map[_0:a _1: _2:b] [a b]"
    );
    assert_eq!(
        render(
            r#"{{ splitList "," "a,b" | join "|" }} {{ join "-" (list 1 nil "x") }} {{ join "," "s" }}"#
        ),
        "a|b 1-x s"
    );
    assert_eq!(render(r#"{{ split "" "ab" }}"#), "map[_0:a _1:b]");
}

#[test]
fn regex_replace() {
    assert_eq!(
        render(r#"{{ regexReplaceAll "([a-z]+)@(\\w+)" "joe@ex x" "${2}:$1" }}"#),
        "ex:joe x"
    );
    assert_eq!(
        render(r#"{{ regexReplaceAll "a*" "baaac" "-" }}|{{ regexReplaceAll "(a)" "abc" "$1x" }}"#),
        "-b-c-|bc"
    );
    assert!(exec_msg(r#"{{ regexReplaceAll "(" "abc" "x" }}"#)
        .starts_with("error calling regexReplaceAll"));
}

#[test]
fn dicts_lists_hashes() {
    assert_eq!(
        render(
            r#"{{ get (dict "a" "1") "a" }}|{{ get (dict) "z" }}|{{ hasKey (dict "a" 1) "a" }}|{{ dict "odd" }}|{{ list 1 "a" }}"#
        ),
        "1||true|map[odd:]|[1 a]"
    );
    // Sprig's get wants map[string]interface {}: the root map[string]string does not convert.
    assert!(exec_msg(r#"{{ get . "user" }}"#)
        .contains("expected map[string]interface {}; got map[string]string"));
    assert_eq!(
        render(r#"{{ sha256sum "" }}"#),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}
