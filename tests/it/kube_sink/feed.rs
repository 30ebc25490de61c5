//! Passes fed by the drift watch: with nothing changed a pass makes no list request; a managed
//! Secret created by hand reaches the next pass and is pruned; after the watches had to list again
//! (410 Gone) the next pass lists everything.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PostParams;
use kube_api_test_server::TestServer;
use sealsync_agent::reconcile::{Applier, ApplyReport, DesiredState};
use sealsync_agent::sink::kube::{INSTANCE_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE};

use super::harness::{create_unmanaged, desired, Agent, Cluster, OWN_NS};
use crate::support::PATIENCE;

/// The next pass over the same desired Secrets (nothing touched in git).
async fn pass(applier: &mut Applier, agent: &Agent, state: &mut DesiredState) -> ApplyReport {
    state.pass += 1;
    state.touched.clear();
    applier.apply(&agent.sink, state, 0.5).await
}

/// Passes until one satisfies `done` (what the drift watch reports arrives when it arrives); panics
/// after `PATIENCE`. Returns every report, the last one satisfying `done`.
async fn passes_until(
    applier: &mut Applier,
    agent: &Agent,
    state: &mut DesiredState,
    done: impl Fn(&ApplyReport) -> bool,
) -> Vec<ApplyReport> {
    let start = std::time::Instant::now();
    let mut reports = Vec::new();
    loop {
        let report = pass(applier, agent, state).await;
        let finished = done(&report);
        reports.push(report);
        if finished {
            return reports;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "no pass did what was expected: {reports:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn secret_lists(c: &Cluster) -> usize {
    c.server
        .requests()
        .iter()
        .filter(|r| r.resource == "secrets" && r.verb == "list")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_visit_what_the_drift_watch_reports() {
    let c = Cluster::start_with(TestServer::builder().bookmark_interval(Duration::from_secs(3600)))
        .await;
    let secrets = vec![
        desired("team-a", "one", "pw-1"),
        desired("team-a", "two", "pw-2"),
    ];
    let agent = Agent::start(&c, &["team-a"], secrets.clone()).await;
    let mut state = DesiredState::default();
    for d in &secrets {
        state.secrets.insert(d.key.clone(), Arc::new(d.clone()));
    }
    let mut applier = Applier::new();
    let first = pass(&mut applier, &agent, &mut state).await;
    assert!(!first.partial && first.failures() == 0);

    // Nothing changed anywhere: nothing visited, nothing listed.
    c.server.clear_requests();
    let quiet = pass(&mut applier, &agent, &mut state).await;
    assert!(quiet.partial, "the drift watch feeds the pass");
    assert!(quiet.results.is_empty() && quiet.pruned.is_empty());
    assert_eq!(quiet.skipped, 2);
    assert_eq!(secret_lists(&c), 0);

    // A managed Secret of this instance created by someone else, not in git: the next pass prunes it.
    let stray = Secret {
        metadata: ObjectMeta {
            name: Some("stray".into()),
            labels: Some(BTreeMap::from([
                (MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string()),
                (INSTANCE_LABEL.to_string(), OWN_NS.to_string()),
            ])),
            ..ObjectMeta::default()
        },
        ..Secret::default()
    };
    c.secrets("team-a")
        .create(&PostParams::default(), &stray)
        .await
        .unwrap();
    let reports = passes_until(&mut applier, &agent, &mut state, |r| !r.pruned.is_empty()).await;
    assert!(reports.iter().all(|r| r.partial));
    let pruned: Vec<String> = reports
        .iter()
        .flat_map(|r| r.pruned.iter().map(|k| k.to_string()))
        .collect();
    assert_eq!(pruned, ["team-a/stray"]);
    assert!(c
        .secrets("team-a")
        .get_opt("stray")
        .await
        .unwrap()
        .is_none());
    assert_eq!(secret_lists(&c), 0, "still no list");

    // History compacted and the watches dropped: the watch lists again (410), and until a pass has
    // listed everything itself, passes are full.
    create_unmanaged(&c, "team-z", "elsewhere", "pw").await;
    c.server.compact();
    c.server.drop_watches();
    passes_until(&mut applier, &agent, &mut state, |r| !r.partial).await;
    assert!(secret_lists(&c) > 0);
    let after = pass(&mut applier, &agent, &mut state).await;
    assert!(after.partial && after.failures() == 0);
    agent.stop().await;
}
