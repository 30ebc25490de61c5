//! Warning Events on the managed Secrets declared by a file that fails to decrypt: once per failure,
//! never on a Secret that is not sealsync's, never with a value.

use sealsync_agent::desired::SecretKey;
use sealsync_agent::documents::{Reason, Refusal};

use super::harness::{create_unmanaged, desired, Agent, Cluster};

fn refusal(ns: &str, name: &str, reason: Reason) -> Refusal {
    Refusal {
        path: format!("apps/{ns}/{name}.yaml"),
        document: None,
        key: Some(SecretKey::new(ns, name)),
        reason,
        message: "MAC mismatch: the file was modified without sops".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_fails_to_decrypt_warns_on_the_managed_secrets_it_declared() {
    let c = Cluster::start().await;
    let agent = Agent::start(&c, &["team-a"], vec![desired("team-a", "db", "good-pw")]).await;
    create_unmanaged(&c, "team-a", "theirs", "their-pw").await;
    let refused = [
        refusal("team-a", "db", Reason::Mac),
        refusal("team-a", "theirs", Reason::Mac),
        refusal("team-a", "missing", Reason::NoKey),
        refusal("team-a", "bad-yaml", Reason::Parse),
    ];
    // Every pass reports the refusals again; the Event is written once.
    for _ in 0..3 {
        agent.sink.warn_failed_files(&refused).await;
    }
    let warnings: Vec<String> = c
        .event_notes("team-a")
        .await
        .into_iter()
        .filter(|(reason, ty, _)| reason == "DecryptFailed" && ty == "Warning")
        .map(|(_, _, note)| note)
        .collect();
    assert_eq!(
        warnings,
        ["apps/team-a/db.yaml [Secret team-a/db]: MAC mismatch: the file was modified without sops; the Secret keeps its last good value (reason: mac)"],
        "only the managed Secret, once"
    );
    let posts = c
        .server
        .requests()
        .into_iter()
        .filter(|r| r.resource == "events" && (r.verb == "create" || r.verb == "patch"))
        .count();
    assert_eq!(posts, 1, "told once, not on every pass");
    agent.stop().await;
}
