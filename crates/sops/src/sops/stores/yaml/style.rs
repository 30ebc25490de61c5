//! How go-yaml v3 writes a string scalar: the choice of plain, single-quoted, double-quoted or literal
//! style, and the escapes of a double-quoted string.

use super::resolve::{needs_quotes_for_compat, resolves_to_str};

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// go-yaml's line breaks.
pub(super) fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// What go-yaml's emitter writes as is (others it escapes in double quotes).
fn is_printable(c: char) -> bool {
    matches!(c, '\n' | ' '..='~' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        && c != '\u{FEFF}'
}

/// The style go-yaml v3 picks for a string: plain unless it would read back as another type or is not
/// plain-safe, then single quotes if they can hold it, else double quotes; multi-line strings as literal
/// blocks where a block can hold them exactly (`block_ok` is false for keys).
pub(super) fn str_style(s: &str, block_ok: bool) -> Style {
    let a = analyze(s);
    if s.contains('\n') {
        // Unicode line separators would be re-read differently by YAML 1.1 and 1.2 readers.
        let exotic = s.contains(['\u{2028}', '\u{2029}']);
        return if block_ok && a.block_allowed && !exotic {
            Style::Literal
        } else {
            Style::Double
        };
    }
    let typed = !resolves_to_str(s) || needs_quotes_for_compat(s);
    if typed {
        return Style::Double;
    }
    if a.plain_allowed {
        Style::Plain
    } else if a.single_allowed {
        Style::Single
    } else {
        Style::Double
    }
}

#[cfg_attr(test, derive(Debug, PartialEq))]
struct Analysis {
    plain_allowed: bool,
    single_allowed: bool,
    block_allowed: bool,
}

/// go-yaml's `yaml_emitter_analyze_scalar`, for block context.
fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            plain_allowed: true,
            single_allowed: true,
            block_allowed: false,
        };
    }
    if s.bytes().all(|b| b.is_ascii_graphic()) {
        analyze_graphic_ascii(s)
    } else {
        analyze_chars(s)
    }
}

/// `analyze_chars` for the common case (keys, tokens, ciphertexts) of printable ASCII without
/// whitespace: nothing can be a break, a tab, special or leading/trailing space, and `#` never follows
/// whitespace, so only the ends of the string decide whether it may be plain.
fn analyze_graphic_ascii(s: &str) -> Analysis {
    let b = s.as_bytes();
    let alone = b.len() == 1;
    let block_indicators = s.starts_with("---")
        || s.starts_with("...")
        || matches!(
            b[0],
            b'#' | b','
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b'&'
                | b'*'
                | b'!'
                | b'|'
                | b'>'
                | b'\''
                | b'"'
                | b'%'
                | b'@'
                | b'`'
        )
        || (alone && matches!(b[0], b'?' | b':' | b'-'))
        || b[b.len() - 1] == b':';
    Analysis {
        plain_allowed: !block_indicators,
        single_allowed: true,
        block_allowed: true,
    }
}

fn analyze_chars(s: &str) -> Analysis {
    let mut block_indicators = s.starts_with("---") || s.starts_with("...");
    let (mut line_breaks, mut special, mut tabs) = (false, false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_whitespace = true;
    let mut chars = s.chars().peekable();
    let mut first = true;
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let followed_by_whitespace = matches!(next, None | Some(' ' | '\t'));
        let last = next.is_none();
        if first {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => {
                    block_indicators = true;
                }
                '?' | ':' | '-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_whitespace => block_indicators = true,
                '#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if c == '\t' {
            tabs = true;
        } else if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            leading_space |= first;
            trailing_space |= last;
            break_space |= previous_break;
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            leading_break |= first;
            trailing_break |= last;
            space_break |= previous_space;
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = c == ' ' || c == '\t' || is_break(c);
        first = false;
    }
    let mut a = Analysis {
        plain_allowed: true,
        single_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.plain_allowed = false;
        a.single_allowed = false;
    }
    if space_break || tabs || special {
        a.plain_allowed = false;
        a.single_allowed = false;
    }
    if space_break || special {
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.plain_allowed = false;
    }
    a
}

/// go-yaml's double-quoted form: escapes for what is not printable, quotes and backslashes.
pub(super) fn write_double_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        let escape = !is_printable(c) || c == '\u{FEFF}' || is_break(c) || c == '"' || c == '\\';
        if !escape {
            out.push(c);
            continue;
        }
        match c {
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{85}' => out.push_str("\\N"),
            '\u{A0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if (c as u32) <= 0xFF => out.push_str(&format!("\\x{:02X}", c as u32)),
            c if (c as u32) <= 0xFFFF => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn styles() {
        let cases = [
            ("plain", Style::Plain),
            ("héllo wörld ✓", Style::Plain),
            ("", Style::Double),
            ("true", Style::Double),
            ("123", Style::Double),
            ("null", Style::Double),
            ("1e3", Style::Double),
            ("yes", Style::Double),
            ("2026-11-22T03:46:25Z", Style::Double),
            (" lead", Style::Single),
            ("trail ", Style::Single),
            ("a: b", Style::Single),
            ("a #b", Style::Single),
            ("a#b", Style::Plain),
            ("a:b", Style::Plain),
            ("- x", Style::Single),
            ("-x", Style::Plain),
            ("*x", Style::Single),
            ("it's", Style::Plain),
            ("'q'", Style::Single),
            ("tab\there", Style::Double),
            ("emoji 🙂", Style::Double),
            ("a\nb", Style::Literal),
            ("a \nb", Style::Double),
            (
                "ENC[AES256_GCM,data:Rg==,iv:x,tag:y,type:str]",
                Style::Plain,
            ),
            ("^(data|stringData)$", Style::Plain),
        ];
        for (s, want) in cases {
            assert_eq!(str_style(s, true), want, "{s:?}");
        }
    }

    /// The printable-ASCII shortcut agrees with the character scan on every string of up to three
    /// characters from an alphabet of indicators and ordinary characters, and on longer samples.
    #[test]
    fn graphic_ascii_analysis_matches_the_scan() {
        let alphabet: Vec<char> = "-.:?#,[]{}&*!|>'\"%@`aZ0_=/+~^$()".chars().collect();
        let mut samples: Vec<String> = vec![
            "---".into(),
            "...".into(),
            "--x".into(),
            "..x".into(),
            "ENC[AES256_GCM,data:Rg==,iv:x,tag:y,type:str]".into(),
            "key:".into(),
            "a:b:".into(),
            "#x".into(),
            "x#".into(),
        ];
        for &a in &alphabet {
            samples.push(a.to_string());
            for &b in &alphabet {
                samples.push(format!("{a}{b}"));
                for &c in &alphabet {
                    samples.push(format!("{a}{b}{c}"));
                }
            }
        }
        for s in samples {
            assert!(s.bytes().all(|b| b.is_ascii_graphic()), "{s:?}");
            assert_eq!(analyze_graphic_ascii(&s), analyze_chars(&s), "{s:?}");
        }
    }

    #[test]
    fn double_quote_escapes() {
        let mut out = String::new();
        write_double_quoted(&mut out, "a\"b\\c\td\u{1}\u{feff}🙂é");
        assert_eq!(out, "\"a\\\"b\\\\c\\td\\x01\\uFEFF\\U0001F642é\"");
    }
}
