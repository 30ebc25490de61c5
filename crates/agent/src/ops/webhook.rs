//! Verification of git push webhooks (GitHub, Gitea/Forgejo, GitLab) against a shared secret,
//! in constant time, before the agent fetches early.
//!
//! - GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>` ("Validating webhook
//!   deliveries", GitHub docs). Gitea and Forgejo send the same header too.
//! - Gitea / Forgejo: `X-Gitea-Signature` / `X-Forgejo-Signature: <hex HMAC-SHA256 of the raw body>`.
//! - GitLab: `X-Gitlab-Token: <the secret token itself>` ("Webhooks", GitLab docs): no signature.

use std::fmt;
use std::path::Path;

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::ops::OpsError;

type HmacSha256 = Hmac<Sha256>;

pub const GITHUB_SIGNATURE_HEADER: &str = "x-hub-signature-256";
pub const GITEA_SIGNATURE_HEADER: &str = "x-gitea-signature";
pub const FORGEJO_SIGNATURE_HEADER: &str = "x-forgejo-signature";
pub const GITLAB_TOKEN_HEADER: &str = "x-gitlab-token";

/// The headers that carry a delivery's identity, most specific first. A retry of a delivery keeps its
/// id (GitHub's "Redeliver", GitLab's retries), so a repeat within the recently-seen window is one
/// fetch, not another.
///
/// - GitHub: `X-GitHub-Delivery`, a GUID per delivery ("Webhook events and payloads", GitHub docs).
/// - Gitea sends `X-Gitea-Delivery` (with the same GUID in `X-GitHub-Delivery` and `X-Gogs-Delivery`),
///   Forgejo `X-Forgejo-Delivery` too ("Webhooks", Gitea docs).
/// - GitLab: `Idempotency-Key`, the same across retries of one event (GitLab 17.4+), else
///   `X-Gitlab-Event-UUID` and `X-Gitlab-Webhook-UUID` ("Webhook events: delivery headers", GitLab docs).
///
/// None of these headers is covered by a signature: a replayed body with a fresh id is not a duplicate,
/// which is why accepted deliveries are also rate-limited.
pub const DELIVERY_ID_HEADERS: [&str; 7] = [
    "x-github-delivery",
    "x-gitea-delivery",
    "x-forgejo-delivery",
    "x-gogs-delivery",
    "idempotency-key",
    "x-gitlab-event-uuid",
    "x-gitlab-webhook-uuid",
];

/// The longest delivery id kept (forges send 36-character UUIDs).
const MAX_DELIVERY_ID: usize = 128;

/// The delivery's id, from the first [`DELIVERY_ID_HEADERS`] present, if it is short printable text.
pub fn delivery_id(headers: &HeaderMap) -> Option<(&'static str, &str)> {
    DELIVERY_ID_HEADERS.iter().find_map(|name| {
        let value = headers.get(*name)?.to_str().ok()?.trim();
        (!value.is_empty() && value.len() <= MAX_DELIVERY_ID).then_some((*name, value))
    })
}

/// Whether the request carries any header a delivery is verified by. Without one, it is refused before
/// a byte of its body is read.
pub fn has_signature_header(headers: &HeaderMap) -> bool {
    [
        GITHUB_SIGNATURE_HEADER,
        GITEA_SIGNATURE_HEADER,
        FORGEJO_SIGNATURE_HEADER,
        GITLAB_TOKEN_HEADER,
    ]
    .iter()
    .any(|name| headers.contains_key(*name))
}

/// True when `header` is `sha256=<hex>` and the hex is the HMAC-SHA256 of `body` under `secret`.
pub fn verify_github(secret: &[u8], body: &[u8], header: &str) -> bool {
    match header.trim().strip_prefix("sha256=") {
        Some(hex_signature) => verify_hex_hmac(secret, body, hex_signature),
        None => false,
    }
}

/// The `X-Hub-Signature-256` value for `body` under `secret`: what a sender (`sealctl refresh`) puts
/// in the header [`verify_github`] checks.
pub fn sign_github(secret: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// True when `header` is the bare hex HMAC-SHA256 of `body` under `secret` (Gitea, Forgejo).
pub fn verify_gitea(secret: &[u8], body: &[u8], header: &str) -> bool {
    verify_hex_hmac(secret, body, header.trim())
}

/// True when the `X-Gitlab-Token` value equals `secret`.
///
/// Both sides are hashed first so the comparison takes the same time whatever their lengths.
pub fn verify_gitlab(secret: &[u8], header: &str) -> bool {
    let expected = Sha256::digest(secret);
    let presented = Sha256::digest(header.as_bytes());
    !secret.is_empty() && bool::from(expected.ct_eq(&presented))
}

fn verify_hex_hmac(secret: &[u8], body: &[u8], hex_signature: &str) -> bool {
    let Ok(signature) = hex::decode(hex_signature) else {
        return false;
    };
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    // `verify_slice` compares in constant time and rejects a signature of the wrong length.
    mac.verify_slice(&signature).is_ok()
}

/// Which forge a verified delivery claimed to come from (for logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookSource {
    GitHub,
    Gitea,
    GitLab,
}

/// Why a delivery was rejected (for logs; the client only sees 401).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookRejection {
    #[error(
        "no X-Hub-Signature-256, X-Gitea-Signature, X-Forgejo-Signature or X-Gitlab-Token header"
    )]
    Missing,
    #[error("the {0} header is not valid UTF-8")]
    NotText(&'static str),
    #[error("the {0} header does not match the configured secret")]
    Mismatch(&'static str),
}

/// The webhook's shared secret, held in a zeroizing buffer that never prints.
pub struct WebhookConfig {
    secret: SecretSlice<u8>,
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("secret", &"[REDACTED]")
            .finish()
    }
}

impl WebhookConfig {
    pub fn new(secret: SecretSlice<u8>) -> WebhookConfig {
        WebhookConfig { secret }
    }

    /// Reads `--webhook-secret-file`. Trailing line breaks are dropped: `echo secret > file` and a
    /// mounted Secret created with `--from-file` are both common, and the forges never send them.
    pub fn from_file(path: &Path) -> Result<WebhookConfig, OpsError> {
        let bytes =
            Zeroizing::new(
                std::fs::read(path).map_err(|source| OpsError::WebhookSecret {
                    path: path.display().to_string(),
                    source,
                })?,
            );
        let end = bytes
            .iter()
            .rposition(|b| !matches!(b, b'\n' | b'\r'))
            .map_or(0, |last| last + 1);
        if end == 0 {
            return Err(OpsError::EmptyWebhookSecret {
                path: path.display().to_string(),
            });
        }
        Ok(WebhookConfig::new(SecretSlice::from(bytes[..end].to_vec())))
    }

    /// The `X-Hub-Signature-256` value for `body`: how a client (`sealctl refresh`) signs a request.
    pub fn sign(&self, body: &[u8]) -> String {
        sign_github(self.secret.expose_secret(), body)
    }

    /// Checks a delivery. The strongest header present decides: a body signature (GitHub, then
    /// Gitea/Forgejo) over GitLab's bare token.
    pub fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<WebhookSource, WebhookRejection> {
        let secret = self.secret.expose_secret();
        let header = |name: &'static str| {
            headers
                .get(name)
                .map(|v| v.to_str().map_err(|_| WebhookRejection::NotText(name)))
                .transpose()
        };
        if let Some(value) = header(GITHUB_SIGNATURE_HEADER)? {
            return verify_github(secret, body, value)
                .then_some(WebhookSource::GitHub)
                .ok_or(WebhookRejection::Mismatch(GITHUB_SIGNATURE_HEADER));
        }
        for name in [GITEA_SIGNATURE_HEADER, FORGEJO_SIGNATURE_HEADER] {
            if let Some(value) = header(name)? {
                return verify_gitea(secret, body, value)
                    .then_some(WebhookSource::Gitea)
                    .ok_or(WebhookRejection::Mismatch(name));
            }
        }
        if let Some(value) = header(GITLAB_TOKEN_HEADER)? {
            return verify_gitlab(secret, value)
                .then_some(WebhookSource::GitLab)
                .ok_or(WebhookRejection::Mismatch(GITLAB_TOKEN_HEADER));
        }
        Err(WebhookRejection::Missing)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use axum::http::HeaderValue;

    // The worked example in GitHub's "Validating webhook deliveries" documentation.
    pub(crate) const GITHUB_DOC_SECRET: &[u8] = b"It's a Secret to Everybody";
    pub(crate) const GITHUB_DOC_BODY: &[u8] = b"Hello, World!";
    pub(crate) const GITHUB_DOC_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn github_published_example_verifies() {
        assert!(verify_github(
            GITHUB_DOC_SECRET,
            GITHUB_DOC_BODY,
            GITHUB_DOC_SIGNATURE
        ));
        assert!(verify_github(
            GITHUB_DOC_SECRET,
            GITHUB_DOC_BODY,
            &GITHUB_DOC_SIGNATURE
                .to_uppercase()
                .replace("SHA256=", "sha256=")
        ));
    }

    #[test]
    fn github_rejects_any_change() {
        assert!(!verify_github(
            GITHUB_DOC_SECRET,
            b"Hello, World?",
            GITHUB_DOC_SIGNATURE
        ));
        assert!(!verify_github(
            b"It's a Secret to Everybodx",
            GITHUB_DOC_BODY,
            GITHUB_DOC_SIGNATURE
        ));
        let bare = GITHUB_DOC_SIGNATURE.trim_start_matches("sha256=");
        assert!(!verify_github(GITHUB_DOC_SECRET, GITHUB_DOC_BODY, bare));
        assert!(!verify_github(
            GITHUB_DOC_SECRET,
            GITHUB_DOC_BODY,
            &GITHUB_DOC_SIGNATURE[..70]
        ));
        assert!(!verify_github(
            GITHUB_DOC_SECRET,
            GITHUB_DOC_BODY,
            "sha256=zz"
        ));
        assert!(!verify_github(
            GITHUB_DOC_SECRET,
            GITHUB_DOC_BODY,
            "sha1=757107ea"
        ));
        assert!(!verify_github(GITHUB_DOC_SECRET, GITHUB_DOC_BODY, ""));
    }

    #[test]
    fn gitea_uses_the_bare_hex_signature() {
        let bare = GITHUB_DOC_SIGNATURE.trim_start_matches("sha256=");
        assert!(verify_gitea(GITHUB_DOC_SECRET, GITHUB_DOC_BODY, bare));
        assert!(!verify_gitea(GITHUB_DOC_SECRET, b"Hello, World", bare));
    }

    #[test]
    fn gitlab_token_must_match_exactly() {
        assert!(verify_gitlab(b"s3cret-token", "s3cret-token"));
        assert!(!verify_gitlab(b"s3cret-token", "s3cret-tokeN"));
        assert!(!verify_gitlab(b"s3cret-token", "s3cret-token "));
        assert!(!verify_gitlab(b"s3cret-token", ""));
        assert!(!verify_gitlab(b"", ""));
    }

    #[test]
    fn the_strongest_header_decides() {
        let config = WebhookConfig::new(SecretSlice::from(GITHUB_DOC_SECRET.to_vec()));
        let mut headers = HeaderMap::new();
        assert_eq!(
            config.verify(&headers, GITHUB_DOC_BODY),
            Err(WebhookRejection::Missing)
        );

        headers.insert(
            GITLAB_TOKEN_HEADER,
            HeaderValue::from_bytes(GITHUB_DOC_SECRET).unwrap(),
        );
        assert_eq!(
            config.verify(&headers, GITHUB_DOC_BODY),
            Ok(WebhookSource::GitLab)
        );
        // A right GitLab token does not rescue a wrong body signature.
        headers.insert(
            GITHUB_SIGNATURE_HEADER,
            HeaderValue::from_static("sha256=00"),
        );
        assert_eq!(
            config.verify(&headers, GITHUB_DOC_BODY),
            Err(WebhookRejection::Mismatch(GITHUB_SIGNATURE_HEADER))
        );
        headers.insert(
            GITHUB_SIGNATURE_HEADER,
            HeaderValue::from_static(GITHUB_DOC_SIGNATURE),
        );
        assert_eq!(
            config.verify(&headers, GITHUB_DOC_BODY),
            Ok(WebhookSource::GitHub)
        );

        let mut gitea = HeaderMap::new();
        gitea.insert(
            FORGEJO_SIGNATURE_HEADER,
            HeaderValue::from_str(GITHUB_DOC_SIGNATURE.trim_start_matches("sha256=")).unwrap(),
        );
        assert_eq!(
            config.verify(&gitea, GITHUB_DOC_BODY),
            Ok(WebhookSource::Gitea)
        );
    }

    #[test]
    fn delivery_ids_and_signature_headers_are_found() {
        let mut headers = HeaderMap::new();
        assert_eq!(delivery_id(&headers), None);
        assert!(!has_signature_header(&headers));
        headers.insert("x-gitlab-event-uuid", HeaderValue::from_static("evt-1"));
        assert_eq!(
            delivery_id(&headers),
            Some(("x-gitlab-event-uuid", "evt-1"))
        );
        headers.insert("idempotency-key", HeaderValue::from_static("idem-1"));
        assert_eq!(delivery_id(&headers), Some(("idempotency-key", "idem-1")));
        headers.insert(
            "x-github-delivery",
            HeaderValue::from_static("72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        );
        assert_eq!(
            delivery_id(&headers).map(|(_, id)| id),
            Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
        );
        let mut long = HeaderMap::new();
        long.insert(
            "x-github-delivery",
            HeaderValue::from_str(&"a".repeat(200)).unwrap(),
        );
        assert_eq!(delivery_id(&long), None, "an overlong id is ignored");
        headers.insert(GITLAB_TOKEN_HEADER, HeaderValue::from_static("t"));
        assert!(has_signature_header(&headers));
    }

    #[test]
    fn secret_file_drops_trailing_newlines_and_never_prints() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "s3cret-token\r\n").unwrap();
        let config = WebhookConfig::from_file(&path).unwrap();
        assert_eq!(config.secret.expose_secret(), b"s3cret-token");
        assert!(!format!("{config:?}").contains("s3cret"));

        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(
            WebhookConfig::from_file(&path),
            Err(OpsError::EmptyWebhookSecret { .. })
        ));
        let missing = WebhookConfig::from_file(&dir.path().join("missing")).unwrap_err();
        assert!(missing.to_string().contains("missing"));
    }
}
