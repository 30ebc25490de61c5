//! Every file the real sops wrote (`tests/fixtures/sops/enc`) decrypts with `sealctl decrypt` to what
//! `sops decrypt` printed; tampered files and the outsider key are refused.

use crate::support::*;

const EXPECTED: [&str; 11] = [
    "app.env",
    "app.ini",
    "app.json",
    "blob.bin",
    "mac-only-encrypted.yaml",
    "multi.yaml",
    "nested.yaml",
    "secret-data.yaml",
    "secret-stringdata.yaml",
    "shamir.yaml",
    "suffix.yaml",
];

#[test]
fn every_fixture_decrypts_like_sops() {
    let listed: Vec<String> = std::fs::read_dir(fixture("enc"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("tampered-"))
        .collect();
    assert_eq!(
        listed.len(),
        EXPECTED.len(),
        "fixture set changed: {listed:?}"
    );
    for name in EXPECTED {
        let mut cmd = sealctl();
        cmd.arg("decrypt")
            .arg("--identity")
            .arg(key("all-three.agekeys"));
        if name == "blob.bin" {
            cmd.args(["--output-type", "binary"]);
        }
        let out = ok(cmd.arg(fixture(&format!("enc/{name}"))));
        let expected = std::fs::read(fixture(&format!("expected/{name}"))).unwrap();
        assert_same_plaintext(format_of(name), &out.stdout, &expected, name);
    }
}

#[test]
fn one_identity_of_several_recipients_is_enough() {
    for keyfile in ["one.agekey", "two.agekey"] {
        let out = ok(sealctl()
            .arg("decrypt")
            .env("SOPS_AGE_KEY_FILE", key(keyfile))
            .arg(fixture("enc/secret-data.yaml")));
        let expected = std::fs::read(fixture("expected/secret-data.yaml")).unwrap();
        assert_same_plaintext("yaml", &out.stdout, &expected, keyfile);
    }
}

#[test]
fn shamir_needs_two_of_three_groups() {
    let expected = std::fs::read(fixture("expected/shamir.yaml")).unwrap();
    let out = ok(sealctl()
        .arg("decrypt")
        .arg("--identity")
        .arg(key("one-and-two.agekeys"))
        .arg(fixture("enc/shamir.yaml")));
    assert_same_plaintext("yaml", &out.stdout, &expected, "two groups");
    let out = sealctl()
        .arg("decrypt")
        .arg("--identity")
        .arg(key("three.agekey"))
        .arg(fixture("enc/shamir.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(128), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("only 1 of the 2 key groups"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn sops_age_key_inline_works() {
    let text = std::fs::read_to_string(key("one.agekey")).unwrap();
    let out = ok(sealctl()
        .arg("decrypt")
        .env("SOPS_AGE_KEY", text)
        .arg(fixture("enc/app.env")));
    assert_eq!(
        out.stdout,
        std::fs::read(fixture("expected/app.env")).unwrap()
    );
}

#[test]
fn tampered_value_is_refused() {
    let out = sealctl()
        .arg("decrypt")
        .arg("--identity")
        .arg(key("all-three.agekeys"))
        .arg(fixture("enc/tampered-value.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(25));
    let err = stderr(&out);
    assert!(err.contains("tampered-value.yaml"), "{err}");
    assert!(
        err.contains("stringData.username") && err.contains("authentication failed"),
        "{err}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing may be printed from a tampered file"
    );
}

#[test]
fn tampered_mac_is_refused() {
    let out = sealctl()
        .arg("decrypt")
        .arg("--identity")
        .arg(key("all-three.agekeys"))
        .arg(fixture("enc/tampered-mac.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(51));
    let err = stderr(&out);
    assert!(
        err.contains("tampered-mac.yaml") && err.contains("MAC mismatch"),
        "{err}"
    );
    assert!(!err.contains("attacker") && !err.contains("admin"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn outsider_key_is_refused_with_the_recipients_named() {
    let out = sealctl()
        .arg("decrypt")
        .arg("--identity")
        .arg(key("outsider.agekey"))
        .arg(fixture("enc/secret-stringdata.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(128));
    let err = stderr(&out);
    assert!(err.contains("secret-stringdata.yaml"), "{err}");
    assert!(
        err.contains(ONE),
        "names the recipient the file is for: {err}"
    );
    assert!(err.contains("match"), "{err}");
    assert!(!err.contains("AGE-SECRET-KEY"), "{err}");
}

#[test]
fn no_identity_at_all_says_how_to_give_one() {
    let out = sealctl()
        .arg("decrypt")
        .arg(fixture("enc/app.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(128));
    assert!(
        stderr(&out).contains("SOPS_AGE_KEY_FILE"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn extract_prints_one_value() {
    let out = ok(sealctl()
        .arg("decrypt")
        .arg("--identity")
        .arg(key("one.agekey"))
        .args(["--extract", r#"["stringData"]["password"]"#])
        .arg(fixture("enc/secret-stringdata.yaml")));
    let expected =
        yaml_docs(&std::fs::read_to_string(fixture("expected/secret-stringdata.yaml")).unwrap());
    let want = expected[0]["stringData"]["password"].as_str().unwrap();
    assert_eq!(stdout(&out), want);
}
