//! Leak checks of a full run of the agent (docs/reliability.md, "Leak checks"): no decrypted value,
//! remote value or private key in any block of memory the agent frees, and none in what it writes or
//! shows (logs at debug level, /metrics, /status, error messages, files other than the sink's, any
//! `write` it makes).
//!
//! Its own test binary without the libtest harness: the global allocator inspects every block freed
//! while a check runs, so the checks run one at a time on the main thread, with nothing else in the
//! process freeing memory.

mod freed;
mod outputs;
mod sites;
mod world;

// (allows its own dead code)
#[path = "../it/git_servers.rs"]
mod git_servers;
#[allow(dead_code)]
#[path = "../it/moto.rs"]
mod moto;
#[allow(dead_code)]
#[path = "../it/support.rs"]
mod support;

use std::os::fd::AsRawFd;
use std::path::Path;

use freed::{Hit, Needle, Shape};
use git_servers::Fixture;
use moto::Moto;
use sites::Allowed;
use world::{Bao, Values};

#[global_allocator]
static ALLOCATOR: freed::Inspecting = freed::Inspecting;

/// Why hyper's HTTP/1 write buffer may hold a Vault token.
const HYPER_WRITE_BUF: &str = "hyper's HTTP/1 write buffer: the request head of the last request on a \
    pooled connection (X-Vault-Token among its headers) is encoded into a Vec that hyper reuses and \
    frees when the connection closes, with no way to zeroize it; the token reaches hyper in a \
    zeroizing buffer (crates/providers/src/vault/client.rs)";

/// Third-party code that copies a value into memory it frees without zeroizing, which our code cannot
/// reach. Each entry is as narrow as the stack allows; everything else found fails the check.
const ALLOWED: &[Allowed] = &[
    Allowed {
        frame: "core::ptr::drop_in_place<hyper::proto::h1::io::Cursor<",
        called_from: "core::ptr::drop_in_place<hyper::proto::h1::io::WriteBuf<",
        values: &[world::TOKEN_NAME, world::LOGIN_TOKEN_NAME],
        reason: HYPER_WRITE_BUF,
    },
    Allowed {
        frame: "core::ptr::drop_in_place<hyper::proto::h1::io::Buffered<aws_smithy_http_client::",
        called_from: "core::ptr::drop_in_place<hyper::proto::h1::conn::Conn<aws_smithy_http_client::",
        values: world::AWS_REPLY_NAMES,
        reason: "hyper's HTTP/1 read buffer on a pooled connection to Secrets Manager: the SDK's reply \
                 body is a view of it, and `aws/reply.rs` zeroizes that buffer only when the body is its \
                 last holder; while the connection stays open its read buffer still shares the block \
                 (the room left after the reply), so the block, with the last reply, is freed when the \
                 connection closes. Not in every run (it depends on whether hyper had moved to a new \
                 buffer before the reply was dropped); hyper has no hook to zeroize its buffer",
    },
    Allowed {
        frame: "aws_sigv4::sign::v4::generate_signing_key",
        called_from: "aws_sigv4::http_request::sign::sign",
        values: &[world::AWS_KEY_NAME],
        reason: "the SDK's SigV4 signer derives each request's signing key from \
                 `format!(\"AWS4{secret}\")`, a String it drops without zeroizing; the key reaches the SDK \
                 in its `Credentials`, which zeroize their own copy (avoiding it would take a signer of our own)",
    },
    Allowed {
        frame: "core::ptr::drop_in_place<hyper_util::common::sync::SyncWrapper<",
        called_from: "core::ptr::drop_in_place<hyper_util::client::legacy::client::ResponseFuture>",
        values: &[world::AWS_BINARY_B64_NAME],
        reason: "hyper-util's boxed send-request future (one 3,896-byte block, the pinned GetSecretValue's) \
                 holds no reply data; the base64 text of the batch reply's SecretBinary is in bytes it \
                 never wrote, most likely stack contents copied in when the future is boxed (the SDK \
                 decodes the base64 on the stack of the same thread): a stack copy, which no zeroizing \
                 type of ours reaches; not traced further",
    },
];

type Check = fn(&Values);

const CHECKS: &[(&str, Check)] = &[
    (
        "freed_memory_of_a_full_run_holds_no_value",
        freed_memory_of_a_full_run_holds_no_value,
    ),
    (
        "outputs_of_a_running_agent_hold_no_value",
        outputs::outputs_of_a_running_agent_hold_no_value,
    ),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in CHECKS {
            println!("{name}: test");
        }
        return;
    }
    // libtest's flags are accepted and ignored; a name filter selects checks as libtest would.
    let filter = args.iter().find(|a| !a.starts_with('-'));
    let key = support::key("one.agekey");
    let values = Values::new(&key);
    freed::set_needles(
        values
            .named()
            .iter()
            .map(|(name, value)| Needle::new(name.clone(), value.as_bytes()))
            .collect(),
    );
    // OpenBao's service tokens: `s.` and 24 letters and digits.
    freed::set_shapes(vec![Shape::new(world::LOGIN_TOKEN_NAME, b"s.", 24)]);
    for (name, check) in CHECKS {
        if filter.is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        println!("running {name}");
        check(&values);
        println!("{name} ... ok");
    }
}

/// The whole agent, `run --once` into a folder, in this process: two encrypted Secrets and the
/// stores' encrypted credentials decrypted, an AppRole login, three values read from OpenBao (one
/// again through the AppRole store), three from AWS Secrets Manager (moto), one reference refused.
/// Every block freed meanwhile is searched for each value (and the age identity) and for anything
/// shaped like an OpenBao token, kept if OpenBao knows it.
fn freed_memory_of_a_full_run_holds_no_value(values: &Values) {
    let fx = Fixture::new();
    let bao_home = tempfile::tempdir().unwrap();
    let bao = Bao::start(bao_home.path(), &values.token);
    world::remote_values(&bao, values, &values.remote_password);
    let role_id = bao.approle(&values.secret_id);
    let moto = Moto::start(fx.dir.path());
    world::aws_values(&moto, values, &values.aws_string);
    world::repository(&fx, &bao, &role_id, values);
    let sink = fx.dir.path().join("sink");
    let log = fx.dir.path().join("agent.log");
    let args: Vec<String> = [
        "sealsync",
        "run",
        "--once",
        "--repo",
        &fx.file_url(),
        "--sink",
        &format!("dir:{}", sink.display()),
        "--cache-dir",
        &fx.dir.path().join("cache").display().to_string(),
        "--identity",
        &support::key("one.agekey").display().to_string(),
        "--log-format",
        "json",
    ]
    .map(String::from)
    .to_vec();
    // Debug logs of every crate, through the agent's own logging set-up, into a file.
    std::env::set_var("SEALSYNC_LOG", "debug");
    std::env::set_var("AWS_ENDPOINT_URL", &moto.url);
    let code = with_stderr_to(&log, || {
        freed::arm();
        let code = sealsync_agent::agent::launch::main_with(&args);
        (code, freed::disarm())
    });
    let (code, (hits, untraced, blocks, bytes)) = code;
    let logs = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        code, 2,
        "one reference is refused, the rest applied:\n{logs}"
    );
    for (name, key, want) in [
        ("db", "password", &values.file_password),
        ("tls", "cert", &values.file_cert),
        ("remote", "password", &values.remote_password),
        ("remote", "extract", &values.remote_extract),
        ("via-approle", "password", &values.remote_password),
        ("aws", "string", &values.aws_string),
        ("aws", "binary", &values.aws_binary),
        ("aws", "pinned", &values.aws_pinned),
    ] {
        assert_eq!(
            world::sink_value(&sink, name, key).as_ref(),
            Some(want),
            "{name}/{key}:\n{logs}"
        );
    }
    assert!(logs.contains("\"level\":\"DEBUG\""), "debug logs on");
    outputs::assert_none_in(&logs, values, "the debug log of the in-process run");

    let (hits, other_shapes) = confirmed(hits, &bao);
    let names: Vec<String> = freed::needles()
        .iter()
        .map(|n| n.name.clone())
        .chain(freed::shapes().iter().map(|s| s.name.clone()))
        .collect();
    let sites = sites::group(&hits, ALLOWED, &names);
    println!(
        "inspected {blocks} freed blocks, {:.1} MiB; {} held a value ({untraced} found while recording another)",
        bytes as f64 / (1024.0 * 1024.0),
        hits.len()
    );
    println!("{other_shapes} block(s) held text shaped like a token that OpenBao does not know");
    println!("{}", sites.report(&names));
    assert_eq!(
        untraced + sites.untraced,
        0,
        "more finds than stacks captured: every find must be placed"
    );
    let unexplained: Vec<_> = sites.unexplained().collect();
    assert!(
        unexplained.is_empty(),
        "{} place(s) free memory holding a value without zeroizing it (see above)",
        unexplained.len()
    );
}

/// The finds of values, and of token-shaped text that OpenBao knows as a token (the agent's login);
/// how many token-shaped finds were something else.
fn confirmed(hits: Vec<Hit>, bao: &Bao) -> (Vec<Hit>, usize) {
    let (shaped, mut kept): (Vec<Hit>, Vec<Hit>) =
        hits.into_iter().partition(|h| h.shaped.is_some());
    let mut others = 0;
    for hit in shaped {
        let text = String::from_utf8_lossy(hit.shaped.as_deref().unwrap_or_default()).into_owned();
        if bao.is_token(&text) {
            kept.push(hit);
        } else {
            others += 1;
        }
    }
    (kept, others)
}

/// Runs `f` with the process's standard error going to `path`.
fn with_stderr_to<T>(path: &Path, f: impl FnOnce() -> T) -> T {
    let file = std::fs::File::create(path).unwrap();
    // SAFETY: dup and dup2 on descriptors this process owns; the saved one is restored below.
    let saved = unsafe { libc::dup(2) };
    assert!(saved >= 0);
    assert!(unsafe { libc::dup2(file.as_raw_fd(), 2) } >= 0);
    let out = f();
    // SAFETY: as above.
    unsafe {
        libc::dup2(saved, 2);
        libc::close(saved);
    }
    out
}
