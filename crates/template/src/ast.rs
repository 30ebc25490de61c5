//! The parsed template tree: Go text/template's nodes, reduced to what this engine executes.

use crate::funcs::Func;
use crate::value::Bytes;

#[derive(Debug)]
pub(crate) enum Node {
    Text(Vec<u8>),
    /// `{{ pipeline }}`: prints the value unless the pipeline declares or assigns variables.
    Action(Pipe),
    If(Control),
    Range(Control),
    With(Control),
    Break,
    Continue,
}

/// `if`, `range` and `with`: a pipeline, a body and an optional `{{else}}` body.
#[derive(Debug)]
pub(crate) struct Control {
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

/// Commands joined by `|`, optionally declaring (`:=`) or assigning (`=`) variables.
#[derive(Debug)]
pub(crate) struct Pipe {
    pub line: usize,
    pub decl: Vec<String>,
    pub assign: bool,
    pub cmds: Vec<Cmd>,
}

/// One command: an operand, or a function and its arguments.
#[derive(Debug)]
pub(crate) struct Cmd {
    pub line: usize,
    pub args: Vec<Arg>,
}

#[derive(Debug)]
pub(crate) enum Arg {
    Dot,
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Bytes),
    /// `.a.b`: fields of dot.
    Field(Vec<String>),
    /// `$x.a.b`: a variable and fields of it.
    Var(String, Vec<String>),
    /// A function: with the command's other arguments when first, with none elsewhere.
    Func(Func),
    /// `(pipeline).a.b`.
    Chain(Box<Pipe>, Vec<String>),
}
