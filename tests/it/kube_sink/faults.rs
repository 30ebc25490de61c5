//! The drift watch through API server faults: failing PATCHes, dropped watches, compacted history.

use std::sync::Arc;
use std::time::Duration;

use kube::api::PostParams;
use kube_api_test_server::{FaultSpec, TestServer, Verb};
use sealsync_agent::desired::SecretKey;
use sealsync_agent::sink::kube::DriftOutcome;
use sealsync_agent::sink::DriftKind;

use super::harness::{create_unmanaged, desired, restored, Agent, Cluster, OWN_NS};
use crate::support::{poll_until_async, PATIENCE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revert_converges_through_failing_patches() {
    let c = Cluster::start().await;
    let mut agent = Agent::start(&c, &["team-a"], vec![desired("team-a", "db", "good-pw")]).await;
    // The next 3 PATCHes (the reverts) fail; the edit by hand is a PUT, unaffected.
    c.server.fail_next(
        FaultSpec::new(Verb::Patch, 500)
            .resource("secrets")
            .times(3),
    );
    c.server.clear_requests();
    let by_hand = PostParams {
        field_manager: Some("kubectl-edit".into()),
        ..PostParams::default()
    };
    c.replace_password("team-a", "db", "bad-pw", &by_hand).await;
    // Each request is retried with backoff (100, 200, 400 ms), so the revert takes longer than the
    // usual second: wait for the outcome, not a speed.
    let api = c.secrets("team-a");
    let took = poll_until_async("the revert through failing PATCHes", || {
        let api = api.clone();
        async move { api.get("db").await.unwrap().data.unwrap()["password"].0 == b"good-pw" }
    })
    .await;
    eprintln!("revert through 3 failed PATCHes: {took:?}");
    let patches = c.secret_patches();
    assert_eq!(&patches[..4], [500, 500, 500, 200]);
    assert_eq!(agent.next_report().await.kind, DriftKind::Edited);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_revert_stops_when_the_secret_is_no_longer_desired() {
    let c = Cluster::start().await;
    let mut agent = Agent::start(&c, &["team-a"], vec![desired("team-a", "db", "good-pw")]).await;
    c.server.fail_next(
        FaultSpec::new(Verb::Patch, 500)
            .resource("secrets")
            .times(1000),
    );
    c.replace_password("team-a", "db", "bad-pw", &PostParams::default())
        .await;
    let patches = || c.secret_patches().len();
    poll_until_async("the revert to be retried", || async { patches() >= 3 }).await;
    // Pruned from git: nothing left to put back, so the retries end.
    agent.store.remove(&SecretKey::new("team-a", "db"));
    // The attempt under way may still retry its request a few times, however late on a loaded
    // machine: wait until the count stands still, then it must stay so.
    let stopped_at = std::time::Instant::now();
    let mut last = patches();
    loop {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let now = patches();
        if now == last {
            break;
        }
        assert!(stopped_at.elapsed() < PATIENCE, "the retries never end");
        last = now;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(patches(), last, "no more attempts");
    // Nothing was reverted (a failure may have been reported while the Secret was still desired).
    while let Ok(report) = agent.reports.try_recv() {
        assert!(
            matches!(report.outcome, DriftOutcome::Failed(_)),
            "{report:?}"
        );
    }
    c.server.clear_faults();
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_reverted_after_watches_drop_and_history_is_compacted() {
    // No bookmarks during the test: they would move the watcher's resourceVersion to the newest one,
    // which compaction keeps valid.
    let c = Cluster::start_with(TestServer::builder().bookmark_interval(Duration::from_secs(3600)))
        .await;
    let mut agent = Agent::start(&c, &["team-a"], vec![desired("team-a", "db", "good-pw")]).await;

    c.server.drop_watches();
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.patch_password("team-a", "db", "after-drop");
    let took = restored(&c, "team-a", "db", "good-pw").await;
    eprintln!("revert after dropped watches: {took:?}");
    assert_eq!(agent.next_report().await.kind, DriftKind::Edited);

    // Forget history and end the watches: resuming from the old resourceVersion answers 410, the
    // watcher lists again, and a Secret deleted meanwhile is still put back.
    c.server.clear_requests();
    // A write the watch does not see makes its resourceVersion an old one.
    create_unmanaged(&c, "team-z", "elsewhere", "pw").await;
    // The watcher's lists fail until the deletion below is made, so that it falls between the end
    // of the dropped watch and the list that follows, however fast the machine (dropping a watch
    // is asynchronous: a write right after it may still reach the old stream).
    c.server.fail_next(
        FaultSpec::new(Verb::List, 500)
            .resource("secrets")
            .times(100_000),
    );
    c.server.compact();
    c.server.drop_watches();
    poll_until_async(
        "the resumed watch to expire and a list to be tried",
        || async {
            c.server
                .requests()
                .iter()
                .any(|r| r.resource == "secrets" && r.verb == "list")
        },
    )
    .await;
    c.secrets("team-a")
        .delete("db", &Default::default())
        .await
        .unwrap();
    c.server.clear_faults();
    let took = restored(&c, "team-a", "db", "good-pw").await;
    eprintln!("revert after compaction (410): {took:?}");
    assert_eq!(agent.next_report().await.kind, DriftKind::Deleted);
    let watch_statuses: Vec<(String, u16)> = c
        .server
        .requests()
        .into_iter()
        .filter(|r| r.resource == "secrets" && (r.verb == "watch" || r.verb == "list"))
        .map(|r| (r.verb, r.status))
        .collect();
    // The resumed watch is answered with an ERROR event (410 Expired) and the watcher lists again
    // (after the lists refused above).
    let resumed = watch_statuses.iter().position(|(verb, _)| verb == "watch");
    assert!(
        resumed.is_some_and(|at| watch_statuses[at..].contains(&("list".to_string(), 200))),
        "the watcher listed again after the expired watch: {watch_statuses:?}"
    );

    // And once more after the re-list, through the fresh watch.
    c.patch_password("team-a", "db", "after-relist");
    restored(&c, "team-a", "db", "good-pw").await;
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_watch_backs_off_and_names_the_missing_permission() {
    let c = Cluster::start().await;
    c.server.fail_next(
        FaultSpec::new(Verb::Watch, 403)
            .resource("secrets")
            .times(100_000),
    );
    let agent = Agent::start(&c, &["team-a"], vec![desired("team-a", "db", "good-pw")]).await;
    let mut problems = agent.sink.watch_problems();
    poll_until_async("the refusal to be reported", || {
        let told = problems.borrow_and_update().get("team-a").cloned();
        async move { told.is_some() }
    })
    .await;
    let told = agent.sink.watch_problems().borrow()["team-a"].clone();
    assert!(
        told.starts_with("the agent may not watch secrets in namespace team-a: grant it with deploy/target-namespace"),
        "{told}"
    );
    // A bounded run: the schedule (100 ms doubling, capped at 30 s) allows about log2(T / 0.1 s) + 1
    // attempts in T seconds, 8 in 8 s; a retry loop without backoff makes hundreds.
    c.server.clear_requests();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let attempts = c.watch_requests("team-a");
    eprintln!("watch attempts in 8 s while forbidden: {attempts}");
    assert!(attempts <= 10, "{attempts} watch attempts in 8 s");

    // Granted again: the watch runs, and the problem is gone with its first event (a watch that
    // starts yields nothing by itself).
    c.server.clear_faults();
    c.patch_password("team-a", "db", "by-hand");
    poll_until_async("the problem to clear once the watch runs", || {
        let none = agent.sink.watch_problems().borrow().is_empty();
        async move { none }
    })
    .await;
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_whose_namespace_was_deleted_is_reported_failing() {
    let c = Cluster::start_with(TestServer::builder().strict_namespaces(true)).await;
    c.kubectl(&["create", "namespace", OWN_NS]);
    c.kubectl(&["create", "namespace", "team-a"]);
    let mut agent = Agent::start(&c, &["team-a"], vec![desired("team-a", "db", "good-pw")]).await;
    c.kubectl(&["delete", "namespace", "team-a"]);
    let report = agent.next_report().await;
    assert_eq!(report.source, "apps/team-a/db.yaml");
    match &report.outcome {
        DriftOutcome::Failed(why) => assert!(why.contains("404"), "{why}"),
        other => panic!("a revert into a deleted namespace cannot succeed: {other:?}"),
    }
    // Said once, not on every retry.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(agent.reports.try_recv().is_err());
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_api_errors_on_apply_are_retried_within_the_pass() {
    use sealsync_agent::sink::{ApplyOutcome, Sink};

    let c = Cluster::start().await;
    let sink = c.sink(&["team-a"]).await;
    // Two server errors, then a conflict: one apply still succeeds, without waiting for a next pass.
    c.server.fail_next(
        FaultSpec::new(Verb::Patch, 500)
            .resource("secrets")
            .times(2),
    );
    c.server
        .fail_next(FaultSpec::new(Verb::Patch, 409).resource("secrets"));
    c.server.clear_requests();
    let outcome = sink
        .apply(&Arc::new(desired("team-a", "db", "pw")))
        .await
        .unwrap();
    assert_eq!(outcome, ApplyOutcome::Created);
    assert_eq!(c.secret_patches(), [500, 500, 409, 201]);

    // A refusal is not transient: one attempt, and the error names it.
    c.server.fail_next(
        FaultSpec::new(Verb::Patch, 403)
            .resource("secrets")
            .times(10),
    );
    c.server.clear_requests();
    let err = sink
        .apply(&Arc::new(desired("team-a", "db", "other")))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
    assert_eq!(c.secret_patches(), [403]);
    c.server.clear_faults();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_list_backs_off_too() {
    let c = Cluster::start().await;
    c.server.fail_next(
        FaultSpec::new(Verb::List, 403)
            .resource("secrets")
            .times(100_000),
    );
    let agent = Agent::start(&c, &["team-a"], vec![desired("team-a", "db", "good-pw")]).await;
    c.server.clear_requests();
    tokio::time::sleep(Duration::from_secs(8)).await;
    // The watcher announces each new list as an event of its own; that must not reset the schedule
    // (100 ms doubling: about 8 attempts in 8 s, not one every 100 ms).
    let attempts = c
        .server
        .requests()
        .into_iter()
        .filter(|r| r.resource == "secrets" && (r.verb == "list" || r.verb == "watch"))
        .count();
    eprintln!("list attempts in 8 s while forbidden: {attempts}");
    assert!(attempts <= 10, "{attempts} list attempts in 8 s");
    let told = agent.sink.watch_problems().borrow().get("team-a").cloned();
    assert!(
        told.is_some_and(|t| t.starts_with("the agent may not list secrets in namespace team-a")),
        "the missing permission is named"
    );
    agent.stop().await;
}
