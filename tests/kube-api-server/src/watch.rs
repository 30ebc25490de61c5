//! WATCH: a chunked stream of `{"type", "object"}` lines from a resourceVersion, filtered by namespace
//! and selectors, with bookmarks, timeouts and 410 for history that is gone.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame};
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use crate::handlers::ResourceRequest;
use crate::resources::ResourceDef;
use crate::selectors::Selection;
use crate::state::State;
use crate::status::{ApiError, ApiResult};
use crate::store::{meta_str, EventKind, StoredEvent};

/// A response body fed by the watch task; it ends when the task does.
pub struct WatchBody(mpsc::Receiver<Bytes>);

impl Body for WatchBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

/// What one watch sees: the namespace (if any) and the selectors.
struct Scope {
    def: &'static ResourceDef,
    namespace: Option<String>,
    selection: Selection,
}

impl Scope {
    fn contains(&self, obj: &Value) -> bool {
        self.namespace
            .as_deref()
            .is_none_or(|ns| meta_str(obj, "namespace") == ns)
            && self.selection.matches(obj)
    }

    /// The event this watch reports for a change, if any: a modification that moves an object out
    /// of the selection is a DELETED, into it an ADDED.
    fn translate(&self, ev: &StoredEvent) -> Option<(&'static str, Value)> {
        if ev.resource != self.def.id() {
            return None;
        }
        let now = self.contains(&ev.object);
        let kind = match ev.kind {
            EventKind::Added if now => EventKind::Added,
            EventKind::Deleted if now => EventKind::Deleted,
            EventKind::Modified => {
                match (ev.previous.as_ref().is_some_and(|p| self.contains(p)), now) {
                    (true, true) => EventKind::Modified,
                    (true, false) => EventKind::Deleted,
                    (false, true) => EventKind::Added,
                    (false, false) => return None,
                }
            }
            _ => return None,
        };
        Some((kind.as_str(), ev.object.clone()))
    }
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut s = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    s.push(b'\n');
    Bytes::from(s)
}

fn bookmark(def: &ResourceDef, rv: u64, initial_end: bool) -> Bytes {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    line(
        "BOOKMARK",
        &json!({"kind": def.kind, "apiVersion": def.api_version(), "metadata": meta}),
    )
}

/// Starts a watch; the body streams until timeout, client disconnect, a dropped-watches fault or
/// server shutdown.
pub fn start(state: &Arc<State>, req: &ResourceRequest) -> ApiResult<WatchBody> {
    let scope = Scope {
        def: req.def,
        namespace: req.namespace.clone(),
        selection: req.selection()?,
    };
    let send_initial = req.flag("sendInitialEvents");
    let from = match req.param("resourceVersion") {
        None | Some("") | Some("0") => None,
        Some(rv) => Some(
            rv.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?,
        ),
    };
    let bookmarks = req.flag("allowWatchBookmarks");
    let timeout = req
        .param("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let start = if send_initial {
        state.store.watch(req.def, None)
    } else {
        state.store.watch(req.def, from)
    };
    let mut drop = state.drop_watches.subscribe();
    let interval = state.settings.bookmark_interval;
    let def = req.def;
    tokio::spawn(async move {
        let start = match start {
            Ok(s) => s,
            Err(e) => {
                // Too old a resourceVersion: one ERROR event, then the stream ends.
                let _ = tx.send(line("ERROR", &e.to_status())).await;
                return;
            }
        };
        let mut progress = start.rv;
        let mut out: Vec<Bytes> = start
            .snapshot
            .iter()
            .filter(|o| scope.contains(o))
            .map(|o| line("ADDED", o))
            .collect();
        if send_initial && bookmarks {
            out.push(bookmark(def, progress, true));
        }
        out.extend(
            start
                .backlog
                .iter()
                .filter_map(|e| scope.translate(e))
                .map(|(k, o)| line(k, &o)),
        );
        for b in out {
            if tx.send(b).await.is_err() {
                return;
            }
        }
        let mut feed = start.feed;
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let mut ticker = tokio::time::interval(interval);
        ticker.tick().await;
        loop {
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            let msg = tokio::select! {
                _ = sleep => return,
                _ = drop.changed() => return,
                _ = ticker.tick(), if bookmarks => Some(bookmark(def, progress, false)),
                ev = feed.recv() => match ev {
                    Ok(ev) if ev.rv <= progress => None,
                    Ok(ev) => {
                        progress = ev.rv;
                        scope.translate(&ev).map(|(k, o)| line(k, &o))
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let e = crate::store::expired(progress, progress + 1);
                        let _ = tx.send(line("ERROR", &e.to_status())).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            };
            if let Some(b) = msg {
                if tx.send(b).await.is_err() {
                    return;
                }
            }
        }
    });
    Ok(WatchBody(rx))
}
