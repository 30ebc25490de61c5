//! `scripts/e2e-real-cluster.sh`, the end-to-end run meant for a real cluster, run here against the
//! Kubernetes API test server and a real OpenBao, so the script cannot rot between the rare runs a real
//! cluster gets.

use std::process::{Command, Stdio};

use crate::cluster::Cluster;
use crate::external_refs::{start_bao, TOKEN};
use crate::git_servers::free_port;
use crate::support::{root, PATIENCE};

#[test]
fn the_real_cluster_script_passes_against_the_api_test_server_and_openbao() {
    let cluster = Cluster::start_blocking();
    let home = tempfile::tempdir().unwrap();
    let bao = start_bao(home.path());
    let started = std::time::Instant::now();
    let out = Command::new("bash")
        .arg(root().join("scripts/e2e-real-cluster.sh"))
        .env("KUBECONFIG", cluster.kubeconfig())
        // kubectl's discovery cache and anything else that lives in a home directory.
        .env("HOME", home.path())
        .env("SEALSYNC_BIN", env!("CARGO_BIN_EXE_sealsync"))
        .env("SEALCTL_BIN", env!("CARGO_BIN_EXE_sealctl"))
        .env("E2E_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("E2E_VAULT_ADDR", &bao.addr)
        .env("E2E_VAULT_TOKEN", TOKEN)
        // How long a revert or a rotation may take: the tests' patience, not a speed (the script prints
        // how long each took).
        .env("REVERT_DEADLINE_SECONDS", PATIENCE.as_secs().to_string())
        .env_remove("SOPS_AGE_KEY")
        .env_remove("SOPS_AGE_KEY_FILE")
        .env_remove("VAULT_TOKEN")
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/e2e-real-cluster.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!(
        "scripts/e2e-real-cluster.sh took {:?}:\n{stdout}",
        started.elapsed()
    );
    assert!(
        out.status.success(),
        "the script failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    // Not skipped (no cluster, no kubectl), and every scenario ran, the Vault one included.
    for line in [
        "ok: the agent applied db",
        "ok: kubectl patch reverted",
        "ok: deletion reverted",
        "ok: the ExternalSecret resolved from Vault",
        "ok: the value rotated in Vault reached the Secret",
        "ok: no value in Events, labels, annotations or the log",
        "all end-to-end checks passed",
    ] {
        assert!(
            stdout.contains(line),
            "missing {line:?} in:\n{stdout}\n{stderr}"
        );
    }
    // The script cleans up after itself, as it must on a real cluster: its namespace is gone.
    let (_, namespaces) = cluster.try_kubectl(&["get", "namespaces", "-o", "name"]);
    assert!(
        !namespaces.contains("sealsync-e2e-"),
        "the script left its namespace behind: {namespaces}"
    );
}
