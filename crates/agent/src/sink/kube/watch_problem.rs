//! What the drift watch says when it cannot run: for a refusal (403), the verb, the resource and the
//! namespace, and how to grant it; otherwise the error itself.

use kube::runtime::watcher;

/// A sentence for a failing watch: for a refusal (403), which permission is missing and how to grant
/// it.
pub(crate) fn watch_problem(namespace: &str, err: &watcher::Error) -> String {
    let (verb, cause) = match err {
        watcher::Error::InitialListFailed(e) => ("list", e),
        watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e) => ("watch", e),
        watcher::Error::WatchError(status) if status.code == 403 => {
            return forbidden("watch", namespace);
        }
        other => {
            return format!(
                "the watch of managed Secrets in namespace {namespace} fails ({other}); drift there is put back only by the next pass, retrying with backoff"
            )
        }
    };
    match cause {
        kube::Error::Api(status) if status.code == 403 => forbidden(verb, namespace),
        other => format!(
            "the watch of managed Secrets in namespace {namespace} fails ({verb}: {other}); drift there is put back only by the next pass, retrying with backoff"
        ),
    }
}

fn forbidden(verb: &str, namespace: &str) -> String {
    format!(
        "the agent may not {verb} secrets in namespace {namespace}: grant it with deploy/target-namespace (a Role and RoleBinding in {namespace}); until then drift there is not put back, retrying with backoff"
    )
}
