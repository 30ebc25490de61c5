//! Template errors: where (template name, line) and why, never a secret value.

/// Why a template could not be parsed or executed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    /// The source is not valid template syntax.
    #[error("{0}")]
    Syntax(String),
    /// A function outside the supported subset (refused at parse time, as Go refuses undefined ones).
    #[error("function {0:?} not defined")]
    UnknownFunction(String),
    /// A construct Go has but this engine refuses (`define`, `template`, `block`).
    #[error("{0:?} is not supported")]
    Unsupported(String),
    /// `missingkey=error`: a field names a key the map lacks.
    #[error("map has no entry for key {0:?}")]
    MissingKey(String),
    /// A bound was exceeded.
    #[error("{bound} exceeded (limit {limit})")]
    Limit { bound: &'static str, limit: usize },
    /// Execution failed (wrong types, a function's error); names types, never values.
    #[error("{0}")]
    Exec(String),
}

/// An error naming the template, the line (1-based) and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template: {template}:{line}: {reason}")]
pub struct TemplateError {
    pub template: String,
    pub line: usize,
    pub reason: Reason,
}

/// An error before its template name is known (lexer, parser, evaluator internals).
pub(crate) type Located = (usize, Reason);

pub(crate) fn exec(line: usize, msg: impl Into<String>) -> Located {
    (line, Reason::Exec(msg.into()))
}

pub(crate) fn syntax(line: usize, msg: impl Into<String>) -> Located {
    (line, Reason::Syntax(msg.into()))
}

pub(crate) fn limit(line: usize, bound: &'static str, limit: usize) -> Located {
    (line, Reason::Limit { bound, limit })
}
