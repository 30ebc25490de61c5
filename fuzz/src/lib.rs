//! What the fuzz targets share: the store round trip and a tree comparison in which NaN equals NaN.

use sealsync_sops::sops::stores::Format;
use sealsync_sops::sops::tree::{Map, MapItem, Value};

/// parse → emit → parse gives the documents back, for the plain and the encrypted reading of a store.
/// Three losses are the formats' own, as sops has them, and are not compared: INI comments (an inline
/// comment is kept as a comment line after its key, and go-ini drops comments at the end of a file),
/// the order of the metadata entries of the flat stores (sops writes them sorted), and the type of a
/// float without a fraction (written as an integer, see `same_value`).
/// An input the store refuses, or documents it refuses to write (a dotenv key holding `=`, which would
/// read back differently), are fine; a panic, or an emitted file that reads back otherwise, is not.
pub fn round_trip(format: Format, input: &[u8]) {
    let store = format.store();
    if let Ok(docs) = store.load_plain(input) {
        if let Ok(bytes) = store.emit_plain(&docs) {
            let again = store.load_plain(&bytes).unwrap_or_else(|e| {
                panic!(
                    "{} plain: what was emitted does not parse: {e}",
                    format.name()
                )
            });
            assert!(
                same_docs(&comparable(format, &docs), &comparable(format, &again)),
                "{} plain: round trip changed the documents:\n{docs:?}\n{again:?}",
                format.name()
            );
        }
    }
    if let Ok(docs) = store.load_encrypted(input) {
        if let Ok(bytes) = store.emit_encrypted(&docs) {
            let again = store.load_encrypted(&bytes).unwrap_or_else(|e| {
                panic!(
                    "{} encrypted: what was emitted does not parse: {e}",
                    format.name()
                )
            });
            assert!(
                same_docs(&comparable(format, &docs), &comparable(format, &again)),
                "{} encrypted: round trip changed the documents:\n{docs:?}\n{again:?}",
                format.name()
            );
        }
    }
}

/// The documents as the format can keep them (see `round_trip`).
fn comparable(format: Format, docs: &[Map]) -> Vec<Map> {
    let flat = matches!(format, Format::Dotenv | Format::Ini);
    docs.iter()
        .map(|d| {
            let mut d = d.clone();
            if format == Format::Ini {
                strip_comments(&mut d);
            }
            if flat {
                if let Some(Value::Map(meta)) = d.get_mut("sops") {
                    sort_keys(meta);
                }
            }
            d
        })
        .collect()
}

fn strip_comments(map: &mut Map) {
    map.0.retain(|item| !matches!(item, MapItem::Comment(_)));
    for item in &mut map.0 {
        if let MapItem::Entry(_, Value::Map(m)) = item {
            strip_comments(m);
        }
    }
}

fn sort_keys(map: &mut Map) {
    map.0.sort_by(|a, b| match (a, b) {
        (MapItem::Entry(k, _), MapItem::Entry(l, _)) => k.cmp(l),
        _ => std::cmp::Ordering::Equal,
    });
    for item in &mut map.0 {
        match item {
            MapItem::Entry(_, Value::Map(m)) => sort_keys(m),
            MapItem::Entry(_, Value::Seq(items)) => {
                for v in items {
                    if let Value::Map(m) = v {
                        sort_keys(m);
                    }
                }
            }
            _ => {}
        }
    }
}

pub fn same_docs(a: &[Map], b: &[Map]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_map(x, y))
}

fn same_map(a: &Map, b: &Map) -> bool {
    a.0.len() == b.0.len()
        && a.0.iter().zip(&b.0).all(|(x, y)| match (x, y) {
            (MapItem::Entry(k, v), MapItem::Entry(l, w)) => k == l && same_value(v, w),
            (MapItem::Comment(c), MapItem::Comment(d)) => c == d,
            _ => false,
        })
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Map(x), Value::Map(y)) => same_map(x, y),
        (Value::Seq(x), Value::Seq(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_value(v, w))
        }
        (Value::Float(x), Value::Float(y)) => x == y || (x.is_nan() && y.is_nan()),
        // A float without a fraction is written as an integer (`3.0` as `3`, `1e3` as `1000`), as
        // sops writes it, and so reads back as one: the format's loss, not the store's.
        (Value::Float(x), Value::Int(i)) | (Value::Int(i), Value::Float(x)) => *x == *i as f64,
        _ => a == b,
    }
}
