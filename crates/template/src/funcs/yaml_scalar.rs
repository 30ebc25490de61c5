//! go-yaml v2's scalar rules: which plain texts resolve to non-strings, libyaml's scalar analysis
//! (which styles a text allows), and its map key order.

use std::sync::OnceLock;

/// go-yaml v2's key order: letters after other characters, digit runs compared as numbers.
pub(super) fn key_order(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (ar, br): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    for i in 0..ar.len().min(br.len()) {
        if ar[i] == br[i] {
            continue;
        }
        let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if bl {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an
                .wrapping_mul(10)
                .wrapping_add(i64::from(ar[ai] as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn
                .wrapping_mul(10)
                .wrapping_add(i64::from(br[bi] as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

pub(super) fn printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0a
        || (0x20..=0x7e).contains(&u)
        || (0xa0..=0xd7ff).contains(&u)
        || (0xe000..=0xfffd).contains(&u)
}

pub(super) fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn regex(cell: &'static OnceLock<regex::Regex>, pattern: &str) -> &'static regex::Regex {
    // The patterns are constants; a failure to compile is a programming error caught by tests.
    cell.get_or_init(|| regex::Regex::new(pattern).unwrap_or_else(|_| unreachable!()))
}

pub(super) fn base60() -> &'static regex::Regex {
    static R: OnceLock<regex::Regex> = OnceLock::new();
    regex(&R, r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
}

/// go-yaml v2's float syntax (yamlStyleFloat).
pub(super) fn float_syntax(s: &str) -> bool {
    static FLOAT: OnceLock<regex::Regex> = OnceLock::new();
    regex(
        &FLOAT,
        r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$",
    )
    .is_match(s)
}

/// Integer syntax strconv.ParseInt accepts with base 0 (underscores already removed).
pub(super) fn int_syntax(s: &str) -> bool {
    static INT: OnceLock<regex::Regex> = OnceLock::new();
    regex(
        &INT,
        r"^[-+]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|[0-9]+)$",
    )
    .is_match(s)
}

/// Whether go-yaml v2 would read the text, unquoted, as something other than a string.
pub(super) fn resolves_non_str(s: &str) -> bool {
    static STAMP: OnceLock<regex::Regex> = OnceLock::new();
    const WORDS: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
        "-.Inf", "-.INF", "<<",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let plain = s.replace('_', "");
    match s.chars().next() {
        Some('.') => float_syntax(s),
        Some('+' | '-' | '0'..='9') => {
            let stamp = r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(([Tt][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2}))|( [0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]+)?))?$";
            regex(&STAMP, stamp).is_match(s) || int_syntax(&plain) || float_syntax(&plain)
        }
        _ => false,
    }
}

/// What libyaml's scalar analysis allows.
pub(super) struct Allowed {
    pub block_plain: bool,
    pub single_quoted: bool,
    pub block: bool,
}

pub(super) fn analyze(s: &str) -> Allowed {
    if s.is_empty() {
        return Allowed {
            block_plain: true,
            single_quoted: true,
            block: false,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let blankz =
        |c: Option<&char>| c.is_none_or(|c| matches!(c, ' ' | '\t') || is_break(*c) || *c == '\0');
    let mut block_ind = s.starts_with("---") || s.starts_with("...");
    let (mut line_breaks, mut special) = (false, false);
    let (mut lead_space, mut lead_break, mut trail_space, mut trail_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break, mut prev_space, mut prev_break) =
        (false, false, false, false);
    let mut preceded_ws = true;
    for (i, &c) in chars.iter().enumerate() {
        let followed_ws = chars.get(i + 1).is_none_or(|n| matches!(n, ' ' | '\t'));
        let last = i + 1 == chars.len();
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_ind = true,
                '?' | ':' | '-' if followed_ws => block_ind = true,
                _ => {}
            }
        } else if (c == ':' && followed_ws) || (c == '#' && preceded_ws) {
            block_ind = true;
        }
        if !printable(c) {
            special = true;
        }
        if c == ' ' {
            lead_space |= i == 0;
            trail_space |= last;
            break_space |= prev_break;
            (prev_space, prev_break) = (true, false);
        } else if is_break(c) {
            line_breaks = true;
            lead_break |= i == 0;
            trail_break |= last;
            space_break |= prev_space;
            (prev_space, prev_break) = (false, true);
        } else {
            (prev_space, prev_break) = (false, false);
        }
        preceded_ws = blankz(Some(&c));
    }
    let mut a = Allowed {
        block_plain: true,
        single_quoted: true,
        block: true,
    };
    if lead_space || lead_break || trail_space || trail_break || line_breaks || block_ind {
        a.block_plain = false;
    }
    if trail_space {
        a.block = false;
    }
    if break_space {
        a.single_quoted = false;
    }
    if space_break || special {
        (a.block_plain, a.single_quoted, a.block) = (false, false, false);
    }
    a
}
