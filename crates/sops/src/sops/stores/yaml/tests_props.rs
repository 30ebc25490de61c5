//! Property tests of the YAML store: any input is safe to read, and any tree reads back as written
//! (up to sops' own normalizations).

use super::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = YamlStore.load_plain(&bytes);
    }

    #[test]
    fn yamlish_text_never_panics(s in "[a-z:#\\-\\[\\]{}&*!|>'\" \n\t.,?0-9]{0,120}") {
        let _ = load(&s);
    }

    #[test]
    fn trees_round_trip(docs in proptest::collection::vec(arb_doc(), 1..3)) {
        let text = emit(&docs);
        let back = load(&text);
        prop_assert!(back.is_ok(), "{:?}\n{:?}", back, text);
        let want: Vec<Map> = docs.iter().map(normalized).collect();
        prop_assert_eq!(back.unwrap(), want, "{:?}", text);
    }
}

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 _.:#'\"\\-\\n]{0,12}",
        "\\PC{0,10}",
        proptest::sample::select(vec![
            "",
            " ",
            "true",
            "False",
            "null",
            "~",
            "yes",
            "no",
            "123",
            "-1",
            "0x1F",
            "1e3",
            ".inf",
            "3.0",
            "2026-11-22T03:46:25Z",
            "1:20",
            "- x",
            "a: b",
            "a #b",
            "#c",
            " lead",
            "trail ",
            "x\n",
            "x\n\n",
            "\n",
            "\nx",
            " x\ny",
            "x \ny",
            "a\n b\n",
            "---",
            "...",
            "@x",
            "\"q\"",
            "'q'",
            "tab\t",
            "é ✓ 🙂",
            "\r\n",
            "a\u{2028}b\nc",
            "\u{feff}x",
            "<<",
            "?",
            ":",
            "-",
        ])
        .prop_map(String::from),
    ]
}

fn arb_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        arb_string().prop_map(Value::Str),
        any::<i64>().prop_map(Value::Int),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::Float),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

fn arb_comment() -> impl Strategy<Value = String> {
    "[a-z #:]{0,10}"
}

fn arb_value() -> impl Strategy<Value = Value> + Clone {
    arb_scalar().prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(
                prop_oneof![4 => inner.clone(), 1 => arb_comment().prop_map(Value::Comment)],
                0..5
            )
            .prop_map(Value::Seq),
            arb_map(inner).prop_map(Value::Map),
        ]
    })
}

fn arb_map(values: impl Strategy<Value = Value>) -> impl Strategy<Value = Map> {
    proptest::collection::vec(
        prop_oneof![4 => (arb_string(), values).prop_map(|(k, v)| MapItem::Entry(k, v)), 1 => arb_comment().prop_map(MapItem::Comment)],
        0..5,
    )
    .prop_map(|items| {
        // Keys are unique within a map (go-yaml refuses duplicates).
        let mut seen = std::collections::HashSet::new();
        Map(items
            .into_iter()
            .filter(|i| match i {
                MapItem::Entry(k, _) => seen.insert(k.clone()),
                MapItem::Comment(_) => true,
            })
            .collect())
    })
}

fn arb_doc() -> impl Strategy<Value = Map> {
    arb_map(arb_value())
}
