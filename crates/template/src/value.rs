//! The template value model: Go's dynamic values as ESO's templates see them, strings zeroized on drop.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use zeroize::Zeroizing;

/// A Go string: bytes, not necessarily UTF-8 (secret data is bytes cast to string), wiped on drop.
pub type Bytes = Zeroizing<Vec<u8>>;

/// The Go element type of a map or slice, which decides type checks (`get` wants
/// `map[string]interface {}`), zero values of `index` and type names in errors.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Elem {
    /// `map[string]string` / `[]string`: the root data, `split`, `splitList`.
    Str,
    /// `map[string]interface {}` / `[]interface {}`: `fromJson`, `dict`, `list`.
    Any,
}

/// One dynamic value. `Debug` prints the kind only, never the content. Clones are cheap (shared);
/// collections carry their size and depth so bounds are checked in O(1) as values are built.
#[derive(Clone)]
pub(crate) enum Value {
    /// Go's untyped nil (an absent interface value).
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Arc<Bytes>),
    List(Arc<List>),
    Map(Arc<Map>),
}

pub(crate) struct List {
    pub elem: Elem,
    pub items: Vec<Value>,
    weight: usize,
    depth: usize,
}

pub(crate) struct Map {
    pub elem: Elem,
    pub entries: BTreeMap<String, Value>,
    weight: usize,
    depth: usize,
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Value({})", self.type_name())
    }
}

impl Value {
    pub(crate) fn str(s: impl Into<Vec<u8>>) -> Value {
        Value::Str(Arc::new(Zeroizing::new(s.into())))
    }

    pub(crate) fn list(elem: Elem, items: Vec<Value>) -> Value {
        let weight = items.iter().map(|v| v.weight() + 8).sum();
        let depth = 1 + items.iter().map(Value::depth).max().unwrap_or(0);
        Value::List(Arc::new(List {
            elem,
            items,
            weight,
            depth,
        }))
    }

    pub(crate) fn map(elem: Elem, entries: BTreeMap<String, Value>) -> Value {
        let weight = entries.iter().map(|(k, v)| k.len() + v.weight() + 8).sum();
        let depth = 1 + entries.values().map(Value::depth).max().unwrap_or(0);
        Value::Map(Arc::new(Map {
            elem,
            entries,
            weight,
            depth,
        }))
    }

    /// The Go type name, as `%T` and Go's error messages print it.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(l) if l.elem == Elem::Str => "[]string",
            Value::List(_) => "[]interface {}",
            Value::Map(m) if m.elem == Elem::Str => "map[string]string",
            Value::Map(_) => "map[string]interface {}",
        }
    }

    /// Go's template truth: false, 0, nil, and empty strings, lists and maps are false.
    pub(crate) fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.items.is_empty(),
            Value::Map(m) => !m.entries.is_empty(),
        }
    }

    /// The zero value of a collection's element type (what `index` returns for a missing key).
    pub(crate) fn zero_of(elem: Elem) -> Value {
        match elem {
            Elem::Str => Value::str(Vec::new()),
            Elem::Any => Value::Nil,
        }
    }

    /// Bytes this value holds, counting shared parts each time they are reachable (O(1)).
    pub(crate) fn weight(&self) -> usize {
        match self {
            Value::Str(s) => s.len(),
            Value::List(l) => l.weight,
            Value::Map(m) => m.weight,
            _ => 8,
        }
    }

    /// Nesting depth, 1 for a scalar (O(1)).
    pub(crate) fn depth(&self) -> usize {
        match self {
            Value::List(l) => l.depth,
            Value::Map(m) => m.depth,
            _ => 1,
        }
    }
}

/// The data a template renders against: ESO's `map[string]string` of secret values at the root
/// (`{{ .password }}`). Values are zeroized on drop; `Debug` prints key names only.
#[derive(Clone, Default)]
pub struct Data {
    pub(crate) root: BTreeMap<String, Value>,
}

impl Data {
    /// The data from secret values by key, as ESO passes `map[string][]byte` cast to strings.
    pub fn new(values: &BTreeMap<String, Zeroizing<Vec<u8>>>) -> Data {
        let root = values
            .iter()
            .map(|(k, v)| (k.clone(), Value::Str(Arc::new(v.clone()))))
            .collect();
        Data { root }
    }

    /// Adds or replaces one value.
    pub fn insert(&mut self, key: impl Into<String>, value: Zeroizing<Vec<u8>>) {
        self.root.insert(key.into(), Value::Str(Arc::new(value)));
    }

    pub(crate) fn value(&self) -> Value {
        Value::map(Elem::Str, self.root.clone())
    }
}

impl From<&BTreeMap<String, Zeroizing<Vec<u8>>>> for Data {
    fn from(values: &BTreeMap<String, Zeroizing<Vec<u8>>>) -> Data {
        Data::new(values)
    }
}

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Data")
            .field("keys", &self.root.keys().collect::<Vec<_>>())
            .finish()
    }
}
