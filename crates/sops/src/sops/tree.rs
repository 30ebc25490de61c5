//! The document model every store reads into and writes from: ordered maps, sequences, typed scalars
//! and comments, as sops' `TreeBranch` holds them.

use std::fmt;

use zeroize::Zeroize;

/// One document of a file: an ordered map whose items are entries or comments.
#[derive(Clone, Default, PartialEq, Zeroize)]
pub struct Map(pub Vec<MapItem>);

/// An item of a map. Comments sit between entries, as sops keeps them (`Comment` keys).
#[derive(Clone, PartialEq, Zeroize)]
pub enum MapItem {
    Entry(String, Value),
    Comment(String),
}

/// A value in the tree. `Comment` appears only inside sequences; in maps comments are `MapItem::Comment`.
#[derive(Clone, PartialEq, Zeroize)]
pub enum Value {
    Map(Map),
    Seq(Vec<Value>),
    Str(String),
    /// A string whose bytes are not UTF-8 (the binary store, or a decrypted `str` that is not text).
    Bytes(Vec<u8>),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A timestamp (go-yaml's `!!timestamp`), as the canonical RFC 3339 text sops encrypts and prints
    /// (see `sops::timestamp`).
    Time(String),
    Null,
    Comment(String),
}

impl Map {
    pub fn new() -> Self {
        Map(Vec::new())
    }

    /// The value of the first entry named `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.0.iter_mut().find_map(|item| match item {
            MapItem::Entry(k, v) if k == key => Some(v),
            _ => None,
        })
    }

    /// Removes the entry named `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let index = self
            .0
            .iter()
            .position(|item| matches!(item, MapItem::Entry(k, _) if k == key))?;
        match self.0.remove(index) {
            MapItem::Entry(_, v) => Some(v),
            MapItem::Comment(_) => None,
        }
    }

    /// Sets `key` to `value`, replacing an existing entry in place or appending a new one.
    pub fn insert(&mut self, key: impl Into<String>, value: Value) {
        let key = key.into();
        match self.get_mut(&key) {
            Some(slot) => *slot = value,
            None => self.0.push(MapItem::Entry(key, value)),
        }
    }

    /// Entries in order, comments skipped.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().filter_map(|item| match item {
            MapItem::Entry(k, v) => Some((k.as_str(), v)),
            MapItem::Comment(_) => None,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Value {
    /// The text of a string scalar.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// A short name of the value's kind, for error messages (never the value itself).
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Map(_) => "map",
            Value::Seq(_) => "list",
            Value::Str(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Bool(_) => "boolean",
            Value::Time(_) => "timestamp",
            Value::Null => "null",
            Value::Comment(_) => "comment",
        }
    }
}

/// Formats a float as Go's `strconv.FormatFloat(f, 'f', -1, 64)`, which sops uses for values and the MAC.
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        // Rust's Display prints the shortest digits that round-trip, never in exponent form: the same
        // digits Go prints with precision -1 in 'f' format.
        format!("{f}")
    }
}

// Debug never shows scalar contents: a tree may hold decrypted secrets.
impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for item in &self.0 {
            match item {
                MapItem::Entry(k, v) => m.entry(k, v),
                MapItem::Comment(_) => m.entry(&"#", &"<comment>"),
            };
        }
        m.finish()
    }
}

impl fmt::Debug for MapItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapItem::Entry(k, v) => write!(f, "{k:?}: {v:?}"),
            MapItem::Comment(_) => f.write_str("#<comment>"),
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Map(m) => m.fmt(f),
            Value::Seq(items) => f.debug_list().entries(items).finish(),
            Value::Null => f.write_str("null"),
            other => write!(f, "<{}>", other.kind()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_format_like_go() {
        assert_eq!(format_float(5432.0), "5432");
        assert_eq!(format_float(0.75), "0.75");
        assert_eq!(format_float(1e21), "1000000000000000000000");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(format_float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_float(f64::NAN), "NaN");
        assert_eq!(format_float(-0.5), "-0.5");
    }

    #[test]
    fn debug_hides_scalars() {
        let mut m = Map::new();
        m.insert("password", Value::Str("hunter2".into()));
        let shown = format!("{m:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("password"));
    }

    #[test]
    fn insert_replaces_in_place() {
        let mut m = Map::new();
        m.insert("a", Value::Int(1));
        m.insert("b", Value::Int(2));
        m.insert("a", Value::Int(3));
        let keys: Vec<_> = m.entries().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(m.get("a"), Some(&Value::Int(3)));
    }
}
