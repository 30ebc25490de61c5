//! The hostile corpus (`tests/hostile/`, made by the real `sops` with `generate.py`): every file read
//! by `sealctl` (decrypt, or render for manifests) and, in one git repository beside good files, by the
//! agent (`sealsync run --once --sink dir:`). Each case's expected outcome is in
//! `tests/hostile/manifest.yaml`: sealctl refuses the file naming it and the reason; the agent applies
//! exactly the good files and refuses every hostile one with an error naming the file and the reason.
//! The agent's peak RSS (`wait4`'s `ru_maxrss`) and each case's outcome are printed, not asserted
//! against time.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::bounds_agent::run_once_from;
use crate::git_servers::{git_daemon, Fixture};
use crate::support::{key, root, sealctl, stderr};

/// One case of the manifest.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// Path under `tests/hostile/files/` (a folder for `many-files`).
    file: String,
    /// What is hostile about it.
    what: String,
    /// Made by this test rather than committed (too large to commit): its generator's name.
    #[serde(default)]
    generated: Option<String>,
    /// `decrypt` or `render`; none when the file is not sealctl's to read (an applied good file).
    #[serde(default)]
    sealctl: Option<String>,
    /// A substring of sealctl's error (stderr, or render's refusal line); `ok` when it succeeds.
    #[serde(default)]
    sealctl_says: Option<String>,
    /// `refused` (the default), `applied` (a good file), `ignored` (not a manifest: the agent reads
    /// only YAML and JSON), or `accepted` (a store, which writes no Secret).
    #[serde(default = "refused")]
    agent: String,
    /// A substring of the agent's refusal of this file.
    #[serde(default)]
    agent_says: Option<String>,
    /// The Secrets (`namespace/name`) an applied file writes.
    #[serde(default)]
    applies: Vec<String>,
}

fn refused() -> String {
    "refused".into()
}

fn corpus() -> PathBuf {
    root().join("tests/hostile")
}

fn manifest() -> Vec<Case> {
    let text = std::fs::read_to_string(corpus().join("manifest.yaml")).unwrap();
    let cases: Vec<Case> = serde_yaml_ng::from_str(&text).expect("manifest.yaml parses");
    let files = corpus().join("files");
    for c in &cases {
        assert!(
            c.generated.is_some() || files.join(&c.file).is_file(),
            "manifest names a missing file: {}",
            c.file
        );
    }
    cases
}

/// Every committed file of the corpus has a case.
#[test]
fn every_corpus_file_has_an_expected_outcome() {
    let cases = manifest();
    let listed: BTreeSet<&str> = cases.iter().map(|c| c.file.as_str()).collect();
    let files = corpus().join("files");
    let mut missing = Vec::new();
    for path in walk(&files) {
        let rel = path
            .strip_prefix(&files)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        if !listed.contains(rel.as_str()) {
            missing.push(rel);
        }
    }
    assert!(
        missing.is_empty(),
        "files without a case in manifest.yaml: {missing:?}"
    );
    assert!(cases.len() >= 60, "{} cases", cases.len());
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Files too large to commit, written into `dir` (the corpus root of the repository or a scratch
/// copy): the generator's name → the paths it wrote.
fn generate(name: &str, rel: &str, dir: &Path) -> Vec<String> {
    let write = |rel: &str, bytes: &[u8]| {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
        rel.to_string()
    };
    match name {
        // Over the default --max-file-size (5 MiB) of both tools' agent side.
        "huge-file" => {
            let mut text = String::from(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: huge\nstringData:\n",
            );
            let line = format!("  k{{}}: {}\n", "x".repeat(100));
            let mut i = 0;
            while text.len() < 6 * 1024 * 1024 {
                text.push_str(&line.replace("{}", &i.to_string()));
                i += 1;
            }
            vec![write(rel, text.as_bytes())]
        }
        // A Secret whose data is over the API server's 1 MiB.
        "secret-over-1mib" => {
            let value: String = (0..1_100_000u32)
                .map(|i| char::from(b'a' + (i.wrapping_mul(2_654_435_761) >> 27) as u8 % 26))
                .collect();
            let text = format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: large\nstringData:\n  big: {value}\n");
            vec![write(rel, text.as_bytes())]
        }
        // More nodes than any parser keeps (200,000), in a 400 KB JSON file.
        "many-nodes" => {
            let mut text = String::from("{\"a\": [0");
            text.push_str(&",0".repeat(200_001));
            text.push_str("]}");
            vec![write(rel, text.as_bytes())]
        }
        // Many small broken files in one folder: each is refused on its own.
        "many-files" => (0..MANY_FILES)
            .map(|i| write(&format!("{rel}/f{i}.yaml"), format!("k: [{i}\n").as_bytes()))
            .collect(),
        other => panic!("unknown generator {other}"),
    }
}

const MANY_FILES: usize = 3000;

/// The agent's view of the corpus: namespace rules per folder, per-team decryption identities, the
/// platform folder as the only place for ClusterSecretStores.
fn agent_args() -> Vec<String> {
    [
        "--identity",
        key("one-and-two.agekeys").to_str().unwrap(),
        "--namespace-policy",
        "good/**=default;cases/**=default;team-a/**=team-a;team-b/**=team-b;platform/**=*",
        "--decryption-policy",
        &format!(
            "team-a/**={};team-b/**={}",
            key("one.agekey").display(),
            key("two.agekey").display()
        ),
        "--cluster-store-path",
        "platform/**",
        "--default-namespace",
        "default",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn the_agent_applies_the_good_files_and_refuses_each_hostile_one() {
    let cases = manifest();
    let fx = Fixture::new();
    copy_dir(&corpus().join("files"), &fx.work);
    let mut generated = Vec::new();
    for c in &cases {
        if let Some(g) = &c.generated {
            generated.push((c, generate(g, &c.file, &fx.work)));
        }
    }
    fx.commit("the hostile corpus");
    let daemon = git_daemon(&fx);
    let url = std::ffi::OsString::from(format!("git://127.0.0.1:{}/repo.git", daemon.port));
    let work = tempfile::tempdir().unwrap();
    let args = agent_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = run_once_from(&url, work.path(), &args);
    let records = log_records(&run.stderr);
    let lines: Vec<&str> = records.iter().map(String::as_str).collect();
    eprintln!(
        "hostile corpus: {} cases, agent exit {}, peak RSS {} KiB ({:.1} MiB)",
        cases.len(),
        run.code,
        run.peak_kib,
        run.peak_kib as f64 / 1024.0
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);

    let mut failures = Vec::new();
    let mut expected_secrets = BTreeSet::new();
    for c in &cases {
        let files: Vec<String> = match generated.iter().find(|(g, _)| std::ptr::eq(*g, c)) {
            Some((_, files)) => files.clone(),
            None => vec![c.file.clone()],
        };
        let outcome = match c.agent.as_str() {
            "applied" => {
                expected_secrets.extend(c.applies.iter().cloned());
                "applied".to_string()
            }
            "ignored" | "accepted" => {
                let named: Vec<&&str> = lines.iter().filter(|l| l.contains(&c.file)).collect();
                // What is ignored may be said (agent_says), never as a refusal.
                let said = match &c.agent_says {
                    Some(says) => {
                        named.iter().any(|l| l.contains(says.as_str()))
                            && !named.iter().any(|l| l.contains("refused"))
                    }
                    None => named.is_empty(),
                };
                if !said {
                    failures.push(format!(
                        "{}: expected {} but the agent said: {named:?}",
                        c.file, c.agent
                    ));
                }
                c.agent.clone()
            }
            "refused" => {
                let says = c
                    .agent_says
                    .as_deref()
                    .expect("agent_says for a refused case");
                for f in &files {
                    let line = lines
                        .iter()
                        .find(|l| l.contains(f.as_str()) && l.contains(says));
                    if line.is_none() {
                        let named: Vec<&&str> =
                            lines.iter().filter(|l| l.contains(f.as_str())).collect();
                        failures.push(format!(
                            "{f}: expected a refusal with {says:?}; lines naming it: {named:?}"
                        ));
                    }
                }
                format!("refused: {says}")
            }
            other => panic!("{}: unknown agent outcome {other}", c.file),
        };
        eprintln!("  {:<58} agent {} [{}]", c.file, outcome, c.what);
    }
    let written = written_secrets(&work.path().join("out"));
    if written != expected_secrets {
        failures.push(format!(
            "the sink holds {written:?}, expected exactly the good files' {expected_secrets:?}"
        ));
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}\n--- agent stderr (first 200 lines) ---\n{}",
        failures.len(),
        failures.join("\n"),
        lines
            .iter()
            .take(200)
            .copied()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn sealctl_refuses_each_hostile_file_naming_it_and_the_reason() {
    let cases = manifest();
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    copy_dir(&corpus().join("files"), dir);
    let mut failures = Vec::new();
    for c in &cases {
        let Some(cmd) = c.sealctl.as_deref() else {
            continue;
        };
        let says = c
            .sealctl_says
            .as_deref()
            .expect("sealctl_says with sealctl");
        let files = match &c.generated {
            // One of many is enough for sealctl.
            Some(g) => generate(g, &c.file, dir).into_iter().take(1).collect(),
            None => vec![c.file.clone()],
        };
        for f in files {
            let mut command = sealctl();
            command
                .current_dir(dir)
                .arg("--identity")
                .arg(key("one-and-two.agekeys"));
            match cmd {
                "decrypt" => command.args(["decrypt", &f]),
                // The stores the references name are read with the file, as the agent reads them.
                "render" => command.args([
                    "render",
                    "--no-resolve",
                    "--cluster-store-path",
                    "platform/**",
                    &f,
                    "cases/eso/store.yaml",
                    "platform/cluster-store-team-b.yaml",
                ]),
                other => panic!("{}: unknown sealctl command {other}", c.file),
            };
            let out = command.output().unwrap();
            let (out_text, err_text) = (
                String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr(&out),
            );
            assert!(!err_text.contains("panicked"), "{f}: {err_text}");
            let ok = if says == "ok" {
                out.status.success()
            } else {
                // render names the file on the line above its error (under the Secret's heading).
                let text = format!("{out_text}{err_text}");
                !out.status.success() && text.contains(f.as_str()) && text.contains(says)
            };
            eprintln!(
                "  {:<58} sealctl {cmd}: exit {:?}: {}",
                f,
                out.status.code(),
                err_text
                    .lines()
                    .chain(out_text.lines())
                    .find(|l| l.contains(f.as_str()))
                    .unwrap_or("")
            );
            if !ok {
                failures.push(format!(
                    "{f}: sealctl {cmd} expected {says:?}, exit {:?}\nstdout: {out_text}\nstderr: {err_text}",
                    out.status.code()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn copy_dir(from: &Path, to: &Path) {
    for path in walk(from) {
        let dest = to.join(path.strip_prefix(from).unwrap());
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&path, dest).unwrap();
    }
}

/// `namespace/name` of every Secret the dir sink holds.
fn written_secrets(out: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let Ok(namespaces) = std::fs::read_dir(out) else {
        return found;
    };
    for ns in namespaces.flatten() {
        let ns_name = ns.file_name().to_string_lossy().into_owned();
        if ns_name.starts_with('.') || !ns.path().is_dir() {
            continue;
        }
        for secret in std::fs::read_dir(ns.path()).unwrap().flatten() {
            let name = secret.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') {
                found.insert(format!("{ns_name}/{name}"));
            }
        }
    }
    found
}

/// The agent's log records: a message that spans lines (a regex error, an age error) continues until
/// the next line that starts with a timestamp.
fn log_records(stderr: &str) -> Vec<String> {
    let mut records: Vec<String> = Vec::new();
    for line in stderr.lines() {
        let starts_record = line.len() > 4 && line.as_bytes()[..4].iter().all(u8::is_ascii_digit);
        match records.last_mut() {
            Some(last) if !starts_record => {
                last.push(' ');
                last.push_str(line);
            }
            _ => records.push(line.to_string()),
        }
    }
    records
}
