//! Webhook signatures: GitHub's HMAC-SHA256 against openssl and GitHub's documented example, GitLab's token.

#[test]
fn github_signature_matches_openssl() {
    let secret = b"webhook-secret";
    let body = br#"{"ref":"refs/heads/main","after":"0123"}"#;
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", "webhook-secret", "-r"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    let hex = String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let header = format!("sha256={hex}");
    assert!(sealsync_agent::ops::verify_github(secret, body, &header));

    let mut tampered = body.to_vec();
    tampered[10] ^= 1;
    assert!(!sealsync_agent::ops::verify_github(
        secret, &tampered, &header
    ));

    // The documented example from GitHub's "Validating webhook deliveries".
    assert!(sealsync_agent::ops::verify_github(
        b"It's a Secret to Everybody",
        b"Hello, World!",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    ));
    assert!(sealsync_agent::ops::verify_gitlab(b"gl-token", "gl-token"));
    assert!(!sealsync_agent::ops::verify_gitlab(b"gl-token", "gl-tokem"));
}
