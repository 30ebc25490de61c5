//! Why something declared in git was not applied as declared: one closed set of reasons whose labels
//! serve the logs, the `reason` of `sealsync_errors_total`, the `reason_code` on `/status` and the
//! Kubernetes Events alike, so a refusal reads the same wherever it is seen.
//!
//! A reason is added with one line in the table below: its variant, its `code` (snake_case: metric
//! label, status code, log field; stable once released, as dashboards and alerts name it) and its Event
//! `reason` (UpperCamelCase, as Kubernetes Events spell theirs).

macro_rules! reasons {
    ($($(#[$meta:meta])* $variant:ident => $code:literal, $event:literal;)+) => {
        /// Why a document, a Secret, a fetch or a prune was refused or failed. Never carries a value.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Reason {
            $($(#[$meta])* $variant,)+
        }

        impl Reason {
            /// Every reason, in table order (the metric series created at start-up).
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)+];

            /// The label: `reason` of `sealsync_errors_total`, `reason_code` on `/status`, the `reason`
            /// field of log lines.
            pub fn code(self) -> &'static str {
                match self {
                    $(Reason::$variant => $code,)+
                }
            }

            /// The `reason` of a Kubernetes Event about it. Reasons that tell one story to whoever looks
            /// at the Secret share one (every decryption failure is `DecryptFailed`), so repeats
            /// aggregate into one Event series; the note carries the `code`.
            pub fn event_reason(self) -> &'static str {
                match self {
                    $(Reason::$variant => $event,)+
                }
            }
        }
    };
}

reasons! {
    /// A document is not valid YAML/JSON, or not the shape its kind requires.
    Parse => "parse", "ParseFailed";
    /// A value failed to decrypt (AES-GCM tag mismatch, malformed ciphertext).
    Decrypt => "decrypt", "DecryptFailed";
    /// The SOPS MAC does not match: the file was tampered with or edited without sops.
    Mac => "mac", "DecryptFailed";
    /// None of the age identities this path may use unwraps the file's data key.
    NoKey => "no_key", "DecryptFailed";
    /// Encrypted values without their `sops` metadata: nothing can decrypt or authenticate them.
    StrippedMetadata => "stripped_metadata", "DecryptFailed";
    /// A name, key or field is invalid (Kubernetes naming rules, missing fields).
    Invalid => "invalid", "Invalid";
    /// The path in git may not write to the namespace the document targets.
    Policy => "policy", "PolicyDenied";
    /// Where an encrypted Secret's values go is not bound by its MAC.
    Unbound => "unbound_target", "UnboundTarget";
    /// Two documents declare the same Secret.
    Duplicate => "duplicate", "Duplicate";
    /// A file or Secret exceeds a size limit.
    TooLarge => "too_large", "TooLarge";
    /// An external reference could not be resolved: no store for it, credentials, the remote key, its
    /// template (or, on a refresh, the last good value is kept and this is reported).
    Unresolved => "unresolved_reference", "UnresolvedReference";
    /// A reference document uses fields or providers sealsync does not implement.
    Unsupported => "unsupported", "Unsupported";
    /// The file could not be read from the git cache.
    Unreadable => "unreadable", "Unreadable";
    /// A Secret of that name exists and sealsync does not manage it: left alone.
    Unmanaged => "unmanaged", "Unmanaged";
    /// A Secret of that name is managed by another sealsync instance: left alone.
    OwnedByOtherInstance => "other_instance", "OwnedByOtherInstance";
    /// An existing unmanaged Secret asks to be adopted, and this agent may not adopt it.
    AdoptionRefused => "adoption_refused", "AdoptionRefused";
    /// `creationPolicy: Merge` found no Secret to merge into, or one that sealsync manages.
    MergeTarget => "merge_target", "MergeTargetRefused";
    /// Fetching from git failed.
    Git => "git", "GitFailed";
    /// `--allowed-signers` is set and the fetched commit carries no signature: it is not applied.
    UnsignedCommit => "unsigned_commit", "UnsignedCommit";
    /// `--allowed-signers` is set and the commit's signature is not by an allowed key for git, is not
    /// valid (changed content, another commit's signature, an expired key) or is not an SSH signature.
    UntrustedSignature => "untrusted_signature", "UntrustedSignature";
    /// The sink (Kubernetes API or directory) refused or failed a write, a delete or a listing.
    Sink => "sink", "ApplyFailed";
    /// Pruning was refused because it would delete too large a share of managed Secrets.
    PruneRefused => "prune_refused", "PruneRefused";
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::Reason;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_snake_case_and_event_reasons_camel_case() {
        let mut seen = HashSet::new();
        for &r in Reason::ALL {
            assert!(seen.insert(r.code()), "duplicate code {}", r.code());
            assert!(
                r.code()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{}",
                r.code()
            );
            let event = r.event_reason();
            assert!(
                event.starts_with(|c: char| c.is_ascii_uppercase())
                    && event.chars().all(|c| c.is_ascii_alphanumeric()),
                "{event}"
            );
        }
    }

    /// The labels dashboards, alerts and `/status` readers already use.
    #[test]
    fn released_codes_stay() {
        let released = [
            (Reason::Parse, "parse"),
            (Reason::Decrypt, "decrypt"),
            (Reason::Mac, "mac"),
            (Reason::NoKey, "no_key"),
            (Reason::Invalid, "invalid"),
            (Reason::Policy, "policy"),
            (Reason::Duplicate, "duplicate"),
            (Reason::TooLarge, "too_large"),
            (Reason::Unmanaged, "unmanaged"),
            (Reason::Git, "git"),
            (Reason::Sink, "sink"),
            (Reason::PruneRefused, "prune_refused"),
            (Reason::Unbound, "unbound_target"),
            (Reason::StrippedMetadata, "stripped_metadata"),
            (Reason::Unresolved, "unresolved_reference"),
        ];
        for (reason, code) in released {
            assert_eq!(reason.code(), code);
        }
    }
}
