//! Verification of forge webhooks that announce a push: GitHub's HMAC signature and GitLab's shared token.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Checks GitHub's `X-Hub-Signature-256` header: `sha256=` and the hex HMAC-SHA256 of the raw body under the
/// webhook secret ("Validating webhook deliveries" in GitHub's documentation).
///
/// The comparison is constant-time. An empty secret never verifies: it would make the signature forgeable.
pub fn verify_github_signature(secret: &[u8], body: &[u8], header_value: &str) -> bool {
    if secret.is_empty() {
        return false;
    }
    let Some(hex_sig) = header_value.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(signature) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    // `verify_slice` compares in constant time (it uses `subtle` itself).
    mac.verify_slice(&signature).is_ok()
}

/// Checks GitLab's `X-Gitlab-Token` header against the configured secret token, in constant time.
///
/// Both sides are hashed first so that neither the content nor the length of the secret leaks through timing.
/// An empty secret never verifies.
pub fn verify_gitlab_token(secret: &[u8], header_value: &str) -> bool {
    if secret.is_empty() {
        return false;
    }
    let expected = Sha256::digest(secret);
    let given = Sha256::digest(header_value.as_bytes());
    expected.ct_eq(&given).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example in GitHub's documentation ("Testing the webhook payload validation").
    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    const SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn github_documented_vector_verifies() {
        assert!(verify_github_signature(SECRET, BODY, SIGNATURE));
        assert!(verify_github_signature(
            SECRET,
            BODY,
            &SIGNATURE.to_uppercase().replace("SHA256=", "sha256=")
        ));
    }

    #[test]
    fn github_rejects_tampering_and_malformed_headers() {
        assert!(!verify_github_signature(
            SECRET,
            b"Hello, World?",
            SIGNATURE
        ));
        assert!(!verify_github_signature(b"another secret", BODY, SIGNATURE));
        assert!(!verify_github_signature(SECRET, BODY, &SIGNATURE[7..]));
        assert!(!verify_github_signature(SECRET, BODY, "sha1=757107ea"));
        assert!(!verify_github_signature(SECRET, BODY, "sha256=zz"));
        assert!(!verify_github_signature(
            SECRET,
            BODY,
            &SIGNATURE[..SIGNATURE.len() - 2]
        ));
        assert!(!verify_github_signature(b"", BODY, SIGNATURE));
    }

    #[test]
    fn gitlab_token_compare() {
        assert!(verify_gitlab_token(b"s3cret", "s3cret"));
        assert!(!verify_gitlab_token(b"s3cret", "s3creT"));
        assert!(!verify_gitlab_token(b"s3cret", "s3cret "));
        assert!(!verify_gitlab_token(b"", ""));
    }
}
