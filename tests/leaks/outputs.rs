//! What a running agent writes and shows, traced at the system-call level: a long-running agent (dir
//! sink, values from OpenBao and AWS Secrets Manager rotated while it runs, an AppRole login, a
//! reference refused) under `strace -f`, with debug logs. Values may be written only into the sink's
//! files (and the store's token, the AppRole secret id and the client token only to OpenBao); the age
//! identity never.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::git_servers::{free_port, Fixture};
use crate::moto::Moto;
use crate::support::{self, poll_until_or};
use crate::world::{self, Bao, Values};

/// Panics if `text` holds any value of the run, anything shaped like an OpenBao token (the AppRole
/// login's client token) or the age identity (in either case).
pub fn assert_none_in(text: &str, values: &Values, what: &str) {
    for v in values.plaintexts() {
        assert!(!text.contains(v), "{what} holds a secret value");
    }
    assert!(
        login_token(text).is_none(),
        "{what} holds an OpenBao client token"
    );
    let lower = text.to_lowercase();
    assert!(
        !lower.contains(&values.identity.to_lowercase()),
        "{what} holds the age identity"
    );
}

/// The first text shaped like an OpenBao service token (`s.` and 24 letters and digits) in `text`.
fn login_token(text: &str) -> Option<&str> {
    static SHAPE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let shape = SHAPE.get_or_init(|| regex::Regex::new(r"\bs\.[A-Za-z0-9]{24}\b").unwrap());
    shape.find(text).map(|m| m.as_str())
}

/// Every system call of the agent and its children that writes or sends data, with the file or socket
/// it goes to (`strace -yy`), strings in full.
fn traced(agent: &Path, trace: &Path) -> Command {
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-yy", "-s", "4194304", "-o"])
        .arg(trace)
        .args([
            "-e",
            "trace=write,writev,pwrite64,pwritev,pwritev2,sendto,sendmsg,sendmmsg,openat,creat,rename,renameat2,memfd_create",
        ])
        .arg(agent);
    cmd
}

pub fn outputs_of_a_running_agent_hold_no_value(values: &Values) {
    let fx = Fixture::new();
    let bao_home = tempfile::tempdir().unwrap();
    let bao = Bao::start(bao_home.path(), &values.token);
    world::remote_values(&bao, values, &values.remote_password);
    let role_id = bao.approle(&values.secret_id);
    let moto = Moto::start(fx.dir.path());
    world::aws_values(&moto, values, &values.aws_string);
    world::repository(&fx, &bao, &role_id, values);
    let sink = fx.dir.path().join("sink");
    let tmp = fx.scratch("tmp");
    let trace = fx.dir.path().join("strace.out");
    let log = fx.dir.path().join("agent.log");
    let port = free_port();
    let mut child = traced(Path::new(env!("CARGO_BIN_EXE_sealsync")), &trace)
        .args(["run", "--repo", &fx.file_url(), "--interval", "1h"])
        .arg(format!("--sink=dir:{}", sink.display()))
        .arg(format!("--listen=127.0.0.1:{port}"))
        .arg("--cache-dir")
        .arg(fx.dir.path().join("cache"))
        .arg("--identity")
        .arg(support::key("one.agekey"))
        .env("SEALSYNC_LOG", "debug")
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("TMPDIR", &tmp)
        .env("HOME", fx.scratch("home"))
        .env_remove("SOPS_AGE_KEY")
        .env_remove("SOPS_AGE_KEY_FILE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("strace is needed (apt-get install strace)");
    let logs = || std::fs::read_to_string(&log).unwrap_or_default();
    let holds = |name: &str, key: &str, want: &str| {
        world::sink_value(&sink, name, key).as_deref() == Some(want)
    };
    poll_until_or(
        "the first pass",
        || {
            holds("remote", "password", &values.remote_password)
                && holds("via-approle", "password", &values.remote_password)
                && holds("aws", "string", &values.aws_string)
                && holds("aws", "binary", &values.aws_binary)
                && holds("aws", "pinned", &values.aws_pinned)
                && holds("db", "user", &values.file_user)
        },
        logs,
    );
    // A rotation in OpenBao and in moto reaches the sink on the ExternalSecrets' refresh (every
    // second).
    world::remote_values(&bao, values, &values.rotated);
    world::rotate_aws(&moto, &values.aws_rotated);
    poll_until_or(
        "the rotated values",
        || {
            holds("remote", "password", &values.rotated)
                && holds("via-approle", "password", &values.rotated)
                && holds("aws", "string", &values.aws_rotated)
        },
        logs,
    );
    let get = |path: &str| {
        let out = Command::new("curl")
            .args(["-sf", &format!("http://127.0.0.1:{port}{path}")])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let (metrics, status) = (get("/metrics"), get("/status"));
    assert!(metrics.contains("sealsync_"), "{metrics}");
    assert!(
        status.contains("nope"),
        "the refused reference is explained:\n{status}"
    );
    stop(&mut child, &logs);

    let logs = logs();
    assert!(logs.contains("DEBUG"), "debug logs on");
    for (what, text) in [
        ("the log", &logs),
        ("/metrics", &metrics),
        ("/status", &status),
    ] {
        assert_none_in(text, values, what);
    }
    let trace = std::fs::read_to_string(&trace).unwrap();
    check_writes(&trace, values, &sink, bao.port);
    // No file outside the sink holds a value: the git cache, TMPDIR, HOME, the log.
    for file in files(fx.dir.path()) {
        if file.starts_with(&sink) || file == fx.dir.path().join("strace.out") {
            continue;
        }
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        assert_none_in(&text, values, &file.display().to_string());
    }
}

/// SIGTERM to the agent (strace's child), then waits for both.
fn stop(strace: &mut std::process::Child, logs: &dyn Fn() -> String) {
    let children = format!("/proc/{0}/task/{0}/children", strace.id());
    let mut agent = String::new();
    poll_until_or(
        "the agent's pid",
        || {
            agent = std::fs::read_to_string(&children).unwrap_or_default();
            !agent.trim().is_empty()
        },
        logs,
    );
    let pid: i32 = agent.split_whitespace().next().unwrap().parse().unwrap();
    // SAFETY: kill sends a signal to a process this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = strace.wait().unwrap();
    assert!(status.success(), "the agent stops cleanly:\n{}", logs());
}

/// Each traced call that carries a value must write a file of the sink (or, for OpenBao's
/// credentials — the token, the AppRole secret id, the client token of its login — send it to
/// OpenBao); no call carries the identity. Prints how many calls were looked at.
fn check_writes(trace: &str, values: &Values, sink: &Path, bao_port: u16) {
    let sink = sink.display().to_string();
    let bao = format!("->127.0.0.1:{bao_port}]>");
    let identity = values.identity.to_lowercase();
    let (mut calls, mut to_sink, mut to_bao) = (0, 0, 0);
    for line in trace.lines() {
        calls += 1;
        assert!(
            !line.to_lowercase().contains(&identity),
            "a system call carries the age identity: {}",
            &line[..line.len().min(200)]
        );
        let found = values.plaintexts().into_iter().find(|v| line.contains(v));
        let Some(v) = found.or_else(|| login_token(line)) else {
            continue;
        };
        let credential = v == values.token || v == values.secret_id || found.is_none();
        // `write(5</path/to/file>, "…"` or `writev(12<TCP:[a:p->b:q]>, …`: the descriptor's target
        // follows the first '<'.
        let target = line.split_once('<').map_or("", |(_, rest)| rest);
        let is_write = ["write(", "pwrite64(", "writev("]
            .iter()
            .any(|c| line.contains(c));
        if is_write && target.starts_with(&format!("{sink}/")) {
            to_sink += 1;
        } else if credential && target.starts_with("TCP:[") && target.contains(&bao) {
            to_bao += 1;
        } else {
            panic!(
                "a value written outside the sink: {}",
                line.replace(v, "<VALUE>")
            );
        }
    }
    println!("traced {calls} calls: {to_sink} wrote a value into the sink, {to_bao} sent a credential to OpenBao");
    assert!(to_sink > 0 && to_bao > 0, "the trace saw the writes");
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let t = e.file_type().unwrap();
            if t.is_dir() {
                todo.push(e.path());
            } else if t.is_file() {
                out.push(e.path());
            }
        }
    }
    out
}
