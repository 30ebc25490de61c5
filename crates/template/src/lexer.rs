//! Splits template source into text and action tokens as Go's text/template lexer does,
//! applying trim markers (`{{- `, ` -}}`) and dropping comments.

use crate::error::{syntax, Located};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Text(Vec<u8>),
    Left,
    Right,
    Ident(String),
    Field(String),
    Var(String),
    Dot,
    Str(Vec<u8>),
    Num(String),
    Char(i64),
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
    Space,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub line: usize,
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    line: usize,
    out: Vec<Token>,
}

const LEFT: &str = "{{";
const RIGHT: &str = "}}";

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Tokenizes `src`. Text between actions keeps its bytes; trim markers are already applied.
pub(crate) fn lex(src: &str) -> Result<Vec<Token>, Located> {
    let mut lx = Lexer {
        src,
        pos: 0,
        line: 1,
        out: Vec::new(),
    };
    lx.run()?;
    Ok(lx.out)
}

impl Lexer<'_> {
    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn emit(&mut self, tok: Tok, line: usize) {
        self.out.push(Token { tok, line });
    }

    fn run(&mut self) -> Result<(), Located> {
        let mut trim_next = false;
        loop {
            let text_end = self
                .rest()
                .find(LEFT)
                .map_or(self.src.len(), |i| self.pos + i);
            let mut text = &self.src[self.pos..text_end];
            let line = self.line;
            if trim_next {
                text = text.trim_start_matches(is_space);
            }
            let left_trim = self.src[text_end..].starts_with("{{- ")
                || ["{{-\t", "{{-\r", "{{-\n"]
                    .iter()
                    .any(|m| self.src[text_end..].starts_with(m));
            if left_trim {
                text = text.trim_end_matches(is_space);
            }
            while self.pos < text_end {
                self.bump();
            }
            if !text.is_empty() {
                self.emit(Tok::Text(text.as_bytes().to_vec()), line);
            }
            if self.pos >= self.src.len() {
                return Ok(());
            }
            self.pos += LEFT.len();
            if left_trim {
                // The marker is "- ": a dash and one white-space character.
                self.bump();
                self.bump();
            }
            trim_next = self.action()?;
        }
    }

    /// Lexes one action after its left delimiter; returns whether it ended with a trim marker.
    fn action(&mut self) -> Result<bool, Located> {
        let start_line = self.line;
        // A comment directly after the delimiter (and its trim marker's space), as Go requires.
        if self.rest().starts_with("/*") {
            return self.comment(start_line);
        }
        self.emit(Tok::Left, start_line);
        loop {
            if self.rest().starts_with(RIGHT) {
                self.pos += RIGHT.len();
                self.emit(Tok::Right, self.line);
                return Ok(false);
            }
            let Some(c) = self.peek() else {
                return Err(syntax(start_line, "unclosed action"));
            };
            let line = self.line;
            if is_space(c) {
                let spaces = self.rest().len() - self.rest().trim_start_matches(is_space).len();
                if self.rest()[spaces..].starts_with("-}}") {
                    for _ in 0..spaces + 3 {
                        self.bump();
                    }
                    self.emit(Tok::Right, line);
                    return Ok(true);
                }
                for _ in 0..spaces {
                    self.bump();
                }
                self.emit(Tok::Space, line);
                continue;
            }
            self.token(c, line)?;
        }
    }

    fn comment(&mut self, line: usize) -> Result<bool, Located> {
        let Some(end) = self.rest().find("*/") else {
            return Err(syntax(line, "unclosed comment"));
        };
        for _ in 0..end + 2 {
            self.bump();
        }
        if self.rest().starts_with(RIGHT) {
            self.pos += RIGHT.len();
            return Ok(false);
        }
        if self.rest().starts_with(" -}}") {
            self.pos += 4;
            return Ok(true);
        }
        Err(syntax(line, "comment ends before closing delimiter"))
    }

    fn token(&mut self, c: char, line: usize) -> Result<(), Located> {
        let next = self.rest().chars().nth(1);
        match c {
            '|' => self.single(Tok::Pipe, line),
            '(' => self.single(Tok::LParen, line),
            ')' => self.single(Tok::RParen, line),
            ',' => self.single(Tok::Comma, line),
            '=' => self.single(Tok::Assign, line),
            ':' if next == Some('=') => {
                self.pos += 2;
                self.emit(Tok::Declare, line);
            }
            '"' => {
                let s = self.quoted(line)?;
                self.emit(Tok::Str(s), line);
            }
            '`' => {
                let s = self.raw(line)?;
                self.emit(Tok::Str(s), line);
            }
            '\'' => {
                let c = self.char_lit(line)?;
                self.emit(Tok::Char(c), line);
            }
            '$' => {
                self.bump();
                let name = self.word();
                self.emit(Tok::Var(format!("${name}")), line);
            }
            '.' if next.is_some_and(|n| n.is_ascii_digit()) => self.number(line)?,
            '.' => {
                self.bump();
                if self.peek().is_some_and(is_alnum) {
                    let name = self.word();
                    self.emit(Tok::Field(name), line);
                } else {
                    self.emit(Tok::Dot, line);
                }
            }
            '+' | '-' if next.is_some_and(|n| n.is_ascii_digit() || n == '.') => {
                self.number(line)?
            }
            c if c.is_ascii_digit() => self.number(line)?,
            c if is_alnum(c) => {
                let w = self.word();
                self.emit(Tok::Ident(w), line);
            }
            c => return Err(syntax(line, format!("unexpected {c:?} in command"))),
        }
        Ok(())
    }

    fn single(&mut self, tok: Tok, line: usize) {
        self.bump();
        self.emit(tok, line);
    }

    fn word(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(is_alnum) {
            self.bump();
        }
        self.src[start..self.pos].to_string()
    }

    fn number(&mut self, line: usize) -> Result<(), Located> {
        let start = self.pos;
        if matches!(self.peek(), Some('+' | '-')) {
            self.bump();
        }
        // Digits of any base, '_', '.', exponents with signs: validated when parsed.
        while let Some(c) = self.peek() {
            let exp_sign = matches!(c, '+' | '-')
                && matches!(
                    self.src[..self.pos].chars().last(),
                    Some('e' | 'E' | 'p' | 'P')
                )
                && !self.src[start..self.pos].starts_with("0x");
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' || exp_sign {
                self.bump();
            } else {
                break;
            }
        }
        let text = self.src[start..self.pos].to_string();
        if self.peek().is_some_and(is_alnum) {
            return Err(syntax(line, format!("bad number syntax: {text:?}")));
        }
        self.emit(Tok::Num(text), line);
        Ok(())
    }

    fn raw(&mut self, line: usize) -> Result<Vec<u8>, Located> {
        self.bump();
        let Some(end) = self.rest().find('`') else {
            return Err(syntax(line, "unterminated raw quoted string"));
        };
        let body: Vec<u8> = self.rest()[..end].bytes().filter(|b| *b != b'\r').collect();
        for _ in 0..end + 1 {
            self.bump();
        }
        Ok(body)
    }

    fn quoted(&mut self, line: usize) -> Result<Vec<u8>, Located> {
        self.bump();
        let mut out = Vec::new();
        loop {
            match self.bump() {
                None | Some('\n') => return Err(syntax(line, "unterminated quoted string")),
                Some('"') => return Ok(out),
                Some('\\') => self.escape(line, '"', &mut out)?,
                Some(c) => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
    }

    fn char_lit(&mut self, line: usize) -> Result<i64, Located> {
        self.bump();
        let mut out = Vec::new();
        match self.bump() {
            None | Some('\n') | Some('\'') => return Err(syntax(line, "bad character constant")),
            Some('\\') => self.escape(line, '\'', &mut out)?,
            Some(c) => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
        if self.bump() != Some('\'') {
            return Err(syntax(line, "unterminated character constant"));
        }
        let text = String::from_utf8_lossy(&out);
        match (out.len(), text.chars().next()) {
            (1, _) => Ok(i64::from(out[0])),
            (_, Some(c)) => Ok(i64::from(u32::from(c))),
            _ => Err(syntax(line, "bad character constant")),
        }
    }

    /// One escape after a backslash, as Go's strconv.Unquote reads it.
    fn escape(&mut self, line: usize, quote: char, out: &mut Vec<u8>) -> Result<(), Located> {
        let bad = || syntax(line, "invalid syntax in quoted string");
        let c = self.bump().ok_or_else(bad)?;
        let simple = match c {
            'a' => Some(7u8),
            'b' => Some(8),
            'f' => Some(12),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(11),
            '\\' => Some(b'\\'),
            c if c == quote => Some(c as u8),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            return Ok(());
        }
        let (digits, radix) = match c {
            'x' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            '0'..='7' => (3, 8),
            _ => return Err(bad()),
        };
        let mut text = String::new();
        if radix == 8 {
            text.push(c);
        }
        while text.len() < digits {
            text.push(self.bump().ok_or_else(bad)?);
        }
        let v = u32::from_str_radix(&text, radix).map_err(|_| bad())?;
        if matches!(c, 'x' | '0'..='7') {
            out.push(u8::try_from(v).map_err(|_| bad())?);
        } else {
            let ch = char::from_u32(v).ok_or_else(bad)?;
            out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
        }
        Ok(())
    }
}
