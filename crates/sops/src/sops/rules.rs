//! Which values of a tree are encrypted: sops' suffix, regex and comment rules
//! (`shouldBeEncrypted` in sops.go), with sops' default of `unencrypted_suffix: _unencrypted`.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use super::pattern::Pattern;

/// The default rule sops applies when a file names none.
pub const DEFAULT_UNENCRYPTED_SUFFIX: &str = "_unencrypted";

/// The rule settings as written in metadata and creation rules. At most one of the four key rules may
/// be set; the comment regexes combine with them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RuleSet {
    pub unencrypted_suffix: Option<String>,
    pub encrypted_suffix: Option<String>,
    pub unencrypted_regex: Option<String>,
    pub encrypted_regex: Option<String>,
    pub unencrypted_comment_regex: Option<String>,
    pub encrypted_comment_regex: Option<String>,
    pub mac_only_encrypted: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuleError {
    #[error("only one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex or unencrypted_comment_regex may be set (found {0})")]
    Conflicting(String),
    #[error("{field} is not a valid regular expression: {reason}")]
    BadRegex { field: &'static str, reason: String },
}

impl RuleSet {
    /// Fills in sops' default (`unencrypted_suffix: _unencrypted`) when no rule is set, and checks that
    /// at most one is (sops 3.11 counts the comment regexes too).
    pub fn normalized(mut self) -> Result<RuleSet, RuleError> {
        let set: Vec<&str> = [
            ("unencrypted_suffix", &self.unencrypted_suffix),
            ("encrypted_suffix", &self.encrypted_suffix),
            ("unencrypted_regex", &self.unencrypted_regex),
            ("encrypted_regex", &self.encrypted_regex),
            ("unencrypted_comment_regex", &self.unencrypted_comment_regex),
            ("encrypted_comment_regex", &self.encrypted_comment_regex),
        ]
        .iter()
        .filter(|(_, v)| v.as_deref().is_some_and(|s| !s.is_empty()))
        .map(|(name, _)| *name)
        .collect();
        if set.len() > 1 {
            return Err(RuleError::Conflicting(set.join(", ")));
        }
        for slot in [
            &mut self.unencrypted_suffix,
            &mut self.encrypted_suffix,
            &mut self.unencrypted_regex,
            &mut self.encrypted_regex,
            &mut self.unencrypted_comment_regex,
            &mut self.encrypted_comment_regex,
        ] {
            if slot.as_deref() == Some("") {
                *slot = None;
            }
        }
        if set.is_empty() {
            self.unencrypted_suffix = Some(DEFAULT_UNENCRYPTED_SUFFIX.to_string());
        }
        Ok(self)
    }

    /// Compiles the rules for a tree walk. Compiled rules are remembered by their text: the files of
    /// a repository mostly share one rule set, and the agent opens every file on each pass.
    pub fn compile(&self) -> Result<Arc<Rules>, RuleError> {
        if let Some(rules) = lock_compiled().get(self) {
            return Ok(Arc::clone(rules));
        }
        let rules = Arc::new(self.compile_uncached()?);
        let mut compiled = lock_compiled();
        // A bound for repositories with many distinct rule sets; starting over is cheap.
        if compiled.len() >= COMPILED_CAPACITY {
            compiled.clear();
        }
        compiled.insert(self.clone(), Arc::clone(&rules));
        Ok(rules)
    }

    fn compile_uncached(&self) -> Result<Rules, RuleError> {
        let regex = |field: &'static str, source: &Option<String>| {
            source
                .as_deref()
                .map(|s| Pattern::new(s).map_err(|reason| RuleError::BadRegex { field, reason }))
                .transpose()
        };
        Ok(Rules {
            unencrypted_suffix: self.unencrypted_suffix.clone(),
            encrypted_suffix: self.encrypted_suffix.clone(),
            unencrypted_regex: regex("unencrypted_regex", &self.unencrypted_regex)?,
            encrypted_regex: regex("encrypted_regex", &self.encrypted_regex)?,
            unencrypted_comment_regex: regex(
                "unencrypted_comment_regex",
                &self.unencrypted_comment_regex,
            )?,
            encrypted_comment_regex: regex(
                "encrypted_comment_regex",
                &self.encrypted_comment_regex,
            )?,
            mac_only_encrypted: self.mac_only_encrypted,
        })
    }
}

/// How many compiled rule sets are remembered at most.
const COMPILED_CAPACITY: usize = 64;

static COMPILED: LazyLock<Mutex<HashMap<RuleSet, Arc<Rules>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn lock_compiled() -> std::sync::MutexGuard<'static, HashMap<RuleSet, Arc<Rules>>> {
    // The map holds only finished entries, so a panic elsewhere cannot leave it inconsistent.
    COMPILED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Compiled rules, ready for a walk.
#[derive(Clone, Debug)]
pub struct Rules {
    unencrypted_suffix: Option<String>,
    encrypted_suffix: Option<String>,
    unencrypted_regex: Option<Pattern>,
    encrypted_regex: Option<Pattern>,
    unencrypted_comment_regex: Option<Pattern>,
    encrypted_comment_regex: Option<Pattern>,
    pub mac_only_encrypted: bool,
}

impl Rules {
    /// Whether the value (or comment) at `path` is encrypted. `comments` holds, per nesting level, the
    /// comments seen since the last non-comment item; `is_comment` is true for a comment itself.
    pub fn should_encrypt(
        &self,
        path: &[&str],
        comments: &[Vec<String>],
        is_comment: bool,
    ) -> bool {
        let mut encrypted = true;
        if let Some(suffix) = &self.unencrypted_suffix {
            if path.iter().any(|p| p.ends_with(suffix.as_str())) {
                encrypted = false;
            }
        }
        if let Some(suffix) = &self.encrypted_suffix {
            encrypted = path.iter().any(|p| p.ends_with(suffix.as_str()));
        }
        if let Some(re) = &self.unencrypted_regex {
            if path.iter().any(|p| re.is_match(p)) {
                encrypted = false;
            }
        }
        if let Some(re) = &self.encrypted_regex {
            encrypted = path.iter().any(|p| re.is_match(p));
        }
        if let Some(re) = &self.unencrypted_comment_regex {
            if comments.iter().flatten().any(|c| re.is_match(c)) {
                encrypted = false;
            }
        }
        if let Some(re) = &self.encrypted_comment_regex {
            // A comment that matches does not encrypt itself: skip the last comment of the innermost
            // level when walking a comment (sops' special case).
            let last_level = comments.len().saturating_sub(1);
            let last_index = comments.last().map_or(0, |c| c.len().saturating_sub(1));
            encrypted = comments.iter().enumerate().any(|(i, level)| {
                level.iter().enumerate().any(|(j, c)| {
                    !(is_comment && i == last_level && j == last_index) && re.is_match(c)
                })
            });
        }
        encrypted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(set: RuleSet) -> Arc<Rules> {
        set.normalized().unwrap().compile().unwrap()
    }

    #[test]
    fn default_is_unencrypted_suffix() {
        let r = rules(RuleSet::default());
        assert!(r.should_encrypt(&["a", "b"], &[], false));
        assert!(!r.should_encrypt(&["a_unencrypted", "b"], &[], false));
    }

    #[test]
    fn encrypted_regex_matches_any_path_component() {
        let r = rules(RuleSet {
            encrypted_regex: Some("^(data|stringData)$".into()),
            ..Default::default()
        });
        assert!(r.should_encrypt(&["stringData", "password"], &[], false));
        assert!(!r.should_encrypt(&["metadata", "name"], &[], false));
    }

    #[test]
    fn encrypted_suffix_and_unencrypted_regex() {
        let r = rules(RuleSet {
            encrypted_suffix: Some("_secret".into()),
            ..Default::default()
        });
        assert!(r.should_encrypt(&["db_secret"], &[], false));
        assert!(!r.should_encrypt(&["db"], &[], false));
        let r = rules(RuleSet {
            unencrypted_regex: Some("^public".into()),
            ..Default::default()
        });
        assert!(!r.should_encrypt(&["public_key"], &[], false));
        assert!(r.should_encrypt(&["private_key"], &[], false));
    }

    #[test]
    fn comment_regexes() {
        let r = rules(RuleSet {
            encrypted_comment_regex: Some("sops:enc".into()),
            ..Default::default()
        });
        let stack = vec![vec![" sops:enc".to_string()]];
        assert!(r.should_encrypt(&["k"], &stack, false));
        assert!(
            !r.should_encrypt(&[], &stack, true),
            "the marker comment itself stays plain"
        );
        let r = rules(RuleSet {
            unencrypted_comment_regex: Some("sops:plain".into()),
            ..Default::default()
        });
        assert!(!r.should_encrypt(&["k"], &[vec![" sops:plain".into()]], false));
    }

    #[test]
    fn two_key_rules_conflict() {
        let err = RuleSet {
            encrypted_regex: Some("a".into()),
            unencrypted_suffix: Some("_x".into()),
            ..Default::default()
        }
        .normalized()
        .unwrap_err();
        assert!(matches!(err, RuleError::Conflicting(_)));
    }

    #[test]
    fn bad_regex_is_reported() {
        let err = RuleSet {
            encrypted_regex: Some("(".into()),
            ..Default::default()
        }
        .compile()
        .unwrap_err();
        assert!(matches!(
            err,
            RuleError::BadRegex {
                field: "encrypted_regex",
                ..
            }
        ));
    }

    #[test]
    fn compiled_rules_are_shared_by_text() {
        let set = RuleSet {
            encrypted_regex: Some("^(shared|memo)$".into()),
            ..Default::default()
        };
        let a = set.compile().unwrap();
        let b = set.clone().compile().unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let other = RuleSet {
            encrypted_regex: Some("^(shared|memo)+$".into()),
            ..Default::default()
        };
        assert!(!Arc::ptr_eq(&a, &other.compile().unwrap()));
    }
}
