//! Go's float formatting (strconv.FormatFloat's shortest digits in %e, %f and %g forms).

/// Shortest round-trip digits of |f| and the decimal point position (0.d1d2... × 10^dp).
pub(crate) fn shortest(f: f64) -> (String, i32) {
    let e = format!("{:e}", f.abs());
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    (digits, exp.parse::<i32>().unwrap_or(0) + 1)
}

pub(crate) fn special(f: f64) -> Option<String> {
    if f.is_nan() {
        Some("NaN".into())
    } else if f.is_infinite() {
        Some(if f > 0.0 { "+Inf" } else { "-Inf" }.into())
    } else {
        None
    }
}

/// Digits in %e form: `d.ddde±XX`, exponent of at least two digits.
pub(crate) fn e_form(digits: &str, dp: i32, neg: bool) -> String {
    let mut s = String::from(if neg { "-" } else { "" });
    s.push_str(&digits[..1]);
    if digits.len() > 1 {
        s.push('.');
        s.push_str(&digits[1..]);
    }
    let exp = dp - 1;
    s.push_str(&format!(
        "e{}{:02}",
        if exp < 0 { '-' } else { '+' },
        exp.abs()
    ));
    s
}

/// Digits in %f form without trailing padding.
pub(crate) fn f_form(digits: &str, dp: i32, neg: bool) -> String {
    let mut s = String::from(if neg { "-" } else { "" });
    let nd = digits.len() as i32;
    if dp <= 0 {
        s.push_str("0.");
        s.push_str(&"0".repeat((-dp) as usize));
        s.push_str(digits);
    } else if dp >= nd {
        s.push_str(digits);
        s.push_str(&"0".repeat((dp - nd) as usize));
    } else {
        s.push_str(&digits[..dp as usize]);
        s.push('.');
        s.push_str(&digits[dp as usize..]);
    }
    s
}

/// strconv.FormatFloat(f, 'g', -1, 64): what `%v` prints for a float64.
pub(crate) fn float_g(f: f64) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let (digits, dp) = shortest(f);
    let exp = dp - 1;
    if !(-4..6).contains(&exp) {
        e_form(&digits, dp, f < 0.0)
    } else {
        f_form(&digits, dp, f < 0.0)
    }
}

/// Shortest digits of a float for encoders that choose the form themselves (JSON).
pub(crate) fn float_parts(f: f64) -> (String, i32) {
    shortest(f)
}

/// strconv.FormatFloat(f, 'x', -1, 64): `0x1.4p+01`.
pub(crate) fn float_x(f: f64, upper: bool) -> String {
    if let Some(s) = special(f) {
        return s;
    }
    let bits = f.to_bits();
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let (exp_bits, frac) = ((bits >> 52) & 0x7ff, bits & ((1 << 52) - 1));
    let (mut mant, mut exp) = match (exp_bits, frac) {
        (0, 0) => (0, 0),
        (0, _) => (frac, -1022),
        _ => (frac | 1 << 52, exp_bits as i64 - 1023),
    };
    while mant != 0 && mant & (1 << 52) == 0 {
        mant <<= 1;
        exp -= 1;
    }
    let digits = format!("{:013x}", mant & ((1 << 52) - 1));
    let digits = digits.trim_end_matches('0');
    let lead = if mant == 0 { '0' } else { '1' };
    let dot = if digits.is_empty() { "" } else { "." };
    let e_sign = if exp < 0 { '-' } else { '+' };
    let s = format!("{sign}0x{lead}{dot}{digits}p{e_sign}{:02}", exp.abs());
    if upper {
        s.to_uppercase()
    } else {
        s
    }
}
