//! Shamir's secret sharing over GF(2^8) as HashiCorp's `shamir` package does it (which sops uses for key
//! groups): each share is the polynomial values for every secret byte followed by one x-coordinate byte.
//!
//! The field is GF(2^8) with the AES reduction polynomial x^8 + x^4 + x^3 + x + 1 (0x11B); addition is
//! XOR. Only the arithmetic glue of the format lives here; randomness comes from `rand`.

use rand::seq::SliceRandom;
use rand::RngCore;
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShamirError {
    #[error(
        "the threshold must be at least 2 (got {0}); with one key group no splitting is needed"
    )]
    ThresholdTooSmall(usize),
    #[error("the threshold ({threshold}) cannot exceed the number of key groups ({parts})")]
    ThresholdTooLarge { threshold: usize, parts: usize },
    #[error("at most 255 key groups are possible")]
    TooManyParts,
    #[error("cannot split an empty secret")]
    EmptySecret,
    #[error("at least two shares are needed to recover the data key")]
    TooFewShares,
    #[error("the shares have different lengths or are too short")]
    InconsistentShares,
    #[error("two shares have the same x-coordinate")]
    DuplicateShare,
}

/// Multiplication in GF(2^8) mod 0x11B, without data-dependent branches.
fn mul(a: u8, b: u8) -> u8 {
    let mut result = 0u8;
    let mut a = a;
    let mut b = b;
    for _ in 0..8 {
        result ^= a & 0u8.wrapping_sub(b & 1);
        let carry = 0u8.wrapping_sub(a >> 7);
        a = (a << 1) ^ (0x1B & carry);
        b >>= 1;
    }
    result
}

/// Multiplicative inverse: a^254 (a^-1 since a^255 = 1 for a != 0).
fn inv(a: u8) -> u8 {
    let mut result = 1u8;
    let mut base = a;
    let mut exp = 254u8;
    while exp > 0 {
        if exp & 1 == 1 {
            result = mul(result, base);
        }
        base = mul(base, base);
        exp >>= 1;
    }
    result
}

/// Splits `secret` into `parts` shares of which any `threshold` recover it.
pub fn split(
    secret: &[u8],
    parts: usize,
    threshold: usize,
) -> Result<Vec<Zeroizing<Vec<u8>>>, ShamirError> {
    if threshold < 2 {
        return Err(ShamirError::ThresholdTooSmall(threshold));
    }
    if threshold > parts {
        return Err(ShamirError::ThresholdTooLarge { threshold, parts });
    }
    if parts > 255 {
        return Err(ShamirError::TooManyParts);
    }
    if secret.is_empty() {
        return Err(ShamirError::EmptySecret);
    }
    let mut rng = rand::thread_rng();
    // Distinct, non-zero x-coordinates in random order.
    let mut xs: Vec<u8> = (1..=255).collect();
    xs.shuffle(&mut rng);
    xs.truncate(parts);

    let mut shares: Vec<Zeroizing<Vec<u8>>> = xs
        .iter()
        .map(|&x| {
            let mut share = vec![0u8; secret.len() + 1];
            share[secret.len()] = x;
            Zeroizing::new(share)
        })
        .collect();
    let mut coefficients = Zeroizing::new(vec![0u8; threshold]);
    for (index, &byte) in secret.iter().enumerate() {
        coefficients[0] = byte;
        rng.fill_bytes(&mut coefficients[1..]);
        for (share, &x) in shares.iter_mut().zip(&xs) {
            // Horner's rule from the highest coefficient down.
            let y = coefficients
                .iter()
                .rev()
                .fold(0u8, |acc, &c| mul(acc, x) ^ c);
            share[index] = y;
        }
    }
    Ok(shares)
}

/// Recovers the secret from shares (Lagrange interpolation at x = 0).
pub fn combine(shares: &[&[u8]]) -> Result<Zeroizing<Vec<u8>>, ShamirError> {
    if shares.len() < 2 {
        return Err(ShamirError::TooFewShares);
    }
    let len = shares[0].len();
    if len < 2 || shares.iter().any(|s| s.len() != len) {
        return Err(ShamirError::InconsistentShares);
    }
    let xs: Vec<u8> = shares.iter().map(|s| s[len - 1]).collect();
    for (i, x) in xs.iter().enumerate() {
        if xs[..i].contains(x) {
            return Err(ShamirError::DuplicateShare);
        }
    }
    // Basis polynomials at 0: l_i = prod_{j != i} x_j / (x_j - x_i); subtraction is XOR.
    let basis: Vec<u8> = (0..xs.len())
        .map(|i| {
            (0..xs.len())
                .filter(|&j| j != i)
                .fold(1u8, |acc, j| mul(acc, mul(xs[j], inv(xs[j] ^ xs[i]))))
        })
        .collect();
    let mut secret = Zeroizing::new(vec![0u8; len - 1]);
    for (index, byte) in secret.iter_mut().enumerate() {
        *byte = shares
            .iter()
            .zip(&basis)
            .fold(0u8, |acc, (share, &l)| acc ^ mul(share[index], l));
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn field_arithmetic() {
        // Known products in the AES field (FIPS-197 section 4.2).
        assert_eq!(mul(0x57, 0x83), 0xc1);
        assert_eq!(mul(0x57, 0x13), 0xfe);
        for a in 1..=255u8 {
            assert_eq!(mul(a, inv(a)), 1, "inverse of {a}");
        }
    }

    #[test]
    fn any_threshold_subset_recovers() {
        let secret = [42u8; 32];
        let shares = split(&secret, 5, 3).unwrap();
        for combo in [[0, 1, 2], [0, 3, 4], [4, 2, 1]] {
            let picked: Vec<&[u8]> = combo.iter().map(|&i| shares[i].as_slice()).collect();
            assert_eq!(combine(&picked).unwrap().as_slice(), secret);
        }
    }

    #[test]
    fn too_few_shares_give_something_else() {
        let secret = [9u8; 32];
        let shares = split(&secret, 3, 3).unwrap();
        let picked: Vec<&[u8]> = shares[..2].iter().map(|s| s.as_slice()).collect();
        assert_ne!(combine(&picked).unwrap().as_slice(), secret);
    }

    #[test]
    fn bad_parameters() {
        assert_eq!(
            split(&[1], 3, 1).unwrap_err(),
            ShamirError::ThresholdTooSmall(1)
        );
        assert!(matches!(
            split(&[1], 2, 3),
            Err(ShamirError::ThresholdTooLarge { .. })
        ));
        assert_eq!(combine(&[&[1, 2]]).unwrap_err(), ShamirError::TooFewShares);
        assert_eq!(
            combine(&[&[1, 2], &[3, 2]]).unwrap_err(),
            ShamirError::DuplicateShare
        );
    }

    proptest! {
        #[test]
        fn round_trip(secret in proptest::collection::vec(any::<u8>(), 1..64), parts in 2usize..8, t in 2usize..8) {
            let threshold = t.min(parts);
            let shares = split(&secret, parts, threshold).unwrap();
            let picked: Vec<&[u8]> = shares.iter().rev().take(threshold).map(|s| s.as_slice()).collect();
            let recovered = combine(&picked).unwrap();
            prop_assert_eq!(recovered.as_slice(), secret.as_slice());
        }
    }
}
