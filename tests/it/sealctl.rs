//! Golden tests pinning the visible behaviour of `sealctl` and the agent's command line — output,
//! errors and exit codes — from the case files in `tests/cmd/` (run with `TRYCMD=overwrite` to review
//! and accept an intended change: `TRYCMD=overwrite cargo test --test it sealctl::golden`).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;

use crate::support::{fixture, private_fixture_keys, root, sealctl, stdout};

/// The cases, with no identity anywhere and the binaries of this build.
fn cases() -> trycmd::TestCases {
    private_fixture_keys();
    let cases = trycmd::TestCases::new();
    cases
        .register_bin("sealctl", Path::new(env!("CARGO_BIN_EXE_sealctl")))
        .register_bin("sealsync", Path::new(env!("CARGO_BIN_EXE_sealsync")))
        .env("HOME", "/nonexistent-sealsync-test")
        .env("XDG_CONFIG_HOME", "/nonexistent-sealsync-test")
        .env("NO_COLOR", "1");
    cases
}

/// Errors, help texts and read-only commands.
#[test]
fn golden_cli_cases() {
    cases().case("tests/cmd/*.toml");
}

/// Commands that succeed and change files, each in a sandbox copied from its `.in/` folder, with the
/// fixture identities in `SOPS_AGE_KEY` so the results can be decrypted and shown (values and
/// recipients are fixed; the ciphertext, random each run, is never printed).
#[test]
fn golden_success_paths() {
    let identities = std::fs::read_to_string(fixture("keys/all-three.agekeys")).unwrap();
    cases()
        .env("SOPS_AGE_KEY", identities)
        .case("tests/cmd/ok/*.trycmd");
}

/// `sealctl status` renders what an agent serves on `/status`: here a fixed JSON document, served
/// once per request on a loopback port, so the table is the same every run.
#[test]
fn golden_status_of_a_served_json() {
    let json = std::fs::read_to_string(root().join("tests/cmd/status.json")).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
                json.len()
            );
        }
    });
    let out = sealctl().args(["status", "--url", &url]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_golden("tests/cmd/status.stdout", &stdout(&out));
}

/// Compares `actual` with the golden file `rel`, or rewrites it under `TRYCMD=overwrite` as trycmd
/// does for its own cases.
fn assert_golden(rel: &str, actual: &str) {
    let path = root().join(rel);
    if std::env::var_os("TRYCMD").is_some_and(|v| v == "overwrite") {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{rel}: {e} (TRYCMD=overwrite writes it)"));
    assert!(
        expected == actual,
        "{rel} differs (TRYCMD=overwrite to accept):\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}
