//! The allowed-signers parser: what ssh-keygen accepts is accepted, and each bad line is named by its
//! number and what is wrong with it.

use super::*;

const ED25519: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBIBybN6x5WS2KKbhJzM60AtUYYW/GlHfxVa44cUa2Qm";
const P256: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBLJ3IafvusWW9rv+70uqIrwGs0AaFs0vDcnnqsp0e5zqyNJG2YuJv5f7gk9igK/1udCTtLVvuzhQnV0jXrqDRh0=";
const P384: &str = "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBCeYeSwUhyGFGtUP94qnNBemlFK4npI9Pvbo5QRSyeDQAQaRn2GNKfteTcq+mZNuEAmLrPFf5ezSeMiFMAxBN5e+NuEoKdmvJC205Syi/2Tad+nsX5gZxUFkGFRDZEpn6A==";
const P521: &str = "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBAGRqrvAkQpizMXerLPHVRGIBCxMZL7GeBOj8ON6eKhSirYT/rrGgEmd42sU+h82VfZbzGD6GcsxpzJs3OeE9Drk8QCHZDBSnDpJ1qv1760aNoyvGWDEIoAsEr22WoIg/kx6hg6O1aWg2Xy0TMHZID6w3vq0tSFcm9W9WNO5Rjiw4alrag==";

fn parse(text: &str) -> Result<AllowedSigners, AllowedSignersError> {
    AllowedSigners::parse(Path::new("/etc/sealsync/allowed_signers"), text)
}

/// The message of the error on a bad file, which must name the file and `line`.
fn line_error(text: &str, line: usize) -> String {
    let err = parse(text).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, AllowedSignersError::Line { line: l, .. } if l == line),
        "expected an error on line {line}: {message}"
    );
    assert!(
        message.starts_with(&format!(
            "allowed signers file /etc/sealsync/allowed_signers, line {line}: "
        )),
        "{message}"
    );
    message
}

fn at(text: &str) -> SystemTime {
    humantime::parse_rfc3339(text).unwrap()
}

#[test]
fn lines_as_ssh_keygen_documents_them() {
    let text = format!(
        "# team keys\n\
         \n\
         alice@example.com {ED25519} alice's laptop\n\
         \t bob@example.com,*@ops.example.com namespaces=\"git,file\",valid-after=\"20240101\",VALID-BEFORE=\"20300101Z\" {P256}\n\
         \"carol with spaces\" {P384}\n"
    );
    let signers = parse(&text).unwrap();
    assert_eq!(signers.len(), 3);
    let s = &signers.signers;
    assert_eq!(
        (s[0].line, s[0].principals.as_str()),
        (3, "alice@example.com")
    );
    assert_eq!(s[0].namespaces, None);
    assert_eq!((s[0].valid_after, s[0].valid_before), (None, None));
    assert_eq!(s[1].line, 4);
    assert_eq!(s[1].principals, "bob@example.com,*@ops.example.com");
    assert_eq!(s[1].namespaces.as_deref(), Some("git,file"));
    assert_eq!(s[1].valid_before, Some(at("2030-01-01T00:00:00Z")));
    assert!(s[1].valid_after.is_some());
    assert_eq!(s[2].principals, "carol with spaces");
    assert_eq!(
        fingerprint(&s[0].key),
        PublicKey::from_openssh(ED25519)
            .unwrap()
            .fingerprint(HashAlg::Sha256)
            .to_string()
    );
}

#[test]
fn times_take_every_documented_form() {
    assert_eq!(parse_time("20240301Z").unwrap(), at("2024-03-01T00:00:00Z"));
    assert_eq!(
        parse_time("202403011230UTC").unwrap(),
        at("2024-03-01T12:30:00Z")
    );
    assert_eq!(
        parse_time("20240301123045z").unwrap(),
        at("2024-03-01T12:30:45Z")
    );
    // Without a zone: the local time zone's reading (UTC in the test environment or not, the
    // offset is at most a day).
    let local = parse_time("20240301").unwrap();
    let utc = at("2024-03-01T00:00:00Z");
    let apart = local
        .duration_since(utc)
        .or_else(|_| utc.duration_since(local))
        .unwrap();
    assert!(apart <= Duration::from_secs(26 * 3600), "{apart:?}");
    for bad in [
        "2024031",
        "20241301Z",
        "20240230Z",
        "2024-03-01",
        "202403011230ZZ",
        "",
    ] {
        assert!(parse_time(bad).is_err(), "{bad}");
    }
}

#[test]
fn bad_lines_are_named_with_their_number() {
    let cases: &[(String, &str)] = &[
        (
            format!("ok {ED25519}\nbroken"),
            "no key after the principals",
        ),
        (
            format!("ok {ED25519}\n\nx ssh-ed25519 AAAAnotakey"),
            "key cannot be read",
        ),
        (format!("x nope=\"1\" {ED25519}"), "unknown option \"nope\""),
        (format!("x namespaces=git {ED25519}"), "double quotes"),
        (format!("x namespaces=\"git {ED25519}"), "key"),
        (
            format!("x namespaces=\"git\",namespaces=\"file\" {ED25519}"),
            "namespaces is given twice",
        ),
        (
            format!("x valid-before=\"tomorrow\" {ED25519}"),
            "valid-before",
        ),
        (
            format!("x valid-after=\"20300101Z\",valid-before=\"20200101Z\" {ED25519}"),
            "valid-before is not after valid-after",
        ),
        (
            format!("x namespaces=\"git\", {ED25519}"),
            "end with a comma",
        ),
        (format!("\"unclosed {ED25519}"), "closing quote"),
        (
            format!("x cert-authority {ED25519}"),
            "cert-authority is not supported",
        ),
        (
            format!("x {P521}"),
            "ecdsa-sha2-nistp521 keys are not supported",
        ),
        (
            format!("x namespaces=\"git\"{ED25519}"),
            "separated by commas",
        ),
    ];
    for (text, expected) in cases {
        let line = text.lines().count();
        let message = line_error(text, line);
        assert!(message.contains(expected), "{text:?}: {message}");
    }
}

#[test]
fn a_file_without_signers_is_refused() {
    let err = parse("# nobody yet\n\n").unwrap_err();
    assert!(err.to_string().contains("lists no signer"), "{err}");
}

#[test]
fn an_unreadable_file_is_named() {
    let err = AllowedSigners::load(Path::new("/nonexistent/allowed_signers")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot read the allowed signers file /nonexistent/allowed_signers: "),
        "{err}"
    );
}

#[test]
fn lines_of_finds_every_line_of_a_key() {
    let signers = parse(&format!(
        "a namespaces=\"file\" {ED25519}\nb {P256}\nc {ED25519}\n"
    ))
    .unwrap();
    let key = PublicKey::from_openssh(ED25519).unwrap();
    let lines: Vec<usize> = signers.lines_of(key.key_data()).map(|s| s.line).collect();
    assert_eq!(lines, [1, 3]);
}
