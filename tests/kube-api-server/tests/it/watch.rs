//! Watches: event types, label selection moves, 410 after compaction and recovery by re-listing,
//! dropped watches, bookmarks, and kube-runtime's watcher riding through all of it.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{
    Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::runtime::{watcher, WatchStreamExt};
use kube_api_test_server::TestServer;
use serde_json::json;

use crate::client;

fn secret(name: &str, app: &str) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(BTreeMap::from([("app".to_string(), app.to_string())])),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// `(type, name)` of a watch event.
fn describe(ev: &WatchEvent<Secret>) -> (String, String) {
    let name = |s: &Secret| s.metadata.name.clone().unwrap_or_default();
    match ev {
        WatchEvent::Added(s) => ("ADDED".into(), name(s)),
        WatchEvent::Modified(s) => ("MODIFIED".into(), name(s)),
        WatchEvent::Deleted(s) => ("DELETED".into(), name(s)),
        WatchEvent::Bookmark(b) => ("BOOKMARK".into(), b.metadata.resource_version.clone()),
        WatchEvent::Error(e) => ("ERROR".into(), e.code.to_string()),
    }
}

async fn next_events<S>(stream: &mut S, n: usize) -> Vec<(String, String)>
where
    S: futures::Stream<Item = kube::Result<WatchEvent<Secret>>> + Unpin,
{
    let mut out = Vec::new();
    while out.len() < n {
        let ev = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("watch event within 5s")
            .expect("watch stream still open")
            .expect("watch event decodes");
        if !matches!(ev, WatchEvent::Bookmark(_)) {
            out.push(describe(&ev));
        }
    }
    out
}

fn ev(t: &str, n: &str) -> (String, String) {
    (t.to_string(), n.to_string())
}

#[tokio::test]
async fn watch_sees_added_modified_deleted() {
    let server = TestServer::start().await;
    let api: Api<Secret> = Api::namespaced(client(&server), "default");
    api.create(&PostParams::default(), &secret("before", "x"))
        .await
        .unwrap();
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    api.create(&PostParams::default(), &secret("s", "x"))
        .await
        .unwrap();
    api.patch(
        "s",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"a": "b"}}})),
    )
    .await
    .unwrap();
    api.delete("s", &DeleteParams::default()).await.unwrap();
    assert_eq!(
        next_events(&mut stream, 3).await,
        [ev("ADDED", "s"), ev("MODIFIED", "s"), ev("DELETED", "s")]
    );

    // From "0": the current objects first, as synthetic ADDED events.
    let mut from_zero = api
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    assert_eq!(
        next_events(&mut from_zero, 1).await,
        [ev("ADDED", "before")]
    );
}

#[tokio::test]
async fn label_selected_watch_sees_objects_leave_and_enter() {
    let server = TestServer::start().await;
    let api: Api<Secret> = Api::namespaced(client(&server), "default");
    let rv = server.resource_version();
    let mut stream = api
        .watch(&WatchParams::default().labels("app=web"), &rv)
        .await
        .unwrap()
        .boxed();
    api.create(&PostParams::default(), &secret("other", "db"))
        .await
        .unwrap();
    api.create(&PostParams::default(), &secret("w", "web"))
        .await
        .unwrap();
    api.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": null}}})),
    )
    .await
    .unwrap();
    api.patch(
        "other",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "web"}}})),
    )
    .await
    .unwrap();
    assert_eq!(
        next_events(&mut stream, 3).await,
        [ev("ADDED", "w"), ev("DELETED", "w"), ev("ADDED", "other")]
    );
}

#[tokio::test]
async fn compaction_gives_410_and_a_relist_recovers() {
    let server = TestServer::start().await;
    let api: Api<Secret> = Api::namespaced(client(&server), "default");
    let old_rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    api.create(&PostParams::default(), &secret("a", "x"))
        .await
        .unwrap();
    server.compact();
    let mut stream = api
        .watch(&WatchParams::default(), &old_rv)
        .await
        .unwrap()
        .boxed();
    let first = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match first {
        WatchEvent::Error(e) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
    assert!(
        tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .unwrap()
            .is_none(),
        "stream ends after the error"
    );

    let relist = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(relist.items.len(), 1);
    let mut stream = api
        .watch(
            &WatchParams::default(),
            &relist.metadata.resource_version.unwrap(),
        )
        .await
        .unwrap()
        .boxed();
    api.create(&PostParams::default(), &secret("b", "x"))
        .await
        .unwrap();
    assert_eq!(next_events(&mut stream, 1).await, [ev("ADDED", "b")]);
}

#[tokio::test]
async fn dropped_watches_end_and_bookmarks_flow() {
    let server = TestServer::builder()
        .bookmark_interval(Duration::from_millis(100))
        .start()
        .await
        .unwrap();
    let api: Api<Secret> = Api::namespaced(client(&server), "default");
    let rv = server.resource_version();
    let mut stream = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    let b = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        matches!(b, WatchEvent::Bookmark(ref bm) if bm.metadata.resource_version == rv),
        "{b:?}"
    );
    server.drop_watches();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(ev) = stream.next().await {
            assert!(matches!(ev, Ok(WatchEvent::Bookmark(_))), "{ev:?}");
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the watch stream ends when watches are dropped"
    );
}

async fn next_applied(
    seen: &mut futures::stream::BoxStream<'static, Result<Secret, watcher::Error>>,
) -> Secret {
    tokio::time::timeout(Duration::from_secs(10), seen.try_next())
        .await
        .expect("event within 10s")
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn kube_runtime_watcher_recovers_from_drops_and_compaction() {
    let server = TestServer::start().await;
    let api: Api<Secret> = Api::namespaced(client(&server), "default");
    api.create(&PostParams::default(), &secret("first", "x"))
        .await
        .unwrap();
    let mut seen = watcher(api.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    let name = |s: Secret| s.metadata.name.unwrap_or_default();
    assert_eq!(name(next_applied(&mut seen).await), "first");
    server.compact();
    server.drop_watches();
    api.create(&PostParams::default(), &secret("second", "x"))
        .await
        .unwrap();
    // After the drop the watcher re-watches from a compacted version, gets 410, re-lists.
    let mut names = Vec::new();
    while !names.contains(&"second".to_string()) {
        names.push(name(next_applied(&mut seen).await));
    }
    assert!(names.contains(&"second".to_string()));
}
