//! The sink's root directory when the sink opens: tightened when others could write to it (refused when
//! it is not the agent's to tighten), and swept of the plaintext an interrupted write left behind.

use std::fs::{self, Permissions};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::layout;

/// Group and other bits taken away from a root the agent owns: write for the group, everything for
/// others (0777 -> 0750). Files are 0400 and directories below 0700 anyway; what matters is that no
/// one else can create, rename or replace the namespace directories.
const LOOSE_BITS: u32 = 0o027;

/// Checks who may write to `root` (already resolved). A root the agent's user owns is tightened; a
/// root writable by the group or others that belongs to another user, or is shared on purpose
/// (sticky), is refused, with how to fix it.
pub(super) fn secure(root: &Path) -> Result<(), String> {
    let meta = fs::metadata(root).map_err(|e| format!("reading the sink's root: {e}"))?;
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 == 0 {
        return Ok(());
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    // A sticky directory (such as /tmp) is shared on purpose: even the agent's own is not tightened.
    let why = if meta.uid() != euid {
        format!(
            "owned by uid {}, not by this agent's uid {euid}",
            meta.uid()
        )
    } else if mode & 0o1000 != 0 {
        "a shared directory (sticky bit, as /tmp)".to_string()
    } else {
        String::new()
    };
    if !why.is_empty() {
        return Err(format!(
            "the sink's root {} is writable by {} (mode {mode:04o}) and {why}, so it cannot be made \
             private: anyone who can write there could plant or swap the directories the values are \
             written into. Give the agent a directory of its own: owned by uid {euid} and not writable \
             by others, or a path that does not exist yet (it is created 0700) - e.g. a subdirectory of \
             a Kubernetes emptyDir, which the kubelet creates 0777 and owned by root",
            root.display(),
            if mode & 0o002 != 0 { "every user" } else { "its group" },
        ));
    }
    let tightened = mode & !LOOSE_BITS;
    fs::set_permissions(root, Permissions::from_mode(tightened)).map_err(|e| {
        format!(
            "the sink's root {} is writable by others (mode {mode:04o}) and cannot be tightened: {e}",
            root.display()
        )
    })?;
    tracing::info!(
        root = %root.display(),
        "the sink's root was writable by others (mode {mode:04o}): tightened to {tightened:04o}"
    );
    Ok(())
}

/// Removes, in every namespace directory, what an interrupted create or delete left: staging
/// directories (a new Secret's values, never published) and directories half deleted. Runs when the
/// sink opens, before any apply could be using one. Failures are logged; they never stop the sink.
pub(super) fn sweep(root: &Path) {
    let namespaces = match layout::subdirectories(root) {
        Ok(names) => names,
        Err(err) => {
            tracing::warn!(root = %root.display(), "cannot list the sink's root to remove leftovers of an interrupted write: {err}");
            return;
        }
    };
    for namespace in namespaces {
        let dir = root.join(&namespace);
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str().filter(|n| layout::is_leftover_name(n)) else {
                continue;
            };
            match layout::remove_if_present(&entry.path()) {
                Ok(()) => tracing::info!(
                    namespace = %namespace,
                    "removed {name}, left by an interrupted write"
                ),
                Err(err) => tracing::warn!(
                    namespace = %namespace,
                    "cannot remove {name}, left by an interrupted write: {err}"
                ),
            }
        }
    }
}
