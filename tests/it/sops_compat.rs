//! Files a demanding sops user has, made on the spot with the real `sops` and with `sealctl`, read by
//! the other tool: timestamps, comments inside lists, formats chosen by file name, and numbers. Each
//! case is checked both ways, and the encrypted files are compared shape for shape (ciphertexts
//! masked), so `sealctl` writes what `sops` writes.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn sops_encrypt(file: &Path) -> Output {
    sops()
        .args(["--disable-version-check", "encrypt", "--age", ONE])
        .arg(file)
        .output()
        .unwrap()
}

fn sealctl_encrypt(file: &Path) -> Output {
    sealctl()
        .args(["encrypt", "--age", ONE])
        .arg(file)
        .output()
        .unwrap()
}

fn sealctl_decrypt(file: &Path) -> Output {
    sealctl()
        .env("SOPS_AGE_KEY_FILE", key("one.agekey"))
        .arg("decrypt")
        .arg(file)
        .output()
        .unwrap()
}

/// The encrypted file without its metadata, every ciphertext reduced to its type: what must be equal
/// between the two tools (IVs, data keys and MACs differ by design).
fn shape(encrypted: &[u8]) -> String {
    let text = String::from_utf8_lossy(encrypted);
    let mut body = text.as_ref();
    for metadata in ["\nsops:", "\n[sops]", "\"sops\": {", "\nsops_"] {
        body = body.split(metadata).next().unwrap_or(body);
    }
    let enc =
        regex::Regex::new(r"ENC\[AES256_GCM,data:[^,]*,iv:[^,]*,tag:[^,]*,type:(\w+)\]").unwrap();
    enc.replace_all(body, "ENC[$1]").into_owned()
}

/// Encrypts `plain` (named `name`) with both tools, checks both encrypted files have the same shape,
/// then decrypts each with both tools and checks all four outputs are what sops prints.
fn both_ways(name: &str, plain: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let source = write(dir.path(), name, plain);
    let by_sops = sops_encrypt(&source);
    assert!(by_sops.status.success(), "{}", stderr(&by_sops));
    let by_sops = by_sops.stdout;
    let by_sealctl = sealctl_encrypt(&source);
    assert!(by_sealctl.status.success(), "{}", stderr(&by_sealctl));
    assert_eq!(
        shape(&by_sealctl.stdout),
        shape(&by_sops),
        "{name}: sealctl must write what sops writes"
    );
    let sops_file = write(dir.path(), &format!("sops-{name}"), "");
    std::fs::write(&sops_file, &by_sops).unwrap();
    let sealctl_file = write(dir.path(), &format!("sealctl-{name}"), "");
    std::fs::write(&sealctl_file, &by_sealctl.stdout).unwrap();
    let reference = stdout(&sops_decrypt(&sops_file, &key("one.agekey"), &[]));
    for file in [&sops_file, &sealctl_file] {
        let out = sealctl_decrypt(file);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        assert_eq!(stdout(&out), reference, "{name}: sealctl decrypt");
        let out = sops_decrypt(file, &key("one.agekey"), &[]);
        assert_eq!(stdout(&out), reference, "{name}: sops decrypt");
    }
    reference
}

#[test]
fn timestamps_are_read_and_written_as_sops_does() {
    let plain = "\
date: 2025-06-30
rfc3339: 2025-06-30T12:34:56+02:00
utc: 2025-06-30T12:34:56Z
fraction: 2001-12-14t21:59:43.10-05:00
spaced: 2025-06-30 12:00:00
quoted: \"2025-06-30\"
not_a_date: 2025-02-30
clock: 12:30
nested:
  - 2024-02-29
  - expires: 2030-01-01
";
    let out = both_ways("dates.yaml", plain);
    assert!(out.contains("date: 2025-06-30T00:00:00Z\n"), "{out}");
    assert!(out.contains("quoted: \"2025-06-30\"\n"), "{out}");

    // The agent's path: a Secret whose stringData holds a date gets the text sops prints.
    let json = both_ways("dates.json", "{\"d\": \"2025-06-30\", \"n\": 1}\n");
    assert!(
        json.contains("\"2025-06-30\""),
        "JSON has no timestamps: {json}"
    );
}

#[test]
fn comments_inside_lists_are_read_and_written_as_sops_does() {
    let plain = "\
# top
hosts:
  - 10.0.0.1  # office
  # between items
  - 10.0.0.2
  - - nested
    # inside a nested list
    - n2
tail: x
";
    let out = both_ways("lists.yaml", plain);
    assert!(out.contains("# between items"), "{out}");
    assert!(out.contains("# inside a nested list"), "{out}");
}

/// A comment opening a map item of a list (`- name: db # …`, `- # …` above its first key) is the item's
/// in both tools, but sops writes it above the dash, where it reads back as a comment of the list: its
/// own round trip moves it, and a file it encrypted with `unencrypted_comment_regex` can fail its own
/// MAC check. sealctl writes it after the dash (a deliberate difference), where both tools read it as
/// the item's; both decrypt what sealctl wrote as sops decrypts its own file.
#[test]
fn comments_opening_a_list_item_stay_with_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".sops.yaml"),
        format!("creation_rules:\n  - age: {ONE}\n    unencrypted_comment_regex: sops:plain\n"),
    )
    .unwrap();
    let plain = "hosts:\n  - name: db # sops:plain\n    password: s3cret\n  - # the cache\n    name: cache\n";
    write(dir.path(), "hosts.yaml", plain);
    let by_sealctl = ok(sealctl()
        .current_dir(dir.path())
        .args(["encrypt", "hosts.yaml"]))
    .stdout;
    let written = shape(&by_sealctl);
    assert!(
        written.starts_with(
            "hosts:\n    - # sops:plain\n      name: db\n      password: ENC[str]\n    - #ENC[comment]\n      name: ENC[str]"
        ),
        "{written}"
    );
    let sealctl_file = write(dir.path(), "sealctl-hosts.yaml", "");
    std::fs::write(&sealctl_file, &by_sealctl).unwrap();
    let by_sops = stdout(&sops_decrypt(&sealctl_file, &key("one.agekey"), &[]));
    assert_eq!(
        by_sops,
        "hosts:\n    # sops:plain\n    - name: db\n      password: s3cret\n    # the cache\n    - name: cache\n"
    );
    let out = sealctl_decrypt(&sealctl_file);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "hosts:\n    - # sops:plain\n      name: db\n      password: s3cret\n    - # the cache\n      name: cache\n"
    );
}

#[test]
fn the_format_follows_the_file_name_as_sops_decides() {
    // A file named exactly `.env` is dotenv; upper-case extensions are binary to sops.
    both_ways(".env", "DB_PASSWORD=hunter2\n# a comment\nPORT=5432\n");
    both_ways("app.YAML", "password: hunter2\n");
    both_ways("app.JSON", "{\"password\": \"hunter2\"}\n");
    both_ways("app.ENV", "A=b\n");
    both_ways("app.INI", "[s]\na = b\n");
    let dir = tempfile::tempdir().unwrap();
    let upper = write(dir.path(), "app.YAML", "password: hunter2\n");
    let out = sealctl_encrypt(&upper);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\"data\": \"ENC["),
        "binary, as sops stores it"
    );
}

#[test]
fn numbers_are_never_changed_silently() {
    // Integral floats print as sops prints them.
    let out = both_ways(
        "floats.yaml",
        "f: 5432.0\ng: 1e3\nh: 0.1\ni: 1.5e300\nj: .inf\nm: 9223372036854775807\n",
    );
    assert!(
        out.contains("f: 5432\n") && out.contains("g: 1000\n"),
        "{out}"
    );

    let dir = tempfile::tempdir().unwrap();
    // Beyond int64 in YAML: sops refuses (exit 23), and so does sealctl, naming the line.
    let yaml = write(
        dir.path(),
        "big.yaml",
        "port: 1\nbig: 9223372036854775808\n",
    );
    let by_sops = sops_encrypt(&yaml);
    assert_eq!(by_sops.status.code(), Some(23), "{}", stderr(&by_sops));
    let by_sealctl = sealctl_encrypt(&yaml);
    assert_eq!(
        by_sealctl.status.code(),
        Some(23),
        "{}",
        stderr(&by_sealctl)
    );
    let why = stderr(&by_sealctl);
    assert!(why.contains("big.yaml") && why.contains("line 2"), "{why}");
    assert!(by_sealctl.stdout.is_empty());
    // Further out, sops turns it into a float; sealctl still refuses (a documented difference).
    let huge = write(dir.path(), "huge.yaml", "big: 123456789012345678901234\n");
    assert_eq!(sops_encrypt(&huge).status.code(), Some(0));
    assert_eq!(sealctl_encrypt(&huge).status.code(), Some(23));
    // JSON: sops reads numbers as float64 and rounds this one; sealctl refuses.
    let json = write(dir.path(), "big.json", "{\"id\": 12345678901234567}\n");
    let out = sealctl_encrypt(&json);
    assert_eq!(out.status.code(), Some(23), "{}", stderr(&out));
    assert!(stderr(&out).contains("quote it"), "{}", stderr(&out));
}

/// The agent shares the format code: a repository whose files `sops` wrote with timestamps and
/// comments inside lists is applied, the date arriving as the text sops prints for it.
#[test]
fn the_agent_applies_what_sops_writes() {
    let fx = crate::git_servers::Fixture::new();
    let secret = "\
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: team-a
stringData:
  password: s3cret-compat
  expires: 2025-06-30
---
apiVersion: example.com/v1
kind: Firewall
metadata:
  name: office
spec:
  allow:
    - 10.0.0.1  # office
    # the VPN
    - 10.0.0.2
";
    let dir = tempfile::tempdir().unwrap();
    let plain = write(dir.path(), "db.yaml", secret);
    let encrypted = ok(sops()
        .args(["--disable-version-check", "encrypt", "--age", ONE])
        .args(["--encrypted-regex", "^(stringData|spec)$"])
        .arg(&plain))
    .stdout;
    assert!(String::from_utf8_lossy(&encrypted).contains("type:time]"));
    assert!(String::from_utf8_lossy(&encrypted).contains("type:comment]"));
    fx.write("apps/db.yaml", &encrypted);
    fx.commit("a sops file with a date and comments in a list");
    let sink = dir.path().join("sink");
    let out = crate::agent_dir::agent()
        .args(["run", "--once", "--repo"])
        .arg(fx.file_url())
        .arg("--sink")
        .arg(format!("dir:{}", sink.display()))
        .arg("--identity")
        .arg(key("one.agekey"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let read = |k: &str| std::fs::read_to_string(sink.join("team-a/db").join(k)).unwrap();
    assert_eq!(read("password"), "s3cret-compat");
    assert_eq!(read("expires"), "2025-06-30T00:00:00Z");
}

/// A dotenv key starting with `sops_` would be read back as metadata: sops refuses to encrypt such a
/// file (exit 203) and `sops set` breaks the file's MAC; sealctl refuses both and leaves the file as it
/// was.
#[test]
fn dotenv_keys_starting_with_sops_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "app.env", "A=1\nsops_token=s3cret\n");
    assert_eq!(sops_encrypt(&file).status.code(), Some(203));
    let out = sealctl()
        .args(["encrypt", "-i", "--age", ONE])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(203), "{}", stderr(&out));
    assert!(stderr(&out).contains("sops_"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "A=1\nsops_token=s3cret\n"
    );

    let file = write(dir.path(), "ok.env", "A=1\n");
    ok(sealctl().args(["encrypt", "-i", "--age", ONE]).arg(&file));
    let before = std::fs::read(&file).unwrap();
    let out = sealctl()
        .env("SOPS_AGE_KEY_FILE", key("one.agekey"))
        .arg("set")
        .arg(&file)
        .args([r#"["sops_x"]"#, r#""v""#])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(203), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "the file is unchanged"
    );
    assert!(sealctl_decrypt(&file).status.success());
}

/// `.sops.yaml` is found as sops finds it: `.sops.yml` is ignored with sops' warning (a parent's
/// `.sops.yaml` applies), `SOPS_CONFIG` names one, `SOPS_AGE_RECIPIENTS` gives recipients, and `--age`
/// replaces only the recipients of the matching rule.
#[test]
fn sops_yaml_is_looked_up_as_sops_does() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("team");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(
        dir.path().join(".sops.yaml"),
        format!("creation_rules:\n  - age: {ONE}\n    encrypted_regex: ^a$\n    mac_only_encrypted: true\n"),
    )
    .unwrap();
    std::fs::write(
        sub.join(".sops.yml"),
        format!("creation_rules:\n  - age: {TWO}\n"),
    )
    .unwrap();
    let file = write(&sub, "f.yaml", "a: 1\nb: 2\n");
    let in_sub = |tool: &mut std::process::Command| {
        let out = tool.current_dir(&sub).arg("f.yaml").output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        out
    };
    let by_sops = in_sub(sops().args(["--disable-version-check", "encrypt"]));
    let by_sealctl = in_sub(sealctl().arg("encrypt"));
    assert_eq!(shape(&by_sealctl.stdout), shape(&by_sops.stdout));
    let text = stdout(&by_sealctl);
    assert!(
        text.contains(ONE) && !text.contains(TWO),
        "the parent's .sops.yaml applies:\n{text}"
    );
    assert!(stderr(&by_sealctl).contains("ignoring") && stderr(&by_sealctl).contains(".sops.yml"));

    // --age replaces the recipients and keeps the rule's encrypted_regex and mac_only_encrypted.
    let by_sops = in_sub(sops().args(["--disable-version-check", "encrypt", "--age", THREE]));
    let by_sealctl = in_sub(sealctl().args(["encrypt", "--age", THREE]));
    let text = stdout(&by_sealctl);
    assert!(text.contains(THREE) && !text.contains(ONE), "{text}");
    assert!(
        text.contains("mac_only_encrypted: true") && text.contains("encrypted_regex: ^a$"),
        "{text}"
    );
    assert_eq!(shape(&by_sealctl.stdout), shape(&by_sops.stdout));

    // SOPS_AGE_RECIPIENTS and SOPS_CONFIG, as sops reads them.
    let elsewhere = write(
        dir.path(),
        "other.yaml",
        &format!("creation_rules:\n  - age: {TWO}\n"),
    );
    let by_sops = in_sub(
        sops()
            .env("SOPS_CONFIG", &elsewhere)
            .args(["--disable-version-check", "encrypt"]),
    );
    let by_sealctl = in_sub(sealctl().env("SOPS_CONFIG", &elsewhere).arg("encrypt"));
    assert!(stdout(&by_sealctl).contains(TWO) && stdout(&by_sops).contains(TWO));
    let by_sealctl = in_sub(sealctl().env("SOPS_AGE_RECIPIENTS", THREE).arg("encrypt"));
    assert!(stdout(&by_sealctl).contains(THREE));
    drop(file);
}

/// A Flux user's `secretGenerator` over a sops-encrypted `.env`: Kustomize (as Flux runs it) makes a
/// Secret of it; sealsync does not run Kustomize, so it refuses the generator with a reason naming the
/// file and what to commit instead — never an exit 0 with nothing applied — and applies the rest.
#[test]
fn a_flux_secret_generator_is_refused_not_skipped() {
    let fx = crate::git_servers::Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let env = write(dir.path(), "db.env", "PASSWORD=s3cret-flux\n");
    let encrypted_env = ok(sops()
        .args(["--disable-version-check", "encrypt", "--age", ONE])
        .arg(&env))
    .stdout;
    let kustomization = "\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: team-a
secretGenerator:
  - name: db
    envs: [db.env]
";
    let secret = write(
        dir.path(),
        "api.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\n  namespace: team-a\nstringData:\n  token: s3cret-api\n",
    );
    let encrypted_secret = ok(sops()
        .args(["--disable-version-check", "encrypt", "--age", ONE])
        .args(["--encrypted-regex", "^stringData$"])
        .arg(&secret))
    .stdout;
    // What Flux's Kustomize makes of the folder: a Secret with a hashed name.
    let flux_dir = dir.path().join("flux");
    std::fs::create_dir(&flux_dir).unwrap();
    std::fs::write(flux_dir.join("kustomization.yaml"), kustomization).unwrap();
    std::fs::write(flux_dir.join("db.env"), &encrypted_env).unwrap();
    let built = ok(std::process::Command::new("kubectl")
        .args(["kustomize"])
        .arg(&flux_dir));
    assert!(stdout(&built).contains("name: db-"), "{}", stdout(&built));

    fx.write("apps/team-a/kustomization.yaml", kustomization);
    fx.write("apps/team-a/db.env", &encrypted_env);
    fx.write("apps/team-a/api.yaml", &encrypted_secret);
    fx.commit("a Flux secretGenerator beside a Secret");
    let sink = dir.path().join("sink");
    let out = crate::agent_dir::agent()
        .args(["run", "--once", "--repo"])
        .arg(fx.file_url())
        .arg("--sink")
        .arg(format!("dir:{}", sink.display()))
        .arg("--identity")
        .arg(key("one.agekey"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let logs = stderr(&out);
    assert!(
        logs.contains("apps/team-a/kustomization.yaml") && logs.contains("secretGenerator 'db'"),
        "{logs}"
    );
    assert!(!logs.contains("s3cret"), "{logs}");
    let token = std::fs::read_to_string(sink.join("team-a/api/token")).unwrap();
    assert_eq!(token, "s3cret-api");
}

/// `.sops.yaml`'s `stores: {yaml: {indent: N}, json: {indent: N}}` lays files out as sops does, for
/// encrypt and decrypt; `--indent N` does the same (sops 3.11 accepts that flag but ignores it).
#[test]
fn store_indentation_follows_sops_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "a:\n  b:\n    c: 1\n  l:\n    - x\n    - k: v\n      k2: |\n        line1\n        line2\n    - - n1\n      - n2\nlead: |2\n    indented\n  next\n";
    let json = "{\"a\": {\"b\": [1, {\"c\": 2}]}}\n";
    for indent in [2, 6] {
        std::fs::write(
            dir.path().join(".sops.yaml"),
            format!("stores:\n  yaml:\n    indent: {indent}\n  json:\n    indent: {indent}\ncreation_rules:\n  - age: {ONE}\n"),
        )
        .unwrap();
        for (name, text) in [("i.yaml", yaml), ("i.json", json)] {
            write(dir.path(), name, text);
            let enc = |cmd: &mut std::process::Command| {
                let out = cmd.current_dir(dir.path()).arg(name).output().unwrap();
                assert!(out.status.success(), "{}", stderr(&out));
                out.stdout
            };
            let by_sops = enc(sops().args(["--disable-version-check", "encrypt"]));
            let by_sealctl = enc(sealctl().arg("encrypt"));
            assert_eq!(
                shape(&by_sealctl),
                shape(&by_sops),
                "{name}, indent {indent}"
            );
            let file = write(dir.path(), &format!("enc-{name}"), "");
            std::fs::write(&file, &by_sops).unwrap();
            let reference = stdout(&ok(sops()
                .current_dir(dir.path())
                .env("SOPS_AGE_KEY_FILE", key("one.agekey"))
                .args(["--disable-version-check", "decrypt"])
                .arg(&file)));
            let ours = sealctl()
                .current_dir(dir.path())
                .env("SOPS_AGE_KEY_FILE", key("one.agekey"))
                .arg("decrypt")
                .arg(&file)
                .output()
                .unwrap();
            assert_eq!(stdout(&ours), reference, "{name}, indent {indent}");
            std::fs::remove_file(dir.path().join(".sops.yaml")).unwrap();
            let flag = sealctl()
                .current_dir(dir.path())
                .env("SOPS_AGE_KEY_FILE", key("one.agekey"))
                .args(["--indent", &indent.to_string(), "decrypt"])
                .arg(&file)
                .output()
                .unwrap();
            assert_eq!(stdout(&flag), reference, "--indent {indent}, {name}");
            std::fs::write(
                dir.path().join(".sops.yaml"),
                format!("stores:\n  yaml:\n    indent: {indent}\n  json:\n    indent: {indent}\ncreation_rules:\n  - age: {ONE}\n"),
            )
            .unwrap();
        }
    }
}
