//! `decodingStrategy`: None, Base64, Base64URL, and Auto (Base64, else Base64URL, else the raw value).

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::external_secret::DecodingStrategy;
use crate::meta::Origin;
use crate::value::SecretValue;

/// Go's `base64.StdEncoding` / `URLEncoding` as ESO uses them: padding required, non-zero trailing
/// bits tolerated, and CR/LF ignored (stripped before decoding).
fn engine(url: bool) -> GeneralPurpose {
    let config = GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical);
    GeneralPurpose::new(
        if url {
            &alphabet::URL_SAFE
        } else {
            &alphabet::STANDARD
        },
        config,
    )
}

/// Base64 text → bytes as Go decodes it, `None` when it is not valid.
pub fn decode_base64(text: &[u8], url: bool) -> Option<Zeroizing<Vec<u8>>> {
    let cleaned: Zeroizing<Vec<u8>> = Zeroizing::new(
        text.iter()
            .copied()
            .filter(|b| *b != b'\r' && *b != b'\n')
            .collect(),
    );
    engine(url).decode(&*cleaned).ok().map(Zeroizing::new)
}

/// Decodes one fetched value; `key` (the remote key) names it in the error.
pub fn decode(
    origin: &Origin,
    key: &str,
    strategy: DecodingStrategy,
    value: SecretValue,
) -> Result<SecretValue, Error> {
    let fail = |name: &str| {
        Error::remote(
            origin,
            key,
            format!("decodingStrategy {name}: the value is not valid {name}"),
        )
    };
    match strategy {
        DecodingStrategy::None => Ok(value),
        DecodingStrategy::Base64 => decode_base64(value.expose(), false)
            .map(SecretValue::from)
            .ok_or_else(|| fail("Base64")),
        DecodingStrategy::Base64Url => decode_base64(value.expose(), true)
            .map(SecretValue::from)
            .ok_or_else(|| fail("Base64URL")),
        DecodingStrategy::Auto => Ok(decode_base64(value.expose(), false)
            .or_else(|| decode_base64(value.expose(), true))
            .map(SecretValue::from)
            .unwrap_or(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin {
            file: "f.yaml".into(),
            kind: "ExternalSecret".into(),
            namespace: Some("ns".into()),
            name: "es".into(),
        }
    }

    fn run(s: DecodingStrategy, v: &str) -> Result<Vec<u8>, Error> {
        decode(&origin(), "app/db", s, SecretValue::from_text(v)).map(|v| v.expose().to_vec())
    }

    #[test]
    fn strategies() {
        assert_eq!(run(DecodingStrategy::None, "aGk=").unwrap(), b"aGk=");
        assert_eq!(run(DecodingStrategy::Base64, "aGk=").unwrap(), b"hi");
        assert_eq!(run(DecodingStrategy::Base64, "aG\nk=").unwrap(), b"hi");
        assert_eq!(
            run(DecodingStrategy::Base64Url, "-_8=").unwrap(),
            vec![0xfb, 0xff]
        );
        assert_eq!(
            run(DecodingStrategy::Auto, "-_8=").unwrap(),
            vec![0xfb, 0xff]
        );
        assert_eq!(run(DecodingStrategy::Auto, "aGk=").unwrap(), b"hi");
        assert_eq!(
            run(DecodingStrategy::Auto, "not base64!").unwrap(),
            b"not base64!"
        );
    }

    #[test]
    fn errors_name_the_key_not_the_value() {
        let e = run(DecodingStrategy::Base64, "s3cr3t!").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("app/db") && msg.contains("Base64"), "{msg}");
        assert!(!msg.contains("s3cr3t"), "{msg}");
        assert!(
            run(DecodingStrategy::Base64, "aGk").is_err(),
            "padding is required, as in Go"
        );
        assert!(run(DecodingStrategy::Base64Url, "+/8=").is_err());
    }
}
