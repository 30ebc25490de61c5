//! Go `text/template` + Sprig as External Secrets Operator's template engine v2 runs them
//! (`missingkey=error`), so that `ExternalSecret.spec.target.template` renders byte-for-byte as ESO.
//!
//! The public API is small:
//!
//! ```
//! use std::collections::BTreeMap;
//! use sealsync_template::{render_map, Data, Template};
//! use zeroize::Zeroizing;
//!
//! let mut values = BTreeMap::new();
//! values.insert("user".to_string(), Zeroizing::new(b"admin".to_vec()));
//! let data = Data::new(&values);
//!
//! let t = Template::parse("config.yaml", "user: {{ .user | upper }}").unwrap();
//! assert_eq!(&t.execute(&data).unwrap()[..], b"user: ADMIN");
//!
//! let mut templates = BTreeMap::new();
//! templates.insert("auth".to_string(), "{{ .user | b64enc }}".to_string());
//! let out = render_map(&templates, &data).unwrap();
//! assert_eq!(&out["auth"][..], b"YWRtaW4=");
//! ```
//!
//! - [`Template::parse`] refuses bad syntax and any function outside the supported set, naming it.
//! - [`Template::execute`] renders bytes (Go strings are bytes), zeroized on drop.
//! - [`Data`] holds the secret values (`{{ .password }}`); [`TemplateError`] names template, line, reason.
//! - [`Limits`] bounds source size, nesting, output, steps and value depth; exceeding one is an error.
//!
//! Supported: actions with trim markers and comments; string, raw string, char, number, bool and
//! nil literals; pipelines, parenthesised pipelines, variables (`:=`, `=`, `$`), field chains;
//! `if`/`else if`/`else`, `range` (with `$i, $v :=`, `else`, `break`, `continue`), `with`/`else with`;
//! builtins `and or not eq ne lt le gt ge len index printf print println`; Sprig's `b64enc b64dec
//! toJson fromJson toPrettyJson toYaml fromYaml default quote squote trim trimPrefix trimSuffix upper
//! lower replace indent nindent split splitList join regexReplaceAll dict get hasKey sha256sum list`.
//! `define`, `template` and `block` are refused. `range` over an int follows Go 1.22+ (ESO's Go).
//!
//! Fidelity is checked against Go itself: `testdata/golden.json` holds what Go's text/template
//! rendered for every case in `testdata/cases.json` (see `testdata/README.md`). Known differences:
//! parse errors inside `fromYaml` keep go-yaml's line numbering but granit-parser's wording; `quote`
//! decides which non-ASCII characters are printable from Rust's character properties, not Go's
//! tables; `toYaml` does not write go-yaml's `? ` form for keys over 128 characters; error
//! messages name the template and line but not Go's column and command.

mod ast;
mod error;
mod eval;
mod funcs;
mod lexer;
mod parser;
mod value;

pub use error::{Reason, TemplateError};
pub use value::Data;

use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// Bounds that hold for any template and data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest template source, in bytes.
    pub max_source: usize,
    /// Deepest nesting of control structures and parentheses.
    pub max_depth: usize,
    /// Largest output, and largest value a function may build, in bytes.
    pub max_output: usize,
    /// Most evaluation steps (nodes, commands, range iterations) one execution may take.
    pub max_steps: usize,
    /// Deepest value `fromJson`/`fromYaml`/`dict`/`list` may build.
    pub max_value_depth: usize,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        max_source: 64 * 1024,
        max_depth: 100,
        max_output: 1024 * 1024,
        max_steps: 200_000,
        max_value_depth: 100,
    };
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::DEFAULT
    }
}

/// A parsed template, ready to execute any number of times.
pub struct Template {
    name: String,
    root: Vec<ast::Node>,
    limits: Limits,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Template {
    /// Parses `source` with the default [`Limits`]; `name` appears in errors (ESO uses the data key).
    pub fn parse(name: &str, source: &str) -> Result<Template, TemplateError> {
        Template::parse_with_limits(name, source, Limits::DEFAULT)
    }

    /// Parses `source` within `limits`.
    pub fn parse_with_limits(
        name: &str,
        source: &str,
        limits: Limits,
    ) -> Result<Template, TemplateError> {
        let located = |(line, reason)| TemplateError {
            template: name.to_string(),
            line,
            reason,
        };
        if source.len() > limits.max_source {
            let reason = Reason::Limit {
                bound: "template source size",
                limit: limits.max_source,
            };
            return Err(located((1, reason)));
        }
        let tokens = lexer::lex(source).map_err(located)?;
        let root = parser::parse(tokens, limits.max_depth).map_err(located)?;
        Ok(Template {
            name: name.to_string(),
            root,
            limits,
        })
    }

    /// Renders the template against `data`.
    pub fn execute(&self, data: &Data) -> Result<Zeroizing<Vec<u8>>, TemplateError> {
        eval::execute(&self.root, data.value(), &self.limits).map_err(|(line, reason)| {
            TemplateError {
                template: self.name.clone(),
                line,
                reason,
            }
        })
    }
}

/// Rendered values by key.
pub type Rendered = BTreeMap<String, Zeroizing<Vec<u8>>>;

/// Renders each template (key → source) as ESO does for `target.template.data`; the first
/// failure is returned with its key.
pub fn render_map(
    templates: &BTreeMap<String, String>,
    data: &Data,
) -> Result<Rendered, (String, TemplateError)> {
    let mut out = BTreeMap::new();
    for (key, source) in templates {
        let rendered = Template::parse(key, source).and_then(|t| t.execute(data));
        out.insert(key.clone(), rendered.map_err(|e| (key.clone(), e))?);
    }
    Ok(out)
}
