//! Flattening of nested metadata for the formats that cannot nest (dotenv, INI), as sops writes it.
//!
//! A nested map becomes flat `key = text` pairs: map members are joined with `__map_`, list items with
//! `__list_N`. `{age: [{recipient: r, enc: e}], version: v}` flattens to
//! `age__list_0__map_recipient = r`, `age__list_0__map_enc = e`, `version = v`.
//!
//! - [`flatten`] walks the map in order (sops walks a Go map, so its order is random; callers that need
//!   an order sort the pairs themselves). `Null` values and empty maps or lists produce no pair, as in
//!   sops. Scalars become text: see [`scalar_text`].
//! - [`unflatten`] rebuilds the nested map, keeping the order in which paths first appear. Unlike sops
//!   (which panics or silently makes zero entries) it refuses conflicting paths (`a` and `a__map_b`),
//!   list indices that are not decimal numbers, and lists with missing items.
//!
//! Keys that themselves contain `__map_` or `__list_` do not survive a round trip (as in sops); sops
//! metadata keys never do.

use super::{limits, FormatError};
use crate::sops::tree::{Map, MapItem, Value};

pub const MAP_SEPARATOR: &str = "__map_";
pub const LIST_SEPARATOR: &str = "__list_";

/// Flattens `map` into `(path, text)` pairs, in the map's order.
pub fn flatten(map: &Map) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (key, value) in map.entries() {
        flatten_into(&mut out, key.to_string(), value);
    }
    out
}

fn flatten_into(out: &mut Vec<(String, String)>, prefix: String, value: &Value) {
    match value {
        Value::Map(m) => {
            for (k, v) in m.entries() {
                flatten_into(out, format!("{prefix}{MAP_SEPARATOR}{k}"), v);
            }
        }
        Value::Seq(items) => {
            let items = items.iter().filter(|v| !matches!(v, Value::Comment(_)));
            for (i, v) in items.enumerate() {
                flatten_into(out, format!("{prefix}{LIST_SEPARATOR}{i}"), v);
            }
        }
        Value::Null | Value::Comment(_) => {}
        scalar => {
            if let Some(text) = scalar_text(scalar) {
                out.push((prefix, text));
            }
        }
    }
}

/// The text sops writes for a scalar in a flat format (its `ValueToString`): strings as they are,
/// integers in decimal, booleans `true`/`false`, floats as Go's `%G` with `.0` added when the result
/// has neither a point nor an exponent (`3.0`, `0.5`, `1E+21`, `1E-07`). `Null` is written empty (sops
/// writes `<nil>`, which reads back as that text), bytes lossily. `None` for maps, lists and comments.
pub fn scalar_text(value: &Value) -> Option<String> {
    Some(match value {
        Value::Str(s) => s.clone(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Float(f) => go_g_float(*f),
        Value::Time(t) => t.clone(),
        Value::Null => String::new(),
        Value::Map(_) | Value::Seq(_) | Value::Comment(_) => return None,
    })
}

/// A float as sops' flat stores print it: Go's `strconv.FormatFloat(f, 'G', -1, 64)`, plus `.0` when
/// that shows neither a point nor an exponent.
pub(crate) fn go_g_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let (mantissa, exp) = split_exp(f);
    let s = if f != 0.0 && !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}E{sign}{:02}", exp.unsigned_abs())
    } else {
        crate::sops::tree::format_float(f)
    };
    if s.contains(['.', 'E']) {
        s
    } else {
        s + ".0"
    }
}

/// The shortest round-trip digits of `f` as `(mantissa, decimal exponent)`, e.g. `1.5e-7` → ("1.5", -7).
pub(crate) fn split_exp(f: f64) -> (String, i32) {
    let e = format!("{f:e}");
    match e.split_once('e') {
        Some((m, x)) => (m.to_string(), x.parse().unwrap_or(0)),
        None => (e, 0),
    }
}

/// One step of a flattened path.
#[derive(Debug, PartialEq)]
enum Token<'a> {
    Key(&'a str),
    Index(usize),
}

/// Splits a flattened path into its steps. The first step is always a key.
fn tokenize(path: &str, max_index: usize) -> Result<Vec<Token<'_>>, String> {
    let mut tokens = Vec::new();
    let mut start = 0; // start of the current token's text
    let mut is_list = false;
    let mut i = 0;
    let bytes = path.as_bytes();
    while i < bytes.len() {
        let rest = &path[i..];
        let sep = if rest.starts_with(MAP_SEPARATOR) {
            Some((MAP_SEPARATOR.len(), false))
        } else if rest.starts_with(LIST_SEPARATOR) {
            Some((LIST_SEPARATOR.len(), true))
        } else {
            None
        };
        match sep {
            Some((len, list)) => {
                finish_token(&mut tokens, &path[start..i], is_list, max_index)?;
                i += len;
                start = i;
                is_list = list;
            }
            // Step over a whole character: a key may hold any text, and slicing inside one panics.
            None => i += rest.chars().next().map_or(1, char::len_utf8),
        }
        if tokens.len() > limits::MAX_DEPTH {
            return Err("nested too deep".into());
        }
    }
    finish_token(&mut tokens, &path[start..], is_list, max_index)?;
    Ok(tokens)
}

fn finish_token<'a>(
    tokens: &mut Vec<Token<'a>>,
    text: &'a str,
    is_list: bool,
    max_index: usize,
) -> Result<(), String> {
    if is_list {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err("a list index is not a decimal number".into());
        }
        let index: usize = text.parse().map_err(|_| "a list index is too large")?;
        if index >= max_index {
            return Err("a list index is larger than the number of entries".into());
        }
        tokens.push(Token::Index(index));
    } else {
        tokens.push(Token::Key(text));
    }
    Ok(())
}

/// A tree under construction.
enum Node {
    Leaf(Value),
    Map(Vec<(String, Node)>),
    List(Vec<Option<Node>>),
}

/// Rebuilds the nested map from flattened `(path, value)` pairs. A path met twice keeps the last value
/// (sops reads the pairs into a Go map). Errors name the offending path (a metadata key, never a value).
pub fn unflatten<I>(pairs: I) -> Result<Map, FormatError>
where
    I: IntoIterator<Item = (String, Value)>,
{
    let pairs: Vec<(String, Value)> = pairs.into_iter().collect();
    if pairs.len() > limits::MAX_NODES {
        return Err(FormatError::Limit("too many metadata entries".into()));
    }
    let max_index = pairs.len();
    let mut root: Vec<(String, Node)> = Vec::new();
    for (path, value) in pairs {
        let bad = |reason: &str| FormatError::Invalid(format!("metadata entry {path:?}: {reason}"));
        let tokens = tokenize(&path, max_index).map_err(|r| {
            if r == "nested too deep" {
                FormatError::Limit(format!("metadata entry {path:?} is nested too deep"))
            } else {
                bad(&r)
            }
        })?;
        insert_map(&mut root, &tokens, value).map_err(bad)?;
    }
    finish_map(root).map_err(|(r, p)| FormatError::Invalid(format!("metadata entry {p:?}: {r}")))
}

fn insert_map(
    map: &mut Vec<(String, Node)>,
    tokens: &[Token<'_>],
    value: Value,
) -> Result<(), &'static str> {
    let Some((Token::Key(key), rest)) = tokens.split_first() else {
        return Err("a list index where a key was expected");
    };
    let slot = match map.iter().position(|(k, _)| k == key) {
        Some(i) => &mut map[i].1,
        None => {
            map.push((key.to_string(), new_node(rest)));
            &mut map.last_mut().expect("just pushed").1
        }
    };
    insert_node(slot, rest, value)
}

fn new_node(rest: &[Token<'_>]) -> Node {
    match rest.first() {
        None => Node::Leaf(Value::Null),
        Some(Token::Key(_)) => Node::Map(Vec::new()),
        Some(Token::Index(_)) => Node::List(Vec::new()),
    }
}

fn insert_node(node: &mut Node, rest: &[Token<'_>], value: Value) -> Result<(), &'static str> {
    match (node, rest.first()) {
        (Node::Leaf(v), None) => {
            *v = value;
            Ok(())
        }
        (Node::Map(m), Some(Token::Key(_))) => insert_map(m, rest, value),
        (Node::List(items), Some(Token::Index(i))) => {
            let i = *i;
            if items.len() <= i {
                items.resize_with(i + 1, || None);
            }
            let slot = items[i].get_or_insert_with(|| new_node(&rest[1..]));
            insert_node(slot, &rest[1..], value)
        }
        _ => Err("conflicts with another entry (a value and a nested entry at the same place)"),
    }
}

fn finish_map(map: Vec<(String, Node)>) -> Result<Map, (&'static str, String)> {
    let mut out = Map::new();
    for (key, node) in map {
        let value = finish_node(node).map_err(|(r, p)| (r, format!("{key}{p}")))?;
        out.0.push(MapItem::Entry(key, value));
    }
    Ok(out)
}

fn finish_node(node: Node) -> Result<Value, (&'static str, String)> {
    Ok(match node {
        Node::Leaf(v) => v,
        Node::Map(m) => {
            Value::Map(finish_map(m).map_err(|(r, p)| (r, format!("{MAP_SEPARATOR}{p}")))?)
        }
        Node::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let Some(item) = item else {
                    return Err(("list item missing", format!("{LIST_SEPARATOR}{i}")));
                };
                out.push(
                    finish_node(item).map_err(|(r, p)| (r, format!("{LIST_SEPARATOR}{i}{p}")))?,
                );
            }
            Value::Seq(out)
        }
    })
}

/// Replaces the two characters `\n` with a newline, as sops does for flattened values.
pub(crate) fn decode_newlines(s: &str) -> String {
    s.replace("\\n", "\n")
}

/// Replaces newlines with the two characters `\n`.
pub(crate) fn encode_newlines(s: &str) -> String {
    s.replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    fn age(recipient: &str, enc: &str) -> Value {
        let mut m = Map::new();
        m.insert("recipient", s(recipient));
        m.insert("enc", s(enc));
        Value::Map(m)
    }

    #[test]
    fn flattens_like_sops() {
        let mut md = Map::new();
        md.insert("age", Value::Seq(vec![age("r1", "e1\nx")]));
        md.insert("lastmodified", s("2026-01-01T00:00:00Z"));
        md.insert("shamir_threshold", Value::Int(2));
        md.insert("mac_only_encrypted", Value::Bool(true));
        md.insert("kms", Value::Null);
        md.insert("pgp", Value::Seq(vec![]));
        let mut group = Map::new();
        group.insert("age", Value::Seq(vec![age("r2", "e2"), age("r3", "e3")]));
        md.insert(
            "key_groups",
            Value::Seq(vec![Value::Map(Map::new()), Value::Map(group)]),
        );
        let flat = flatten(&md);
        let want = [
            ("age__list_0__map_recipient", "r1"),
            ("age__list_0__map_enc", "e1\nx"),
            ("lastmodified", "2026-01-01T00:00:00Z"),
            ("shamir_threshold", "2"),
            ("mac_only_encrypted", "true"),
            ("key_groups__list_1__map_age__list_0__map_recipient", "r2"),
            ("key_groups__list_1__map_age__list_0__map_enc", "e2"),
            ("key_groups__list_1__map_age__list_1__map_recipient", "r3"),
            ("key_groups__list_1__map_age__list_1__map_enc", "e3"),
        ];
        let got: Vec<(&str, &str)> = flat.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn unflattens_in_first_appearance_order() {
        let pairs = [
            ("key_groups__list_1__map_age__list_0__map_enc", "e2"),
            ("key_groups__list_0__map_age__list_0__map_recipient", "r1"),
            ("key_groups__list_0__map_age__list_0__map_enc", "e1"),
            ("key_groups__list_1__map_age__list_0__map_recipient", "r2"),
            ("version", "3.11.0"),
        ];
        let m = unflatten(pairs.iter().map(|(k, v)| (k.to_string(), s(v)))).unwrap();
        let groups = match m.get("key_groups") {
            Some(Value::Seq(g)) => g,
            other => panic!("{other:?}"),
        };
        assert_eq!(groups.len(), 2);
        let g1 = groups[1].as_map().unwrap();
        let Some(Value::Seq(keys)) = g1.get("age") else {
            panic!()
        };
        let k = keys[0].as_map().unwrap();
        let order: Vec<_> = k.entries().map(|(k, _)| k).collect();
        assert_eq!(order, ["enc", "recipient"]);
        assert_eq!(k.get("recipient"), Some(&s("r2")));
        assert_eq!(m.get("version"), Some(&s("3.11.0")));
    }

    #[test]
    fn unflatten_refuses_bad_paths() {
        let cases: &[&[(&str, &str)]] = &[
            &[("a", "1"), ("a__map_b", "secret-1")],
            &[("a__map_b", "secret-1"), ("a", "1")],
            &[("a__list_x", "secret-1")],
            &[("a__list_", "secret-1")],
            &[("a__list_1", "secret-1"), ("a__list_2", "x"), ("b", "y")],
            &[("a__list_99999999999999999999999", "secret-1")],
            &[("a__list_0", "secret-1"), ("a__map_b", "x")],
        ];
        for case in cases {
            let err = unflatten(case.iter().map(|(k, v)| (k.to_string(), s(v)))).unwrap_err();
            assert!(matches!(err, FormatError::Invalid(_)), "{err:?}");
            assert!(!err.to_string().contains("secret"), "{err}");
        }
        let deep = format!("a{}", "__map_b".repeat(limits::MAX_DEPTH + 5));
        let err = unflatten([(deep, s("v"))]).unwrap_err();
        assert!(matches!(err, FormatError::Limit(_)), "{err:?}");
    }

    /// Found by the `decrypt` fuzz target (an INI file's `[sops]` section): a key holding a character
    /// of more than one byte panicked, the tokenizer slicing the path inside it.
    #[test]
    fn unflatten_takes_keys_of_any_text() {
        let m = unflatten([
            ("a\u{ad}b__map_c\u{e9}".to_string(), s("1")),
            ("\u{1f512}__list_0".to_string(), s("2")),
        ])
        .unwrap();
        let Some(Value::Map(inner)) = m.get("a\u{ad}b") else {
            panic!("{m:?}");
        };
        assert_eq!(inner.get("c\u{e9}"), Some(&s("1")));
        assert_eq!(m.get("\u{1f512}"), Some(&Value::Seq(vec![s("2")])));
    }

    #[test]
    fn duplicate_paths_keep_the_last_value() {
        let m = unflatten([("a".to_string(), s("1")), ("a".to_string(), s("2"))]).unwrap();
        assert_eq!(m.get("a"), Some(&s("2")));
        assert_eq!(m.0.len(), 1);
    }

    #[test]
    fn g_floats() {
        assert_eq!(go_g_float(3.0), "3.0");
        assert_eq!(go_g_float(0.1), "0.1");
        assert_eq!(go_g_float(1e21), "1E+21");
        assert_eq!(go_g_float(1e-7), "1E-07");
        assert_eq!(go_g_float(123456789.5), "1.234567895E+08");
        assert_eq!(go_g_float(100000.0), "100000.0");
        assert_eq!(go_g_float(1e6), "1E+06");
        assert_eq!(go_g_float(0.0001), "0.0001");
        assert_eq!(go_g_float(-2.5), "-2.5");
        assert_eq!(go_g_float(0.0), "0.0");
    }

    fn key() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9_]{0,8}"
            .prop_filter("no separators", |k| !k.contains("__") && !k.ends_with('_'))
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            "[ -~\n]{0,12}".prop_map(Value::Str),
            any::<i64>().prop_map(Value::Int),
            any::<bool>().prop_map(Value::Bool)
        ]
    }

    fn tree() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(4, 40, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..4).prop_map(Value::Seq),
                prop::collection::vec((key(), inner), 1..4).prop_map(|entries| {
                    let mut m = Map::new();
                    for (k, v) in entries {
                        m.insert(k, v);
                    }
                    Value::Map(m)
                }),
            ]
        })
    }

    /// What unflatten gives back for a tree: every scalar as its text.
    fn as_text(v: &Value) -> Value {
        match v {
            Value::Map(m) => Value::Map(Map(m
                .entries()
                .map(|(k, v)| MapItem::Entry(k.to_string(), as_text(v)))
                .collect())),
            Value::Seq(items) => Value::Seq(items.iter().map(as_text).collect()),
            other => Value::Str(scalar_text(other).unwrap()),
        }
    }

    proptest! {
        #[test]
        fn round_trip(entries in prop::collection::vec((key(), tree()), 0..5)) {
            let mut m = Map::new();
            for (k, v) in entries {
                m.insert(k, v);
            }
            let flat = flatten(&m);
            let back = unflatten(flat.into_iter().map(|(k, v)| (k, Value::Str(v)))).unwrap();
            prop_assert_eq!(back, match as_text(&Value::Map(m)) { Value::Map(m) => m, _ => unreachable!() });
        }

        #[test]
        fn round_trip_key_groups(groups in prop::collection::vec(prop::collection::vec(("age1[a-z0-9]{4}", "[A-Za-z0-9+/=\n-]{1,20}"), 1..4), 1..5), threshold in 1i64..5) {
            let mut md = Map::new();
            let gs = groups.iter().map(|g| {
                let mut gm = Map::new();
                gm.insert("age", Value::Seq(g.iter().map(|(r, e)| age(r, e)).collect()));
                Value::Map(gm)
            }).collect();
            md.insert("key_groups", Value::Seq(gs));
            md.insert("shamir_threshold", Value::Int(threshold));
            md.insert("version", s("3.11.0"));
            let flat = flatten(&md);
            let back = unflatten(flat.into_iter().map(|(k, v)| (k, Value::Str(v)))).unwrap();
            prop_assert_eq!(back, match as_text(&Value::Map(md)) { Value::Map(m) => m, _ => unreachable!() });
        }

        #[test]
        fn unflatten_never_panics(pairs in prop::collection::vec(("[a-z_0-9]{0,30}", "[a-z]{0,3}"), 0..8)) {
            let _ = unflatten(pairs.into_iter().map(|(k, v)| (k, Value::Str(v))));
        }
    }
}
