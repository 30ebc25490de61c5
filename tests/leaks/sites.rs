//! Who freed a block holding a value: the stack of each find, reduced to the frames of the code that
//! owned the block, grouped by place, and matched against the documented third-party cases.

use std::collections::BTreeMap;

use crate::freed::{Freed, Hit};

/// Frames that only carry a block to the system: the allocator, std's collections and drop glue, and
/// the byte buffers other crates own (the owner is the frame above them).
fn carrier(symbol: &str) -> bool {
    // Drop glue names the type it drops: the owner when that type is not a carrier itself.
    let s = symbol
        .strip_prefix("core::ptr::drop_in_place<")
        .unwrap_or(symbol)
        .trim_start_matches(['<', '&'])
        .trim_start_matches("mut ");
    [
        "std::",
        "core::",
        "alloc::",
        "leaks::",
        "__rust",
        "__rustc::",
        "bytes::",
        "hashbrown::",
        "zeroize::",
    ]
    .iter()
    .any(|p| s.starts_with(p))
}

/// The symbols of a trace, innermost first, without carriers.
fn owner_frames(hit: &Hit) -> Vec<String> {
    let Some(trace) = &hit.trace else {
        return Vec::new();
    };
    trace
        .to_string()
        .lines()
        .filter_map(|l| {
            let (n, symbol) = l.trim_start().split_once(": ")?;
            n.parse::<usize>().ok()?;
            Some(symbol.trim().to_string())
        })
        .filter(|s| !carrier(s))
        .collect()
}

/// A third-party place that keeps a copy we cannot zeroize, with the reason it is accepted.
pub struct Allowed {
    /// The innermost owning frame starts with this.
    pub frame: &'static str,
    /// …and one of the frames below it (towards `main`) starts with this (empty: any).
    pub called_from: &'static str,
    /// …and the value found is one of these (by name).
    pub values: &'static [&'static str],
    pub reason: &'static str,
}

/// The finds of one run, grouped.
pub struct Sites {
    /// Owning frames (the first few) → (count, smallest and largest block, needles, how freed).
    pub groups: BTreeMap<Vec<String>, Group>,
    pub untraced: usize,
}

#[derive(Default)]
pub struct Group {
    pub count: usize,
    pub sizes: (usize, usize),
    pub needles: std::collections::BTreeSet<usize>,
    pub moved: usize,
    /// The documented case it falls under, if any.
    pub allowed: Option<&'static str>,
    /// The whole owning stack of the first find, for the report.
    pub stack: Vec<String>,
}

pub fn group(hits: &[Hit], allowed: &[Allowed], names: &[String]) -> Sites {
    let mut groups: BTreeMap<Vec<String>, Group> = BTreeMap::new();
    let mut untraced = 0;
    for hit in hits {
        if hit.trace.is_none() {
            untraced += 1;
            continue;
        }
        let frames = owner_frames(hit);
        let case = allowed_case(&frames, allowed, &names[hit.needle]);
        let mut key: Vec<String> = frames.iter().take(3).cloned().collect();
        key.push(case.unwrap_or("not allowed").into());
        let g = groups.entry(key).or_insert_with(|| Group {
            sizes: (usize::MAX, 0),
            allowed: case,
            stack: frames.iter().take(25).cloned().collect(),
            ..Group::default()
        });
        g.count += 1;
        g.sizes = (g.sizes.0.min(hit.size), g.sizes.1.max(hit.size));
        g.needles.insert(hit.needle);
        g.moved += usize::from(hit.how == Freed::Moved);
    }
    Sites { groups, untraced }
}

fn allowed_case(frames: &[String], allowed: &[Allowed], value: &str) -> Option<&'static str> {
    let first = frames.first()?;
    allowed
        .iter()
        .find(|a| {
            a.values.contains(&value)
                && first.starts_with(a.frame)
                && (a.called_from.is_empty()
                    || frames[1..].iter().any(|f| f.starts_with(a.called_from)))
        })
        .map(|a| a.reason)
}

impl Sites {
    /// The groups no documented case covers.
    pub fn unexplained(&self) -> impl Iterator<Item = (&Vec<String>, &Group)> {
        self.groups.iter().filter(|(_, g)| g.allowed.is_none())
    }

    /// A readable account of every group.
    pub fn report(&self, names: &[String]) -> String {
        let mut out = String::new();
        for (key, g) in &self.groups {
            let needles: Vec<&str> = g.needles.iter().map(|&i| names[i].as_str()).collect();
            out += &format!(
                "\n{} block(s) of {}..{} bytes ({} moved by realloc) holding {:?}: {}\n",
                g.count,
                g.sizes.0,
                g.sizes.1,
                g.moved,
                needles,
                g.allowed
                    .map(|r| format!("allowed: {r}"))
                    .unwrap_or_else(|| "NOT ALLOWED".into()),
            );
            let shown = if g.allowed.is_some() {
                &key[..key.len() - 1]
            } else {
                &g.stack[..]
            };
            for f in shown {
                out += &format!("    {f}\n");
            }
        }
        out
    }
}
