//! Warning Events on the managed Secrets a file declared when that file fails to decrypt (wrong key,
//! tampered file, MAC mismatch): whoever looks at the Secret learns why it is not updated. Each
//! failure is told once; a Secret that does not exist or is not sealsync's gets nothing.

use std::collections::HashMap;

use super::apply::is_managed;
use super::events::{secret_ref, EventKind};
use super::KubeSink;
use crate::desired::SecretKey;
use crate::documents::{Reason, Refusal};

/// What was last told per Secret (the refusal's text), so a pass every minute does not repeat it.
pub(crate) type Told = HashMap<SecretKey, String>;

fn decrypt_failure(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::Decrypt | Reason::Mac | Reason::NoKey | Reason::StrippedMetadata
    )
}

impl KubeSink {
    /// Emits a Warning Event on each managed Secret declared by a file in `refused` that failed to
    /// decrypt, once per failure. The note is the refusal's text, which names the file and the cause,
    /// never a value.
    pub async fn warn_failed_files(&self, refused: &[Refusal]) {
        let failing: Vec<(&SecretKey, &Refusal)> = refused
            .iter()
            .filter(|r| decrypt_failure(r.reason))
            .filter_map(|r| Some((r.key.as_ref()?, r)))
            .filter(|(k, _)| self.check_permitted(k).is_ok())
            .collect();
        {
            let mut told = self.lock_told();
            // A Secret whose file decrypts again may fail again later: told anew then.
            told.retain(|k, _| failing.iter().any(|(f, _)| *f == k));
        }
        for (key, refusal) in failing {
            let note = format!(
                "{refusal}; the Secret keeps its last good value (reason: {})",
                refusal.reason.code()
            );
            if self.lock_told().get(key) == Some(&note) {
                continue;
            }
            let live = match self
                .secrets(&key.namespace)
                .get_metadata_opt(&key.name)
                .await
            {
                Ok(Some(live)) if is_managed(&live.metadata) => live,
                Ok(_) => continue,
                Err(e) => {
                    tracing::debug!(secret = %key, error = %e, "not warning on a Secret that cannot be read");
                    continue;
                }
            };
            let regarding = secret_ref(&key.namespace, &key.name, live.metadata.uid, None);
            self.recorder()
                .publish(
                    &regarding,
                    EventKind::Warning,
                    refusal.reason.event_reason(),
                    "Decrypt",
                    &note,
                )
                .await;
            self.lock_told().insert(key.clone(), note);
        }
    }
}
