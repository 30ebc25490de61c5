//! The YAML input before parsing, and the parser's errors after: decoding (UTF-8, or UTF-16 with a
//! BOM), the characters YAML forbids, and error messages with a position that never quote the input.

use std::borrow::Cow;

use granit_parser::{ScanError, Span};

use crate::sops::stores::limits::MAX_DEPTH;
use crate::sops::stores::FormatError;

/// The input as text: UTF-8 (a BOM is dropped; borrowed, not copied) or, as go-yaml also accepts,
/// UTF-16 with a BOM.
pub(super) fn decode(input: &[u8]) -> Result<Cow<'_, str>, FormatError> {
    let utf16 = |units: Vec<u16>| {
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map(Cow::Owned)
            .map_err(|_| FormatError::Invalid("invalid UTF-16 in YAML input".into()))
    };
    if let Some(rest) = input.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(
            rest.chunks(2)
                .map(|c| u16::from_le_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect(),
        );
    }
    if let Some(rest) = input.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(
            rest.chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect(),
        );
    }
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    match std::str::from_utf8(input) {
        Ok(s) => Ok(Cow::Borrowed(s)),
        Err(e) => {
            let (line, column) = position(&input[..e.valid_up_to()]);
            Err(FormatError::Syntax {
                line,
                column,
                message: "invalid UTF-8 in YAML input".into(),
            })
        }
    }
}

/// 1-based line and column just after `prefix` (which is valid UTF-8).
pub(super) fn position(prefix: &[u8]) -> (usize, usize) {
    let text = String::from_utf8_lossy(prefix);
    let line = text.matches('\n').count() + 1;
    let column = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// go-yaml refuses control characters anywhere in the input.
pub(super) fn check_characters(text: &str) -> Result<(), FormatError> {
    let allowed = |c: char| {
        matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
            || c >= '\u{10000}'
    };
    // Most input is printable ASCII: a byte test, before the scan by characters.
    let plain_ascii = |b: &u8| matches!(b, b'\t' | b'\n' | b'\r' | b' '..=b'~');
    if text.as_bytes().iter().all(plain_ascii) {
        return Ok(());
    }
    match text.char_indices().find(|&(_, c)| !allowed(c)) {
        None => Ok(()),
        Some((at, _)) => {
            let (line, column) = position(&text.as_bytes()[..at]);
            Err(FormatError::Syntax {
                line,
                column,
                message: "control characters are not allowed".into(),
            })
        }
    }
}

pub(super) fn scan_error(e: ScanError) -> FormatError {
    use granit_parser::ErrorKind as K;
    let kind = e.kind();
    let message = match kind {
        K::RecursionLimitExceeded => {
            return FormatError::Limit(format!("YAML nesting deeper than {MAX_DEPTH} levels"));
        }
        // These carry text from the input, which must not reach a message.
        K::UnexpectedCharacter { .. } => "unexpected character".to_string(),
        K::Custom(_) | K::InputDecoding { .. } | K::InputIo { .. } => "invalid YAML".to_string(),
        other => other.to_string(),
    };
    let marker = e.marker();
    FormatError::Syntax {
        line: marker.line(),
        column: marker.col() + 1,
        message,
    }
}

pub(super) fn syntax(span: &Span, message: impl Into<String>) -> FormatError {
    FormatError::Syntax {
        line: span.start.line(),
        column: span.start.col() + 1,
        message: message.into(),
    }
}
