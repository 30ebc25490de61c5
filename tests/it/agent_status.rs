//! What a running agent tells about git through `/status`, `/metrics` and `sealctl status` when the
//! repository cannot be fetched: a failing first fetch is shown, every fetch is timed, and the
//! last-success timestamp stands still while the last good commit is served.

use crate::agent_dir::two_team_repo;
use crate::agent_dir_daemon::Daemon;
use crate::git_servers::Fixture;
use crate::support::sealctl;

/// The value of an unlabelled sample in an OpenMetrics text.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn status(d: &Daemon) -> serde_json::Value {
    let (code, body) = d.get("/status");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn git_failures_are_told_truthfully_before_and_after_the_first_good_fetch() {
    let fx = Fixture::new();
    two_team_repo(&fx);
    // The URL names a repository that does not exist yet (a typo, or not pushed yet).
    let late = fx.dir.path().join("late.git");
    let url = format!("file://{}", late.display());
    let sink = fx.dir.path().join("secrets");
    let d = Daemon::spawn(&fx, &url, &sink, "1s");

    d.wait_until(
        || d.get("/status").0 == 200 && !status(&d)["git_error"].is_null(),
        "the failing first fetch to show in /status",
    );
    let first = status(&d);
    assert!(first["commit"].is_null(), "{first}");
    assert!(
        first["git_error"].as_str().unwrap().contains("late.git"),
        "the error names the repository: {first}"
    );
    assert_eq!(d.get("/readyz").0, 503, "nothing was applied yet");
    let metrics = d.get("/metrics").1;
    assert!(
        sample(&metrics, "sealsync_git_fetch_duration_seconds_count").unwrap() >= 1.0,
        "failed fetches are timed too:\n{metrics}"
    );
    assert!(
        sample(&metrics, "sealsync_errors_total{reason=\"git\"}").unwrap() >= 1.0,
        "{metrics}"
    );
    let out = sealctl()
        .args(["status", "--url", &format!("http://127.0.0.1:{}", d.port)])
        .output()
        .unwrap();
    let rendered = String::from_utf8_lossy(&out.stdout);
    assert!(
        rendered.contains("Git error (nothing fetched yet)") && rendered.contains("late.git"),
        "{rendered}"
    );

    // The repository appears: the agent syncs and records a success.
    let copied = std::process::Command::new("cp")
        .arg("-r")
        .arg(&fx.bare)
        .arg(&late)
        .status()
        .unwrap();
    assert!(copied.success());
    d.wait_until(
        || status(&d)["commit"].is_string() && status(&d)["git_error"].is_null(),
        "the first good fetch",
    );
    d.wait_until(
        || {
            sample(
                &d.get("/metrics").1,
                "sealsync_last_success_timestamp_seconds",
            ) > Some(0.0)
        },
        "a success to be recorded",
    );

    // Git becomes unreachable: the last good commit is served, and no pass counts as a success.
    std::fs::rename(&late, fx.dir.path().join("moved.git")).unwrap();
    d.wait_until(
        || !status(&d)["git_error"].is_null(),
        "the failing fetch to show",
    );
    let frozen = sample(
        &d.get("/metrics").1,
        "sealsync_last_success_timestamp_seconds",
    );
    let reconciled = |s: &serde_json::Value| s["last_reconcile"].as_str().map(str::to_string);
    let mut seen = vec![reconciled(&status(&d))];
    // Three more passes on the last good commit (one a second; the timestamps have seconds).
    d.wait_until(
        || {
            let now = reconciled(&status(&d));
            if !seen.contains(&now) {
                seen.push(now);
            }
            seen.len() > 3
        },
        "more passes while git is unreachable",
    );
    let after = status(&d);
    assert!(
        after["commit"].is_string() && !after["git_error"].is_null(),
        "{after}"
    );
    assert_eq!(
        sample(
            &d.get("/metrics").1,
            "sealsync_last_success_timestamp_seconds"
        ),
        frozen,
        "last_success_timestamp stands still while git is unreachable"
    );
}
