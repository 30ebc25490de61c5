//! Reads YAML text into documents: granit-parser events folded into `Map`s without recursion, with
//! go-yaml v3's scalar typing, sops' comment placement, alias expansion under node/depth limits, and
//! error messages that never quote the input.

use std::collections::{HashMap, HashSet};

use granit_parser::{Event, Parser, Placement, ScalarStyle, Span, Tag};

use super::input::{check_characters, decode, scan_error, syntax};
use super::resolve::{go_parse_int, resolve_plain, OutOfRange};
use crate::sops::stores::limits::{MAX_ALIAS_BYTES, MAX_ALIAS_NODES, MAX_DEPTH, MAX_NODES};
use crate::sops::stores::FormatError;
use crate::sops::tree::{Map, MapItem, Value};

const CORE: &str = "tag:yaml.org,2002:";

/// Parses a YAML stream into one map per document.
pub(super) fn parse(input: &[u8]) -> Result<Vec<Map>, FormatError> {
    let text = decode(input)?;
    check_characters(&text)?;
    let mut builder = Builder::new(&text);
    let options = granit_parser::options! {
        max_buffered_comment_events: usize::MAX,
        block_nesting_limit: MAX_DEPTH + 2,
        flow_nesting_limit: MAX_DEPTH + 2,
    };
    for next in Parser::new_from_str_with_options(&text, options) {
        let (event, span) = next.map_err(scan_error)?;
        builder.event(event, span)?;
    }
    Ok(builder.docs)
}

/// A comment not yet placed, with the column of its `#`.
struct Pending {
    text: String,
    column: usize,
}

enum Body {
    Map {
        items: Vec<MapItem>,
        /// The key read, waiting for its value (with where it was, for duplicate errors).
        key: Option<(String, Box<Span>)>,
        keys: HashSet<String>,
    },
    Seq(Vec<Value>),
}

/// A collection being read.
struct Frame {
    body: Body,
    anchor: usize,
    /// Column of the collection's items (first key, dash, or opening bracket).
    indent: usize,
    /// Where the most recently completed item sits in `items`, for same-line comments.
    last_item: Option<usize>,
    /// Nodes inside, this one included.
    nodes: usize,
    /// Levels of collections inside, this one included.
    depth: usize,
    /// Bytes of scalar text inside.
    bytes: usize,
}

/// An anchored node, kept for its aliases.
struct Anchored {
    value: Value,
    /// The scalar's text, for use as a mapping key.
    key_text: Option<String>,
    nodes: usize,
    depth: usize,
    bytes: usize,
}

/// A finished node with its accounting.
struct Done {
    value: Value,
    key_text: Option<String>,
    nodes: usize,
    depth: usize,
    bytes: usize,
}

struct Builder<'a> {
    source: &'a str,
    docs: Vec<Map>,
    stack: Vec<Frame>,
    pending: Vec<Pending>,
    anchors: HashMap<usize, Anchored>,
    /// Inside a document whose root has not been read yet.
    awaiting_root: bool,
    nodes: usize,
    /// Nodes and bytes copied by aliases so far, in the whole file.
    alias_nodes: usize,
    alias_bytes: usize,
}

impl<'a> Builder<'a> {
    fn new(source: &'a str) -> Self {
        Builder {
            source,
            docs: Vec::new(),
            stack: Vec::new(),
            pending: Vec::new(),
            anchors: HashMap::new(),
            awaiting_root: false,
            nodes: 0,
            alias_nodes: 0,
            alias_bytes: 0,
        }
    }

    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), FormatError> {
        match event {
            Event::StreamStart | Event::Anchor(..) => {}
            Event::StreamEnd => {
                // Comments after the last document end it, as go-yaml's document foot comment.
                if let Some(doc) = self.docs.last_mut() {
                    for c in self.pending.drain(..) {
                        doc.0.push(MapItem::Comment(c.text));
                    }
                }
            }
            Event::DocumentStart(..) => {
                self.awaiting_root = true;
                self.anchors.clear();
            }
            Event::DocumentEnd => {}
            Event::Comment(text, placement) => self.comment(text.into_owned(), placement, &span),
            Event::Scalar(text, style, anchor, tag) => {
                self.count(1)?;
                // granit-parser reports an empty plain scalar as `~`; its span tells them apart.
                let empty = style == ScalarStyle::Plain && span.start.index() == span.end.index();
                let raw = if empty {
                    String::new()
                } else {
                    text.into_owned()
                };
                let bytes = raw.len();
                let value = scalar_value(&raw, style, tag.as_deref(), &span)?;
                let key_text = Some(raw);
                if anchor != 0 {
                    self.anchors.insert(
                        anchor,
                        Anchored {
                            value: value.clone(),
                            key_text: key_text.clone(),
                            nodes: 1,
                            depth: 0,
                            bytes,
                        },
                    );
                }
                self.node(
                    Done {
                        value,
                        key_text,
                        nodes: 1,
                        depth: 0,
                        bytes,
                    },
                    &span,
                )?;
            }
            Event::Alias(id) => {
                let Some(a) = self.anchors.get(&id) else {
                    return Err(syntax(&span, "alias refers to an unknown anchor"));
                };
                let (nodes, depth, bytes) = (a.nodes, a.depth, a.bytes);
                if self.stack.len() + depth > MAX_DEPTH {
                    return Err(FormatError::Limit(format!(
                        "YAML nesting deeper than {MAX_DEPTH} levels (through an alias)"
                    )));
                }
                self.alias_nodes = self.alias_nodes.saturating_add(nodes);
                if self.alias_nodes > MAX_ALIAS_NODES {
                    return Err(FormatError::Limit(format!(
                        "aliases expand to more than {MAX_ALIAS_NODES} nodes"
                    )));
                }
                self.count(nodes)?;
                self.alias_bytes = self.alias_bytes.saturating_add(bytes);
                if self.alias_bytes > MAX_ALIAS_BYTES {
                    return Err(FormatError::Limit(format!(
                        "aliases expand to more than {MAX_ALIAS_BYTES} bytes"
                    )));
                }
                let Some(a) = self.anchors.get(&id) else {
                    return Err(syntax(&span, "alias refers to an unknown anchor"));
                };
                let done = Done {
                    value: a.value.clone(),
                    key_text: a.key_text.clone(),
                    nodes,
                    depth,
                    bytes,
                };
                self.node(done, &span)?;
            }
            Event::UnresolvedAlias(_) => {
                return Err(syntax(&span, "alias refers to an unknown anchor"))
            }
            Event::MappingStart(_, anchor, _) => self.start(true, anchor, &span)?,
            Event::SequenceStart(_, anchor, _) => self.start(false, anchor, &span)?,
            Event::MappingEnd | Event::SequenceEnd => self.end(&span)?,
            _ => return Err(syntax(&span, "unsupported YAML construct")),
        }
        Ok(())
    }

    fn count(&mut self, nodes: usize) -> Result<(), FormatError> {
        self.nodes = self.nodes.saturating_add(nodes);
        if self.nodes > MAX_NODES {
            return Err(FormatError::Limit(format!(
                "YAML expands to more than {MAX_NODES} nodes"
            )));
        }
        Ok(())
    }

    fn comment(&mut self, text: String, placement: Placement, span: &Span) {
        let column = span.start.col();
        // `- # text` with the item on the next lines: go-yaml makes it a comment of the item (the head
        // comment of a map item's first key), not a line comment of the list.
        if placement != Placement::Right || self.follows_dash(span) {
            self.pending.push(Pending { text, column });
            return;
        }
        // A same-line comment goes right before the item on its line, as sops places go-yaml's
        // line comments.
        let Some(frame) = self.stack.last_mut() else {
            self.pending.push(Pending { text, column });
            return;
        };
        match &mut frame.body {
            Body::Map { items, key, .. } => {
                let at = match (key.is_some(), frame.last_item) {
                    (false, Some(at)) => at,
                    _ => items.len(),
                };
                items.insert(at, MapItem::Comment(text));
                if let Some(last) = frame.last_item.as_mut().filter(|l| **l >= at) {
                    *last += 1;
                }
            }
            Body::Seq(items) => {
                let at = frame.last_item.unwrap_or(items.len());
                items.insert(at, Value::Comment(text));
                if let Some(last) = frame.last_item.as_mut().filter(|l| **l >= at) {
                    *last += 1;
                }
            }
        }
    }

    /// Places the pending comments at the current position of the innermost collection.
    fn flush_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let Some(frame) = self.stack.last_mut() else {
            return;
        };
        push_comments(&mut frame.body, self.pending.drain(..));
    }

    fn start(&mut self, is_map: bool, anchor: usize, span: &Span) -> Result<(), FormatError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(FormatError::Limit(format!(
                "YAML nesting deeper than {MAX_DEPTH} levels"
            )));
        }
        self.count(1)?;
        if self.awaiting_root {
            self.awaiting_root = false;
            if !is_map {
                return Err(FormatError::Invalid(
                    "YAML documents that are sequences are not supported".into(),
                ));
            }
        } else {
            match self.stack.last() {
                None => return Err(syntax(span, "unexpected collection outside a document")),
                Some(Frame {
                    body: Body::Map { key: None, .. },
                    ..
                }) => return Err(syntax(span, "mapping keys must be scalars")),
                Some(Frame {
                    body: Body::Seq(_),
                    indent,
                    ..
                }) => {
                    // Comments at or left of the dash belong to the list, deeper ones to the item.
                    let indent = *indent;
                    let split = self
                        .pending
                        .iter()
                        .position(|c| c.column > indent)
                        .unwrap_or(self.pending.len());
                    let outer: Vec<_> = self.pending.drain(..split).collect();
                    if let Some(frame) = self.stack.last_mut() {
                        push_comments(&mut frame.body, outer.into_iter());
                    }
                }
                Some(_) => {} // a mapping value: its comments open the new collection
            }
        }
        let indent = if is_map {
            span.start.col()
        } else {
            self.dash_column(span).unwrap_or(span.start.col())
        };
        let body = if is_map {
            Body::Map {
                items: Vec::new(),
                key: None,
                keys: HashSet::new(),
            }
        } else {
            Body::Seq(Vec::new())
        };
        self.stack.push(Frame {
            body,
            anchor,
            indent,
            last_item: None,
            nodes: 1,
            depth: 1,
            bytes: 0,
        });
        Ok(())
    }

    /// Whether only a sequence's `-` (and spaces) precede `span` on its line.
    fn follows_dash(&self, span: &Span) -> bool {
        let Some(at) = span.start.byte_offset() else {
            return false;
        };
        let bytes = self.source.as_bytes();
        let line = &bytes[..at.min(bytes.len())];
        let line = match line.iter().rposition(|&b| b == b'\n') {
            Some(nl) => &line[nl + 1..],
            None => line,
        };
        let mut tokens = line
            .split(|&b| b == b' ')
            .filter(|t| !t.is_empty())
            .peekable();
        tokens.peek().is_some() && tokens.all(|t| t == b"-")
    }

    /// The column of the `-` that opens a block sequence whose start event points at or after it.
    fn dash_column(&self, span: &Span) -> Option<usize> {
        let at = span.start.byte_offset()?;
        let bytes = self.source.as_bytes();
        if bytes.get(at) == Some(&b'-') {
            return Some(span.start.col());
        }
        let mut i = at;
        while i > 0 && bytes[i - 1] == b' ' {
            i -= 1;
        }
        if i > 0 && bytes[i - 1] == b'-' {
            return span.start.col().checked_sub(at - i + 1);
        }
        None
    }

    fn end(&mut self, span: &Span) -> Result<(), FormatError> {
        let Some(mut frame) = self.stack.pop() else {
            return Err(syntax(span, "unexpected end of collection"));
        };
        // Comments before the end stay in this collection while indented inside it; the rest go up.
        let parent_indent = self.stack.last().map(|p| p.indent);
        let keep = match parent_indent {
            None => self.pending.len(),
            Some(p) => self
                .pending
                .iter()
                .position(|c| !(c.column >= frame.indent && c.column > p))
                .unwrap_or(self.pending.len()),
        };
        push_comments(&mut frame.body, self.pending.drain(..keep));
        let value = match frame.body {
            Body::Map { items, key, .. } => {
                if let Some((_, key_span)) = key {
                    return Err(syntax(&key_span, "mapping key without a value"));
                }
                Value::Map(Map(items))
            }
            Body::Seq(items) => Value::Seq(items),
        };
        let done = Done {
            value,
            key_text: None,
            nodes: frame.nodes,
            depth: frame.depth,
            bytes: frame.bytes,
        };
        if frame.anchor != 0 {
            self.anchors.insert(
                frame.anchor,
                Anchored {
                    value: done.value.clone(),
                    key_text: None,
                    nodes: done.nodes,
                    depth: done.depth,
                    bytes: done.bytes,
                },
            );
        }
        if self.stack.is_empty() {
            let Value::Map(map) = done.value else {
                return Err(FormatError::Invalid(
                    "YAML documents that are sequences are not supported".into(),
                ));
            };
            self.docs.push(map);
            return Ok(());
        }
        // Comments left over belong further out: keep them pending past this node.
        let carried = std::mem::take(&mut self.pending);
        self.node(done, span)?;
        self.pending.splice(0..0, carried);
        Ok(())
    }

    /// Adds a finished node to the collection being read, or makes it a document root.
    fn node(&mut self, done: Done, span: &Span) -> Result<(), FormatError> {
        if self.awaiting_root {
            self.awaiting_root = false;
            return match done.value {
                Value::Null => {
                    let mut map = Map::new();
                    for c in self.pending.drain(..) {
                        map.0.push(MapItem::Comment(c.text));
                    }
                    self.docs.push(map);
                    Ok(())
                }
                Value::Map(_) | Value::Seq(_) => Err(FormatError::Invalid(
                    "YAML documents that are sequences are not supported".into(),
                )),
                _ => Err(FormatError::Invalid(
                    "YAML documents that are values are not supported".into(),
                )),
            };
        }
        let is_key = matches!(
            self.stack.last(),
            Some(Frame {
                body: Body::Map { key: None, .. },
                ..
            })
        );
        if is_key
            || matches!(
                self.stack.last(),
                Some(Frame {
                    body: Body::Seq(_),
                    ..
                })
            )
        {
            self.flush_pending();
        }
        let Some(frame) = self.stack.last_mut() else {
            return Err(syntax(span, "unexpected node outside a document"));
        };
        frame.nodes = frame.nodes.saturating_add(done.nodes);
        frame.depth = frame.depth.max(done.depth + 1);
        frame.bytes = frame.bytes.saturating_add(done.bytes);
        match &mut frame.body {
            Body::Seq(items) => {
                frame.last_item = Some(items.len());
                items.push(done.value);
            }
            Body::Map { items, key, keys } => match key.take() {
                None => {
                    let Some(text) = done.key_text else {
                        return Err(syntax(span, "mapping keys must be scalars"));
                    };
                    if keys.contains(&text) {
                        return Err(syntax(span, "mapping key already defined"));
                    }
                    *key = Some((text, Box::new(*span)));
                }
                Some((text, _)) => {
                    // Flushed comments between a key and its scalar value go before the entry.
                    if !self.pending.is_empty() {
                        push_comments_map(items, self.pending.drain(..));
                    }
                    keys.insert(text.clone());
                    frame.last_item = Some(items.len());
                    items.push(MapItem::Entry(text, done.value));
                }
            },
        }
        Ok(())
    }
}

fn push_comments(body: &mut Body, comments: impl Iterator<Item = Pending>) {
    match body {
        Body::Map { items, .. } => push_comments_map(items, comments),
        Body::Seq(items) => items.extend(comments.map(|c| Value::Comment(c.text))),
    }
}

fn push_comments_map(items: &mut Vec<MapItem>, comments: impl Iterator<Item = Pending>) {
    items.extend(comments.map(|c| MapItem::Comment(c.text)));
}

/// The typed value of a scalar, as go-yaml decodes it into an `interface{}`.
fn scalar_value(
    text: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    span: &Span,
) -> Result<Value, FormatError> {
    let out_of_range = || FormatError::Unrepresentable {
        line: span.start.line(),
        column: span.start.col() + 1,
        message: OutOfRange::MESSAGE.into(),
    };
    let Some(tag) = tag else {
        return Ok(match style {
            ScalarStyle::Plain => resolve_plain(text).map_err(|_| out_of_range())?,
            _ => Value::Str(text.to_string()),
        });
    };
    let Some(name) = tag.suffix_in_namespace(CORE) else {
        // Local and unknown tags (`!secret`, `!`) keep the text.
        return Ok(Value::Str(text.to_string()));
    };
    let resolved = resolve_plain(text).map_err(|_| out_of_range())?;
    let mismatch = |what: &str| syntax(span, format!("value tagged {what} cannot be read as one"));
    Ok(match name.as_ref() {
        "str" => Value::Str(text.to_string()),
        "timestamp" => match crate::sops::timestamp::from_yaml(text) {
            Some(time) => Value::Time(time),
            None => return Err(mismatch("!!timestamp")),
        },
        "null" => match resolved {
            Value::Null => Value::Null,
            _ => return Err(mismatch("!!null")),
        },
        "bool" => match resolved {
            Value::Bool(b) => Value::Bool(b),
            _ => return Err(mismatch("!!bool")),
        },
        "int" => match resolved {
            Value::Int(i) => Value::Int(i),
            _ => return Err(mismatch("!!int")),
        },
        "float" => match resolved {
            Value::Float(f) => Value::Float(f),
            Value::Int(_) => match go_parse_int(&text.replace('_', "")) {
                // go-yaml converts an integer tagged as float.
                Some(Ok(i)) => Value::Float(i as f64),
                _ => return Err(mismatch("!!float")),
            },
            _ => return Err(mismatch("!!float")),
        },
        "binary" => {
            use base64::Engine;
            let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            match base64::engine::general_purpose::STANDARD.decode(compact) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(s) => Value::Str(s),
                    Err(e) => Value::Bytes(e.into_bytes()),
                },
                Err(_) => return Err(mismatch("!!binary")),
            }
        }
        "map" | "seq" => return Err(syntax(span, "scalar tagged as a collection")),
        _ => Value::Str(text.to_string()),
    })
}
