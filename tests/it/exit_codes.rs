//! Exit codes against the real `sops`: where sops has a code of its own for a failure, `sealctl` exits
//! with it; where sops exits 1 (its catch-all), `sealctl` says more with a code of its own. Every row of
//! the table in the README is one case here, run through both tools.

use std::path::Path;

use crate::support::*;

/// One failure: (name, args, identity file, sops' code, sealctl's code). Files are made by `setup`.
type Case = (
    &'static str,
    &'static [&'static str],
    Option<&'static str>,
    i32,
    i32,
);

const CASES: &[Case] = &[
    (
        "tampered value",
        &["decrypt", "tv.yaml"],
        Some("one"),
        25,
        25,
    ),
    ("MAC mismatch", &["decrypt", "tm.yaml"], Some("one"), 51, 51),
    (
        "MAC missing",
        &["decrypt", "nomac.yaml"],
        Some("one"),
        51,
        51,
    ),
    (
        "value added after encryption",
        &["decrypt", "added.yaml"],
        Some("one"),
        51,
        51,
    ),
    (
        "no identity decrypts it",
        &["decrypt", "e.yaml"],
        Some("two"),
        128,
        128,
    ),
    ("no identity at all", &["decrypt", "e.yaml"], None, 128, 128),
    (
        "identity file missing",
        &["decrypt", "e.yaml"],
        Some("missing"),
        128,
        128,
    ),
    (
        "decrypt a missing file",
        &["decrypt", "nope.yaml"],
        Some("one"),
        100,
        100,
    ),
    (
        "encrypt a missing file",
        &["encrypt", "--age", ONE, "nope.yaml"],
        None,
        100,
        100,
    ),
    (
        "set on a missing file",
        &["set", "nope.yaml", "[\"a\"]", "1"],
        Some("one"),
        2,
        2,
    ),
    (
        "rotate a missing file",
        &["rotate", "nope.yaml"],
        Some("one"),
        2,
        2,
    ),
    (
        "encrypt unparseable YAML",
        &["encrypt", "--age", ONE, "bad.yaml"],
        None,
        2,
        2,
    ),
    (
        "encrypt an empty file",
        &["encrypt", "--age", ONE, "empty.yaml"],
        None,
        92,
        92,
    ),
    (
        "encrypt an encrypted file",
        &["encrypt", "--age", ONE, "e.yaml"],
        None,
        203,
        203,
    ),
    (
        "malformed --extract path",
        &["decrypt", "--extract", "nope", "e.yaml"],
        Some("one"),
        91,
        91,
    ),
    (
        "malformed set path",
        &["set", "e.yaml", "nope", "1"],
        Some("one"),
        7,
        7,
    ),
    (
        "malformed set value",
        &["set", "e.yaml", "[\"a\"]", "{bad"],
        Some("one"),
        7,
        7,
    ),
    // sops' catch-all, where sealctl names the failure.
    (
        "no recipients anywhere",
        &["encrypt", "p.yaml"],
        None,
        1,
        111,
    ),
    (
        "not an age recipient",
        &["encrypt", "--age", "age1bad", "p.yaml"],
        None,
        1,
        64,
    ),
    (
        "decrypt a file without metadata",
        &["decrypt", "p.yaml"],
        Some("one"),
        1,
        2,
    ),
    (
        "decrypt unparseable YAML",
        &["decrypt", "bad.yaml"],
        Some("one"),
        1,
        2,
    ),
    (
        "--extract of a missing key",
        &["decrypt", "--extract", "[\"zz\"]", "e.yaml"],
        Some("one"),
        1,
        7,
    ),
    (
        "unset of a missing key",
        &["unset", "e.yaml", "[\"zz\"]"],
        Some("one"),
        1,
        7,
    ),
    (
        "unknown flag",
        &["decrypt", "--bogus", "e.yaml"],
        None,
        1,
        64,
    ),
];

fn setup(dir: &Path) {
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    write("p.yaml", "a: 1\nb: x\n");
    let enc = stdout(&ok(sops().current_dir(dir).args([
        "--disable-version-check",
        "encrypt",
        "--age",
        ONE,
        "p.yaml",
    ])));
    write("e.yaml", &enc);
    let value = regex::Regex::new(r"(?m)^b: ENC\[AES256_GCM,data:[^,]*").unwrap();
    write(
        "tv.yaml",
        &value.replace(&enc, "b: ENC[AES256_GCM,data:AAAA"),
    );
    let mac = regex::Regex::new(r"(?m)^    mac: .*$").unwrap();
    write(
        "tm.yaml",
        &mac.replace(&enc, "    mac: ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]"),
    );
    write("nomac.yaml", &mac.replace(&enc, ""));
    write(
        "added.yaml",
        &enc.replacen("a: ENC", "c_unencrypted: 1\na: ENC", 1),
    );
    write("bad.yaml", "a: [\n");
    write("empty.yaml", "");
}

#[test]
fn exit_codes_follow_sops_where_sops_has_one() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let mut wrong = Vec::new();
    for (name, args, identity, sops_code, sealctl_code) in CASES {
        let identity = identity.map(|k| match k {
            "missing" => dir.path().join("missing.agekey"),
            k => key(&format!("{k}.agekey")),
        });
        let run = |mut cmd: std::process::Command| {
            cmd.current_dir(dir.path()).args(*args);
            if let Some(id) = &identity {
                cmd.env("SOPS_AGE_KEY_FILE", id);
            }
            cmd.output().unwrap().status.code().unwrap_or(-1)
        };
        let mut sops_cmd = sops();
        sops_cmd.arg("--disable-version-check");
        let (by_sops, by_sealctl) = (run(sops_cmd), run(sealctl()));
        if (by_sops, by_sealctl) != (*sops_code, *sealctl_code) {
            wrong.push(format!(
                "{name}: sops {by_sops} (expected {sops_code}), sealctl {by_sealctl} (expected {sealctl_code})"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
