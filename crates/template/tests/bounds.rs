//! Bounds by construction (source, nesting, output, steps, value size and depth), secret hygiene
//! of errors and Debug output, and render_map.

mod support;

use sealsync_template::{render_map, Limits, Reason, Template};
use std::collections::BTreeMap;
use support::{data, render_with, sample};

fn bound(src: &str, limits: Limits, d: &sealsync_template::Data) -> &'static str {
    let result = Template::parse_with_limits("t", src, limits).and_then(|t| t.execute(d));
    let head: String = src.chars().take(80).collect();
    match result.map(|_| ()).expect_err(&head).reason {
        Reason::Limit { bound, .. } => bound,
        other => panic!("{head}: not a limit: {other:?}"),
    }
}

#[test]
fn template_source_size() {
    let limits = Limits {
        max_source: 10,
        ..Limits::DEFAULT
    };
    assert_eq!(
        bound("0123456789a", limits, &sample()),
        "template source size"
    );
    assert!(Template::parse("t", &"x".repeat(64 * 1024 + 1)).is_err());
}

#[test]
fn nesting_depth() {
    let deep_if = format!("{}{}", "{{ if true }}".repeat(101), "{{ end }}".repeat(101));
    assert_eq!(
        bound(&deep_if, Limits::DEFAULT, &sample()),
        "template nesting depth"
    );
    let deep_paren = format!("{{{{ {}1{} }}}}", "(".repeat(500), ")".repeat(500));
    assert_eq!(
        bound(&deep_paren, Limits::DEFAULT, &sample()),
        "template nesting depth"
    );
    let ok = format!("{}x{}", "{{ if true }}".repeat(50), "{{ end }}".repeat(50));
    assert_eq!(render_with(&ok, &sample()).unwrap(), "x");
}

#[test]
fn output_size() {
    let limits = Limits {
        max_output: 100,
        ..Limits::DEFAULT
    };
    assert_eq!(
        bound("{{ range 200 }}x{{ end }}", limits, &sample()),
        "output size"
    );
    let big = "y".repeat(2 * 1024 * 1024);
    assert_eq!(
        bound("{{ .big }}", Limits::DEFAULT, &data(&[("big", &big)])),
        "output size"
    );
}

#[test]
fn evaluation_steps_stop_a_range_over_a_big_split() {
    let src = "{{ range $i, $v := (splitList \",\" .big) }}{{ $v }}{{ end }}";
    let d = data(&[("big", &",".repeat(100_000))]);
    assert_eq!(bound(src, Limits::DEFAULT, &d), "evaluation steps");
    let src = "{{ range $k, $v := (split \",\" .big) }}{{ $v }}{{ end }}";
    // A split too large to hold is refused before it is built.
    let d = data(&[("big", &",".repeat(500_000))]);
    assert_eq!(bound(src, Limits::DEFAULT, &d), "value size");
    let limits = Limits {
        max_steps: 50,
        ..Limits::DEFAULT
    };
    assert_eq!(
        bound("{{ range 100 }}{{ end }}", limits, &sample()),
        "evaluation steps"
    );
    // Hashing a large value repeatedly is charged by the bytes hashed.
    let big = data(&[("big", &"z".repeat(1024 * 1024))]);
    let limits = Limits {
        max_steps: 20_000,
        ..Limits::DEFAULT
    };
    let src = "{{ range 100000 }}{{ $h := sha256sum $.big }}{{ end }}";
    let t = Template::parse_with_limits("t", src, limits).unwrap();
    let e = t.execute(&big).unwrap_err();
    assert_eq!(
        e.reason,
        Reason::Limit {
            bound: "evaluation steps",
            limit: 20_000
        }
    );
}

#[test]
fn variable_lookups_are_charged_by_the_variables_in_scope() {
    let decls = "{{ $a := 1 }}".repeat(4000);
    let src = format!("{{{{ $z := 0 }}}}{decls}{{{{ range 40000 }}}}{{{{ $z }}}}{{{{ end }}}}");
    let limits = Limits {
        max_output: 1 << 30,
        ..Limits::DEFAULT
    };
    assert_eq!(bound(&src, limits, &sample()), "evaluation steps");
}

#[test]
fn value_size_and_depth() {
    let doubling =
        "{{ $x := list \"aaaaaaaa\" }}{{ range 64 }}{{ $x = list $x $x }}{{ end }}{{ toJson $x }}";
    assert_eq!(bound(doubling, Limits::DEFAULT, &sample()), "value size");
    let nesting = "{{ $x := list }}{{ range 200 }}{{ $x = list $x }}{{ end }}";
    assert_eq!(
        bound(nesting, Limits::DEFAULT, &sample()),
        "value nesting depth"
    );
    let blowup = r#"{{ replace "" (printf "%1000s" "") (printf "%2000s" "") }}"#;
    assert_eq!(bound(blowup, Limits::DEFAULT, &sample()), "value size");
    let json = format!("{}{}", "[".repeat(110), "]".repeat(110));
    assert_eq!(
        bound("{{ fromJson .j }}", Limits::DEFAULT, &data(&[("j", &json)])),
        "decoded value depth"
    );
    let yaml = format!("{}{}", "[".repeat(110), "]".repeat(110));
    assert_eq!(
        bound("{{ fromYaml .y }}", Limits::DEFAULT, &data(&[("y", &yaml)])),
        "decoded value depth"
    );
}

#[test]
fn yaml_alias_expansion_is_bounded() {
    let mut doc = String::from("a0: &a0 [\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"]\n");
    for i in 1..40 {
        doc.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}]\n",
            p = i - 1
        ));
    }
    assert_eq!(
        bound("{{ fromYaml .y }}", Limits::DEFAULT, &data(&[("y", &doc)])),
        "value size"
    );
}

#[test]
fn errors_and_debug_never_show_values() {
    let d = sample();
    assert!(!format!("{d:?}").contains("hunter2"));
    assert!(format!("{d:?}").contains("password"));
    for src in [
        "{{ .password.x }}",
        "{{ eq .password 1 }}",
        "{{ range .password }}{{ end }}",
        "{{ index .password 99 }}",
        "{{ upper (list .password) }}",
        "{{ lt .password true }}",
        "{{ get (dict .password 1) 5 }}",
        "{{ index (dict \"hunter2\" 1) 5 }}",
    ] {
        let e = render_with(src, &d).expect_err(src);
        assert!(!e.to_string().contains("hunter2"), "{src}: {e}");
        assert!(!format!("{e:?}").contains("hunter2"), "{src}");
    }
}

#[test]
fn render_map_renders_each_key_and_names_the_failing_one() {
    let mut templates = BTreeMap::new();
    templates.insert(
        "config.yaml".to_string(),
        "user: {{ .user }}\npass: {{ .password | b64enc }}".to_string(),
    );
    templates.insert("plain".to_string(), "{{ .user }}".to_string());
    let out = render_map(&templates, &sample()).unwrap();
    assert_eq!(&out["config.yaml"][..], b"user: admin\npass: aHVudGVyMg==");
    assert_eq!(&out["plain"][..], b"admin");
    templates.insert("broken".to_string(), "{{ .absent }}".to_string());
    let (key, e) = render_map(&templates, &sample()).unwrap_err();
    assert_eq!(key, "broken");
    assert_eq!(e.template, "broken");
    assert_eq!(e.reason, Reason::MissingKey("absent".into()));
}

#[test]
fn api_types_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Template>();
    send_sync::<sealsync_template::Data>();
    send_sync::<sealsync_template::TemplateError>();
}
