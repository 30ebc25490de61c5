//! Benchmark fixture generator (not a timing benchmark): writes N sops-encrypted Kubernetes Secrets,
//! each with its own data key and its own random values, as a real GitOps repository would hold them.
//!
//! An `[[example]]` target (see Cargo.toml for why not a bench), driven by environment variables so the
//! scripts under `scripts/bench/` can call it with `cargo run --release --example gen_repo`:
//!
//! - `SEALSYNC_BENCH_OUT`  folder to write into (created; files go under `apps/team-XX/`)
//! - `SEALSYNC_BENCH_N`    number of Secrets (default 1000)
//! - `SEALSYNC_BENCH_RECIPIENT` age recipient (default: `tests/fixtures/sops/keys/one.agekey`'s)
//! - `SEALSYNC_BENCH_TEAMS` number of team folders / namespaces (default 50)
//!
//! Every file is encrypted with `--encrypted-regex '^(data|stringData)$'`, like the fixtures that
//! `sops encrypt` wrote, so both sealsync and the real sops decrypt the same bytes.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use rand::{Rng, RngCore};
use sealsync_sops::keys::parse_recipient_list;
use sealsync_sops::sops::file::{encrypt, EncryptionSpec};
use sealsync_sops::sops::rules::RuleSet;
use sealsync_sops::sops::stores::Format;

const DEFAULT_RECIPIENT: &str = "age16ghs0xxhqu2rxrjhnmql5t2pcrc4xlfp9sp643fthhzsygvxnafqxrvr3p";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} must be a number, got {v:?}"))
        })
        .unwrap_or(default)
}

fn random_text(rng: &mut impl RngCore, len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..len)
        .map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char)
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` passes `--bench`; nothing else is read from the command line.
    let Some(out) = std::env::var_os("SEALSYNC_BENCH_OUT").map(PathBuf::from) else {
        eprintln!("gen_repo: set SEALSYNC_BENCH_OUT (and SEALSYNC_BENCH_N); nothing generated");
        return Ok(());
    };
    let n = env_usize("SEALSYNC_BENCH_N", 1000);
    let teams = env_usize("SEALSYNC_BENCH_TEAMS", 50).max(1);
    let recipient = std::env::var("SEALSYNC_BENCH_RECIPIENT")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_RECIPIENT.to_string());
    let spec = EncryptionSpec {
        groups: vec![parse_recipient_list(&recipient)?],
        threshold: 0,
        rules: RuleSet {
            encrypted_regex: Some("^(data|stringData)$".into()),
            ..Default::default()
        },
    };
    let started = Instant::now();
    let mut rng = rand::thread_rng();
    for i in 0..n {
        let team = format!("team-{:02}", i % teams);
        let dir = out.join("apps").join(&team);
        std::fs::create_dir_all(&dir)?;
        let name = format!("secret-{i:05}");
        let pw_len = rng.gen_range(20..40);
        let plain = format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {team}\n  labels:\n    app: {name}\ntype: Opaque\nstringData:\n  username: {user}\n  password: {pw}\n  url: postgres://{user}@db.{team}.svc:5432/{name}?sslmode=require\n  api-token: {tok}\n",
            user = format!("svc_{}", random_text(&mut rng, 8)),
            pw = random_text(&mut rng, pw_len),
            tok = random_text(&mut rng, 40),
        );
        let encrypted = encrypt(plain.as_bytes(), Format::Yaml, &spec)?;
        std::fs::File::create(dir.join(format!("{name}.yaml")))?.write_all(&encrypted)?;
    }
    eprintln!(
        "gen_repo: {n} encrypted Secrets in {} teams under {} in {:.2}s",
        teams,
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
