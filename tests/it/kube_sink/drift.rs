//! Drift by hand (kubectl patch, label, delete, edit) reverted by the drift watch, and what it reports.

use std::sync::Arc;
use std::time::Duration;

use kube::api::ListParams;
use sealsync_agent::desired::SecretKey;
use sealsync_agent::sink::DriftKind;
use sealsync_agent::sink::{ApplyOutcome, Sink};

use super::harness::{b64, create_unmanaged, desired, restored, value, Agent, Cluster};
use crate::support::{poll_until_async, PATIENCE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_by_kubectl_patch_label_removal_and_delete_is_reverted() {
    let c = Cluster::start().await;
    let mut agent = Agent::start(
        &c,
        &["team-a"],
        vec![desired("team-a", "db", "s3cret-db-pw")],
    )
    .await;
    let api = c.secrets("team-a");

    // Edited with kubectl patch.
    c.patch_password("team-a", "db", "hacked");
    let took = restored(&c, "team-a", "db", "s3cret-db-pw").await;
    eprintln!("revert after kubectl patch: {took:?}");
    let report = agent.next_report().await;
    assert_eq!(
        (report.key.to_string(), report.kind),
        ("team-a/db".into(), DriftKind::Edited)
    );

    // The managed-by label removed.
    c.kubectl(&[
        "-n",
        "team-a",
        "label",
        "secret",
        "db",
        "app.kubernetes.io/managed-by-",
    ]);
    let took = restored(&c, "team-a", "db", "s3cret-db-pw").await;
    eprintln!("revert after kubectl label ...-: {took:?}");
    assert_eq!(agent.next_report().await.kind, DriftKind::LabelRemoved);

    // Deleted.
    let uid = api.get("db").await.unwrap().metadata.uid;
    c.kubectl(&["-n", "team-a", "delete", "secret", "db"]);
    let took = restored(&c, "team-a", "db", "s3cret-db-pw").await;
    eprintln!("revert after kubectl delete: {took:?}");
    assert_ne!(
        api.get("db").await.unwrap().metadata.uid,
        uid,
        "created again"
    );
    assert_eq!(agent.next_report().await.kind, DriftKind::Deleted);

    // A key added by hand is drift too: values are sealsync's alone.
    c.kubectl(&[
        "-n",
        "team-a",
        "patch",
        "secret",
        "db",
        "-p",
        &format!(r#"{{"data":{{"backdoor":"{}"}}}}"#, b64("x")),
    ]);
    poll_until_async("the added key to be removed", || async {
        let s = api.get("db").await.unwrap();
        !s.data.unwrap().contains_key("backdoor")
    })
    .await;
    assert_eq!(agent.next_report().await.kind, DriftKind::Edited);

    let notes: Vec<String> = c
        .event_notes("team-a")
        .await
        .into_iter()
        .filter(|(reason, ty, _)| reason == "DriftReverted" && ty == "Normal")
        .map(|(_, _, note)| note)
        .collect();
    assert!(
        notes.contains(
            &"edited by hand (fields changed by manager \"kubectl-patch\"); restored from apps/team-a/db.yaml at abc1234"
                .to_string()
        ),
        "{notes:#?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("label app.kubernetes.io/managed-by removed by hand")),
        "{notes:#?}"
    );
    assert!(
        notes
            .contains(&"deleted by hand; restored from apps/team-a/db.yaml at abc1234".to_string()),
        "{notes:#?}"
    );
    for n in &notes {
        assert!(!n.contains("s3cret-db-pw") && !n.contains("hacked"), "{n}");
    }

    // Our own writes are not drift: nothing more is reported.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(agent.reports.try_recv().is_err());
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_by_kubectl_edit_is_reverted() {
    let c = Cluster::start().await;
    let mut agent = Agent::start(
        &c,
        &["team-a"],
        vec![desired("team-a", "api", "api-token-1")],
    )
    .await;
    // kubectl edit with an "editor" that rewrites the value, as a person would in vi.
    let editor = format!(
        "sed -i -e 's/^  password: .*/  password: {}/'",
        b64("typed-by-hand")
    );
    c.kubectl_env(
        &["-n", "team-a", "edit", "secret", "api"],
        &[("KUBE_EDITOR", editor.as_str())],
    );
    let took = restored(&c, "team-a", "api", "api-token-1").await;
    eprintln!("revert after kubectl edit: {took:?}");
    assert_eq!(agent.next_report().await.kind, DriftKind::Edited);
    let notes = c.event_notes("team-a").await;
    assert!(
        notes
            .iter()
            .any(|(_, _, n)| n.contains("manager \"kubectl-edit\"")),
        "{notes:#?}"
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_is_metadata_only_per_namespace_and_ignores_undesired_secrets() {
    let c = Cluster::start().await;
    c.server.clear_requests();
    let mut agent = Agent::start(
        &c,
        &["team-a", "team-b"],
        vec![
            desired("team-a", "db", "pw-a"),
            desired("team-b", "db", "pw-b"),
        ],
    )
    .await;
    let watches: Vec<_> = c
        .server
        .requests()
        .into_iter()
        .filter(|r| r.resource == "secrets" && (r.verb == "watch" || r.verb == "list"))
        .collect();
    assert!(!watches.is_empty());
    for r in &watches {
        assert!(r.path.starts_with("/api/v1/namespaces/team-"), "{}", r.path);
        assert!(
            r.query
                .contains("labelSelector=app.kubernetes.io%2Fmanaged-by%3Dsealsync"),
            "{}",
            r.query
        );
    }
    // No longer desired (being pruned): a change is left alone.
    agent.store.remove(&SecretKey::new("team-b", "db"));
    c.patch_password("team-b", "db", "changed");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        value(&c.secrets("team-b").get("db").await.unwrap(), "password"),
        b"changed"
    );
    assert!(agent.reports.try_recv().is_err());
    assert!(agent.sink.list_managed().await.unwrap().len() == 2);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_event_message_label_or_annotation_carries_a_value() {
    let c = Cluster::start().await;
    let plaintexts = ["PLAINTEXT-alpha-7f3a", "PLAINTEXT-beta-91c2", "app-user"];
    let sink = c
        .sink_as(&["team-a"], super::ownership::allowing_adoption())
        .await;
    let mut agent = Agent::start_with(
        &c,
        sink,
        vec![
            desired("team-a", "one", plaintexts[0]),
            desired("team-a", "two", plaintexts[1]),
        ],
    )
    .await;
    // Every kind of revert, an adoption and a refusal, so every message kind is written.
    c.patch_password("team-a", "one", "PLAINTEXT-hand-edit");
    c.kubectl(&[
        "-n",
        "team-a",
        "label",
        "secret",
        "two",
        "app.kubernetes.io/managed-by-",
    ]);
    for _ in 0..2 {
        agent.next_report().await;
    }
    c.kubectl(&["-n", "team-a", "delete", "secret", "one"]);
    agent.next_report().await;
    create_unmanaged(&c, "team-a", "three", "PLAINTEXT-theirs").await;
    let mut three = desired("team-a", "three", "PLAINTEXT-gamma-11aa");
    assert_eq!(
        agent.sink.apply(&Arc::new(three.clone())).await.unwrap(),
        ApplyOutcome::RefusedUnmanaged
    );
    three.adopt = true;
    assert_eq!(
        agent.sink.apply(&Arc::new(three.clone())).await.unwrap(),
        ApplyOutcome::Updated
    );

    let notes = c.event_notes("team-a").await;
    assert!(notes.len() >= 5, "{notes:#?}");
    let secrets = c
        .secrets("team-a")
        .list(&ListParams::default())
        .await
        .unwrap();
    let mut texts: Vec<String> = notes
        .into_iter()
        .map(|(r, _, n)| format!("{r} {n}"))
        .collect();
    for s in &secrets.items {
        for map in [&s.metadata.labels, &s.metadata.annotations]
            .into_iter()
            .flatten()
        {
            texts.extend(map.iter().map(|(k, v)| format!("{k}={v}")));
        }
    }
    let key = c.fingerprint_key().await;
    for p in plaintexts.iter().chain(&[
        "PLAINTEXT-hand-edit",
        "PLAINTEXT-theirs",
        "PLAINTEXT-gamma-11aa",
    ]) {
        for t in &texts {
            assert!(
                !t.contains(p) && !t.contains(&b64(p)),
                "{t:?} carries {p:?}"
            );
        }
    }
    // The fingerprint is an HMAC, not a plain SHA-256 of the value.
    use sha2::Digest;
    let plain = hex::encode(sha2::Sha256::digest(plaintexts[0]));
    assert!(texts.iter().all(|t| !t.contains(&plain)));
    assert!(key.expose().len() >= 32);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_writer_fighting_gets_one_event_series_and_held_off_reverts() {
    use k8s_openapi::api::events::v1::Event;
    use kube::api::PostParams;
    use kube::Api;
    use sealsync_agent::sink::kube::DriftOutcome;

    let c = Cluster::start().await;
    let mut agent = Agent::start(&c, &["team-a"], vec![desired("team-a", "db", "good-pw")]).await;
    c.server.clear_requests();
    let api = c.secrets("team-a");
    let other = PostParams {
        field_manager: Some("other-controller".into()),
        ..PostParams::default()
    };
    // Another controller puts its value back whenever sealsync has restored its own, for 8 s and
    // at least 5 times (a loaded machine makes fewer rounds in 8 s).
    let mut edits = 0;
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(8) || edits < 5 {
        assert!(
            started.elapsed() < PATIENCE,
            "the fight never got going: {edits} edits"
        );
        let live = api.get("db").await.unwrap();
        if value(&live, "password") == b"good-pw" {
            let mut theirs = live;
            theirs.data.as_mut().unwrap().insert(
                "password".into(),
                k8s_openapi::ByteString(b"their-pw".to_vec()),
            );
            // A conflict (a revert landed in between) is another round of the fight.
            if api.replace("db", &other, &theirs).await.is_ok() {
                edits += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reverts = c.secret_patches().len();
    let fought = started.elapsed();
    eprintln!("{fought:?} of fighting: {edits} edits by the other writer, {reverts} reverts");
    // 4 reverts at once (3 free, the 4th starts the fight), then held off 1 s, 2 s, 4 s, ...: k
    // hold-offs end by 2^k - 1 s, so 7 reverts in 8 s (one more in flight, one in the last round at
    // most); without a hold-off, one per edit. Counted against the time the fight really took.
    let holds = (0..64u32)
        .take_while(|k| (1u64 << k) - 1 <= fought.as_secs())
        .count()
        - 1;
    assert!(
        (4..=6 + holds).contains(&reverts),
        "{reverts} reverts for {edits} edits in {fought:?}"
    );

    let events: Api<Event> = Api::namespaced(c.client.clone(), "team-a");
    let events = events.list(&ListParams::default()).await.unwrap().items;
    let reverted: Vec<&Event> = events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("DriftReverted"))
        .collect();
    assert_eq!(reverted.len(), 1, "one Event series: {reverted:#?}");
    let series = reverted[0].series.as_ref().expect("a series");
    assert!(series.count >= 3, "{series:?}");
    let held: Vec<&Event> = events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("RevertsHeldOff"))
        .collect();
    assert_eq!(held.len(), 1, "the fight is announced once");
    let note = held[0].note.as_deref().unwrap_or_default();
    assert!(note.contains("other-controller"), "{note}");
    assert!(!note.contains("their-pw") && !note.contains("good-pw"));

    let mut announced = 0;
    while let Ok(report) = agent.reports.try_recv() {
        assert_eq!(report.source, "apps/team-a/db.yaml");
        assert_eq!(report.commit, "abc1234def5678");
        announced += usize::from(matches!(report.outcome, DriftOutcome::HeldOff(_)));
    }
    assert_eq!(announced, 1);
    // Left alone, the Secret is put back after the hold-off.
    poll_until_async("the Secret to be put back after the hold-off", || {
        let api = api.clone();
        async move { value(&api.get("db").await.unwrap(), "password") == b"good-pw" }
    })
    .await;
    agent.stop().await;
}
