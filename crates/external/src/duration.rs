//! Go duration strings (`time.ParseDuration`) as ESO's `refreshInterval` takes them: `1h`, `15m`, `1h30m`, `0`.

use std::time::Duration;

/// Parses a Go duration: an optional `+`, then one or more decimal numbers (fraction allowed) each
/// followed by a unit `ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`; `0` alone is allowed without a
/// unit. Negative durations are refused (ESO refuses them too), as is anything over about 292 years.
pub fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let mut s = text;
    if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s.starts_with('-') {
        return Err(format!("{text:?}: must not be negative"));
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(format!("{text:?}: not a duration"));
    }
    let mut total: u128 = 0;
    while !s.is_empty() {
        let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (whole, rest) = s.split_at(digits);
        let (frac, rest) = match rest.strip_prefix('.') {
            Some(r) => {
                let n = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
                r.split_at(n)
            }
            None => ("", rest),
        };
        if whole.is_empty() && frac.is_empty() {
            return Err(format!("{text:?}: not a duration (a number is expected)"));
        }
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let (unit, rest) = rest.split_at(unit_len);
        let nanos_per: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("{text:?}: missing unit (ns, us, ms, s, m, h)")),
            other => return Err(format!("{text:?}: unknown unit {other:?}")),
        };
        total =
            total.saturating_add(component(whole, frac, nanos_per).ok_or_else(|| overflow(text))?);
        if total > i64::MAX as u128 {
            return Err(overflow(text));
        }
        s = rest;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| overflow(text))?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

fn overflow(text: &str) -> String {
    format!("{text:?}: too large")
}

/// `whole.frac` units of `nanos_per` nanoseconds, truncated to whole nanoseconds as Go does.
fn component(whole: &str, frac: &str, nanos_per: u128) -> Option<u128> {
    let w: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut value = w.checked_mul(nanos_per)?;
    let mut scale = nanos_per;
    for d in frac.bytes().take(30) {
        scale /= 10;
        if scale == 0 {
            break;
        }
        value = value.checked_add(u128::from(d - b'0') * scale)?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_go_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_go_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("1h0m0s"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_go_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_go_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_go_duration("2µs"), Ok(Duration::from_micros(2)));
    }

    #[test]
    fn bad_durations() {
        for bad in [
            "",
            "1",
            "h",
            "-1h",
            "1d",
            "1h-",
            "1.h.",
            "99999999999999999999h",
            ".",
        ] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?} accepted");
        }
    }
}
