//! Timestamps as sops handles them: go-yaml v3 reads an unquoted `2025-06-30` or RFC 3339 scalar as a
//! `time.Time`, sops encrypts it as `type:time` with the text of `time.Time.MarshalText` (RFC 3339 with
//! nanoseconds, trailing zeros dropped), and writes it back in that form.
//!
//! Only the text is kept (`Value::Time` holds the canonical form): it is what sops encrypts, hashes
//! into the MAC and prints, so two timestamps are equal exactly when their texts are.

/// The formats go-yaml v3 tries, in order (`resolve.go`, `allowedTimestampFormats`), as Go layouts.
const YAML_LAYOUTS: [&[Field]; 4] = [
    &[
        Field::Year,
        Field::Lit(b'-'),
        Field::Num,
        Field::Lit(b'-'),
        Field::Num,
        Field::Lit(b'T'),
        Field::Num,
        Field::Lit(b':'),
        Field::Num,
        Field::Lit(b':'),
        Field::Num,
        Field::Fraction,
        Field::Zone,
    ],
    &[
        Field::Year,
        Field::Lit(b'-'),
        Field::Num,
        Field::Lit(b'-'),
        Field::Num,
        Field::Lit(b't'),
        Field::Num,
        Field::Lit(b':'),
        Field::Num,
        Field::Lit(b':'),
        Field::Num,
        Field::Fraction,
        Field::Zone,
    ],
    &[
        Field::Year,
        Field::Lit(b'-'),
        Field::Num,
        Field::Lit(b'-'),
        Field::Num,
        Field::Spaces,
        Field::Num,
        Field::Lit(b':'),
        Field::Num,
        Field::Lit(b':'),
        Field::Num,
        Field::Fraction,
    ],
    &[
        Field::Year,
        Field::Lit(b'-'),
        Field::Num,
        Field::Lit(b'-'),
        Field::Num,
    ],
];

/// RFC 3339 as `time.Time.UnmarshalText` reads it: fixed two-digit fields.
const RFC3339: &[Field] = &[
    Field::Year,
    Field::Lit(b'-'),
    Field::Fixed,
    Field::Lit(b'-'),
    Field::Fixed,
    Field::Lit(b'T'),
    Field::Fixed,
    Field::Lit(b':'),
    Field::Fixed,
    Field::Lit(b':'),
    Field::Fixed,
    Field::Fraction,
    Field::Zone,
];

/// One element of a Go layout, as `time.Parse` matches it.
#[derive(Clone, Copy)]
enum Field {
    /// `2006`: exactly four digits.
    Year,
    /// `1`, `2`, `15`, `4`, `5`: one or two digits.
    Num,
    /// `01`, `02`, `04`, ...: exactly two digits.
    Fixed,
    /// `.999999999`: an optional fraction of any length (digits past the ninth are dropped).
    Fraction,
    /// `Z07:00`: `Z` or `±hh:mm`.
    Zone,
    /// A space of the layout: one or more spaces.
    Spaces,
    Lit(u8),
}

/// The canonical text of a plain YAML scalar that go-yaml v3 reads as a timestamp, or `None`.
pub fn from_yaml(text: &str) -> Option<String> {
    // go-yaml's quick check: every timestamp starts with four digits and a dash.
    let b = text.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    YAML_LAYOUTS
        .iter()
        .find_map(|layout| parse(b, layout))
        .and_then(|t| t.marshal())
}

/// The canonical text of a decrypted `type:time` value (RFC 3339), or `None` when it is not one.
pub fn from_rfc3339(text: &str) -> Option<String> {
    parse(text.as_bytes(), RFC3339).and_then(|t| t.marshal())
}

/// A parsed time, in the zone it was written in.
struct Parsed {
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
    /// Seconds east of UTC; 0 is written `Z`.
    offset: i32,
}

impl Parsed {
    /// `time.Time.MarshalText`: RFC 3339 with nanoseconds, trailing zeros of the fraction dropped.
    fn marshal(&self) -> Option<String> {
        if self.year > 9999 {
            return None;
        }
        let mut out = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
        if self.nanos > 0 {
            let digits = format!("{:09}", self.nanos);
            out.push('.');
            out.push_str(digits.trim_end_matches('0'));
        }
        if self.offset == 0 {
            out.push('Z');
        } else {
            let sign = if self.offset < 0 { '-' } else { '+' };
            let minutes = self.offset.unsigned_abs() / 60;
            out.push_str(&format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60));
        }
        Some(out)
    }
}

/// `time.Parse(layout, text)` for the layouts above; `None` on any mismatch or out-of-range field.
fn parse(mut s: &[u8], layout: &[Field]) -> Option<Parsed> {
    let mut nums = Vec::with_capacity(6);
    let mut nanos = 0u32;
    let mut offset = 0i32;
    for field in layout {
        match *field {
            Field::Year => {
                let (digits, rest) = (s.get(..4)?, &s[4..]);
                if !digits.iter().all(u8::is_ascii_digit) {
                    return None;
                }
                nums.push(number(digits));
                s = rest;
            }
            Field::Num | Field::Fixed => {
                let first = *s.first()?;
                if !first.is_ascii_digit() {
                    return None;
                }
                let two = s.get(1).is_some_and(u8::is_ascii_digit);
                if !two && matches!(field, Field::Fixed) {
                    return None;
                }
                let len = if two { 2 } else { 1 };
                nums.push(number(&s[..len]));
                s = &s[len..];
            }
            Field::Fraction => {
                if s.len() >= 2 && matches!(s[0], b'.' | b',') && s[1].is_ascii_digit() {
                    let len = 1 + s[1..].iter().take_while(|b| b.is_ascii_digit()).count();
                    let kept = &s[1..len.min(10)];
                    nanos = number(kept) * 10u32.pow(9 - kept.len() as u32);
                    s = &s[len..];
                }
            }
            Field::Zone => {
                if s.first() == Some(&b'Z') {
                    s = &s[1..];
                } else {
                    let z = s.get(..6)?;
                    let sign = match z[0] {
                        b'+' => 1,
                        b'-' => -1,
                        _ => return None,
                    };
                    let digits = [z[1], z[2], z[4], z[5]];
                    if z[3] != b':' || !digits.iter().all(u8::is_ascii_digit) {
                        return None;
                    }
                    let (hours, minutes) = (number(&z[1..3]), number(&z[4..6]));
                    // Go accepts offsets up to 24 hours and 60 minutes ("some people do write them").
                    if hours > 24 || minutes > 60 {
                        return None;
                    }
                    offset = sign * ((hours * 60 + minutes) * 60) as i32;
                    s = &s[6..];
                }
            }
            Field::Spaces => {
                let n = s.iter().take_while(|&&b| b == b' ').count();
                if n == 0 {
                    return None;
                }
                s = &s[n..];
            }
            Field::Lit(c) => {
                if s.first() != Some(&c) {
                    return None;
                }
                s = &s[1..];
            }
        }
    }
    if !s.is_empty() {
        return None;
    }
    nums.resize(6, 0);
    let [year, month, day, hour, minute, second] = nums[..] else {
        return None;
    };
    let valid = (1..=12).contains(&month)
        && (1..=days_in(month, year)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    valid.then_some(Parsed {
        year,
        month,
        day,
        hour,
        minute,
        second,
        nanos,
        offset,
    })
}

fn number(digits: &[u8]) -> u32 {
    digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'))
}

fn days_in(month: u32, year: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_timestamps_canonicalize_as_go_marshals_them() {
        // Pairs checked against sops 3.11 (`sops encrypt` then `sops decrypt`).
        for (input, canonical) in [
            ("2025-06-30", "2025-06-30T00:00:00Z"),
            ("2025-06-30T12:34:56+02:00", "2025-06-30T12:34:56+02:00"),
            (
                "2001-12-14t21:59:43.10-05:00",
                "2001-12-14T21:59:43.1-05:00",
            ),
            ("2025-06-30 12:00:00", "2025-06-30T12:00:00Z"),
            ("2025-6-3", "2025-06-03T00:00:00Z"),
            ("2025-06-30T12:00:00+00:00", "2025-06-30T12:00:00Z"),
            (
                "2025-06-30T12:00:00.1234567891Z",
                "2025-06-30T12:00:00.123456789Z",
            ),
            ("2024-02-29", "2024-02-29T00:00:00Z"),
        ] {
            assert_eq!(from_yaml(input).as_deref(), Some(canonical), "{input}");
        }
    }

    #[test]
    fn other_text_is_no_timestamp() {
        for input in [
            "2025-06-30T12:00:00",
            "2025-02-30",
            "2023-02-29",
            "2025-13-01",
            "2025-06-30T24:00:00Z",
            "12:30",
            "20250630",
            "2025-06-30x",
            "+2025-06-30",
            "2025-06-30T12:00:00+0200",
            "2025-06-30 ",
        ] {
            assert_eq!(from_yaml(input), None, "{input}");
        }
    }

    #[test]
    fn rfc3339_round_trips_and_canonicalizes() {
        assert_eq!(
            from_rfc3339("2025-06-30T00:00:00.000Z").as_deref(),
            Some("2025-06-30T00:00:00Z")
        );
        assert_eq!(from_rfc3339("2025-6-30T00:00:00Z"), None);
        assert_eq!(from_rfc3339("2025-06-30"), None);
    }
}
