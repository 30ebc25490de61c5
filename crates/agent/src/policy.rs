//! Path policies: which namespaces the documents under a path of the repository may write to
//! (`apps/team-a/**=team-a`), and which age identities may decrypt them
//! (`apps/team-a/**=/keys/team-a.agekey`), so that one team's folder can neither target another
//! team's namespace nor have another team's ciphertext decrypted into its own.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use globset::Glob;
use regex_automata::meta;
use regex_automata::util::syntax;

use crate::keys::Identities;

/// One `GLOB=NS[,NS...]` rule.
#[derive(Clone)]
pub struct PolicyRule {
    pub glob: String,
    matcher: meta::Regex,
    pub namespaces: Vec<String>,
}

impl fmt::Debug for PolicyRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.glob, self.namespaces.join(","))
    }
}

/// `glob` as globset reads it, matched as globset does (the same regex over the path's bytes) but
/// without the eager full DFA that `regex-automata/dfa-build`, enabled elsewhere in the dependency
/// tree, builds for every rule: tens of rules (one per team) cost hundreds of KiB that matching a
/// few paths per commit never needs. The lazy DFA still runs.
fn compile(glob: &str) -> Result<meta::Regex, String> {
    let regex = Glob::new(glob).map_err(|e| e.to_string())?;
    let syntax = syntax::Config::new().utf8(false).dot_matches_new_line(true);
    let config = meta::Config::new()
        .utf8_empty(false)
        .nfa_size_limit(Some(10 * (1 << 20)))
        .hybrid_cache_capacity(1 << 20)
        .dfa(false);
    meta::Builder::new()
        .syntax(syntax)
        .configure(config)
        .build(regex.regex())
        .map_err(|e| e.to_string())
}

/// Where a namespace decision comes from when no rule is configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// Every namespace is allowed (the dir sink, local use).
    AllowAll,
    /// Only these namespaces (the kube sink: the agent's own namespace).
    Only(Vec<String>),
}

/// The namespace policy in force.
#[derive(Clone, Debug)]
pub struct NamespacePolicy {
    rules: Vec<PolicyRule>,
    fallback: Fallback,
}

impl PolicyRule {
    /// Parses `GLOB=NS[,NS...]`.
    pub fn parse(text: &str) -> Result<PolicyRule, String> {
        let (glob, namespaces) = text
            .split_once('=')
            .ok_or_else(|| format!("'{text}': expected GLOB=NAMESPACE[,NAMESPACE...]"))?;
        let glob = glob.trim().trim_start_matches("./").trim_start_matches('/');
        if glob.is_empty() {
            return Err(format!("'{text}': the path glob is empty"));
        }
        let matcher = compile(glob).map_err(|e| format!("'{text}': invalid glob: {e}"))?;
        let namespaces: Vec<String> = namespaces
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        if namespaces.is_empty() {
            return Err(format!("'{text}': no namespace after '='"));
        }
        for ns in &namespaces {
            if ns != "*" {
                crate::names::dns_label(ns)
                    .map_err(|why| format!("'{text}': invalid namespace '{ns}': {why}"))?;
            }
        }
        Ok(PolicyRule {
            glob: glob.to_string(),
            matcher,
            namespaces,
        })
    }
}

impl NamespacePolicy {
    pub fn new(rules: Vec<PolicyRule>, fallback: Fallback) -> NamespacePolicy {
        NamespacePolicy { rules, fallback }
    }

    pub fn rules(&self) -> &[PolicyRule] {
        &self.rules
    }

    /// Whether rules divide the repository between tenants (else one namespace, or any: no boundary
    /// between paths to defend).
    pub fn has_rules(&self) -> bool {
        !self.rules.is_empty()
    }

    /// Whether a document in `path` (relative to the repository root) may target `namespace`. With
    /// rules, the namespaces of every rule whose glob matches the path are allowed (`*` allows all);
    /// a path no rule matches may target nothing.
    pub fn allows(&self, path: &str, namespace: &str) -> bool {
        if self.rules.is_empty() {
            return match &self.fallback {
                Fallback::AllowAll => true,
                Fallback::Only(list) => list.iter().any(|n| n == namespace),
            };
        }
        self.rules
            .iter()
            .filter(|r| r.matcher.is_match(path))
            .any(|r| r.namespaces.iter().any(|n| n == "*" || n == namespace))
    }

    /// What `path` may target, for error messages.
    pub fn describe(&self, path: &str) -> String {
        if self.rules.is_empty() {
            return match &self.fallback {
                Fallback::AllowAll => "any namespace".into(),
                Fallback::Only(list) => format!(
                    "only namespace {} (no --namespace-policy given; the kube sink defaults to the agent's own namespace)",
                    list.join(", ")
                ),
            };
        }
        let allowed: Vec<&str> = self
            .rules
            .iter()
            .filter(|r| r.matcher.is_match(path))
            .flat_map(|r| r.namespaces.iter().map(String::as_str))
            .collect();
        if allowed.is_empty() {
            "no namespace (no --namespace-policy glob matches this path)".into()
        } else {
            format!("only namespace(s) {}", allowed.join(", "))
        }
    }

    /// Every namespace named by a rule or the fallback (the namespaces the kube sink watches), or
    /// None when any namespace is allowed.
    pub fn namespaces(&self) -> Option<Vec<String>> {
        if self.rules.is_empty() {
            return match &self.fallback {
                Fallback::AllowAll => None,
                Fallback::Only(list) => Some(list.clone()),
            };
        }
        let mut out: Vec<String> = Vec::new();
        for r in &self.rules {
            for n in &r.namespaces {
                if n == "*" {
                    return None;
                }
                if !out.contains(n) {
                    out.push(n.clone());
                }
            }
        }
        Some(out)
    }
}

/// One `GLOB=FILE[,FILE...]` rule of the decryption policy: documents under the glob are decrypted
/// only with the identities of these files (Flux's per-tenant decryption keys, chosen by path).
#[derive(Clone)]
pub struct DecryptionRule {
    pub glob: String,
    matcher: meta::Regex,
    pub identity_files: Vec<PathBuf>,
}

impl fmt::Debug for DecryptionRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let files: Vec<String> = self
            .identity_files
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        write!(f, "{}={}", self.glob, files.join(","))
    }
}

impl DecryptionRule {
    /// Parses `GLOB=FILE[,FILE...]` (the files are read by the caller, which owns the keys).
    pub fn parse(text: &str) -> Result<DecryptionRule, String> {
        let (glob, files) = text
            .split_once('=')
            .ok_or_else(|| format!("'{text}': expected GLOB=IDENTITY_FILE[,IDENTITY_FILE...]"))?;
        let glob = glob.trim().trim_start_matches("./").trim_start_matches('/');
        if glob.is_empty() {
            return Err(format!("'{text}': the path glob is empty"));
        }
        let matcher = compile(glob).map_err(|e| format!("'{text}': invalid glob: {e}"))?;
        let identity_files: Vec<PathBuf> = files
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .collect();
        if identity_files.is_empty() {
            return Err(format!("'{text}': no identity file after '='"));
        }
        Ok(DecryptionRule {
            glob: glob.to_string(),
            matcher,
            identity_files,
        })
    }

    pub fn matches(&self, path: &str) -> bool {
        self.matcher.is_match(path)
    }
}

/// The decryption policy in force: per rule, the identities it allows. Without rules every file is
/// decrypted with the global identities (single-tenant mode).
#[derive(Clone, Default)]
pub struct DecryptionPolicy {
    rules: Vec<(DecryptionRule, Arc<Identities>)>,
}

impl fmt::Debug for DecryptionPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.rules.iter().map(|(r, _)| r))
            .finish()
    }
}

/// The identities a path may use, and why (for error messages).
pub enum PathIdentities<'a> {
    /// No decryption rule matches the path: the global identities.
    Global(&'a Identities),
    /// The identities of every rule whose glob matches the path, and those globs.
    Scoped {
        identities: Arc<Identities>,
        globs: Vec<&'a str>,
    },
}

impl PathIdentities<'_> {
    pub fn identities(&self) -> &Identities {
        match self {
            PathIdentities::Global(ids) => ids,
            PathIdentities::Scoped { identities, .. } => identities,
        }
    }

    pub fn is_scoped(&self) -> bool {
        matches!(self, PathIdentities::Scoped { .. })
    }
}

impl DecryptionPolicy {
    pub fn new(rules: Vec<(DecryptionRule, Arc<Identities>)>) -> DecryptionPolicy {
        DecryptionPolicy { rules }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn rules(&self) -> impl Iterator<Item = &DecryptionRule> {
        self.rules.iter().map(|(r, _)| r)
    }

    /// Whether a rule scopes `path` (its documents are decrypted only with that rule's identities).
    pub fn scopes(&self, path: &str) -> bool {
        self.rules.iter().any(|(r, _)| r.matches(path))
    }

    /// The identities `path` may be decrypted with: the union of those of every matching rule, else
    /// `global`.
    pub fn identities_for<'a>(&'a self, path: &str, global: &'a Identities) -> PathIdentities<'a> {
        let matching: Vec<&(DecryptionRule, Arc<Identities>)> =
            self.rules.iter().filter(|(r, _)| r.matches(path)).collect();
        let globs = matching.iter().map(|(r, _)| r.glob.as_str()).collect();
        match matching.as_slice() {
            [] => PathIdentities::Global(global),
            [(_, one)] => PathIdentities::Scoped {
                identities: Arc::clone(one),
                globs,
            },
            several => {
                let parts: Vec<&Identities> = several.iter().map(|(_, ids)| &**ids).collect();
                PathIdentities::Scoped {
                    identities: Arc::new(Identities::union(&parts)),
                    globs,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_pick_namespaces() {
        let policy = NamespacePolicy::new(
            vec![
                PolicyRule::parse("apps/team-a/**=team-a").unwrap(),
                PolicyRule::parse("apps/shared/*.yaml=team-a,team-b").unwrap(),
            ],
            Fallback::AllowAll,
        );
        assert!(policy.allows("apps/team-a/db.yaml", "team-a"));
        assert!(policy.allows("apps/team-a/x/y/db.yaml", "team-a"));
        assert!(!policy.allows("apps/team-a/db.yaml", "team-b"));
        assert!(policy.allows("apps/shared/s.yaml", "team-b"));
        assert!(!policy.allows("apps/other/s.yaml", "team-a"));
        assert_eq!(policy.namespaces().unwrap(), ["team-a", "team-b"]);
    }

    #[test]
    fn fallbacks() {
        let open = NamespacePolicy::new(vec![], Fallback::AllowAll);
        assert!(open.allows("x.yaml", "anything"));
        let own = NamespacePolicy::new(vec![], Fallback::Only(vec!["sealsync".into()]));
        assert!(own.allows("x.yaml", "sealsync"));
        assert!(!own.allows("x.yaml", "team-a"));
    }

    #[test]
    fn bad_rules() {
        assert!(PolicyRule::parse("apps/**").is_err());
        assert!(PolicyRule::parse("apps/**=Team_A").is_err());
        assert!(PolicyRule::parse("=team-a").is_err());
        assert!(PolicyRule::parse("apps/[=team-a").is_err());
    }

    #[test]
    fn decryption_rules_scope_paths_to_their_identities() {
        use crate::keys::IdentitySource;
        let ids = |name: &str| {
            let mut ids = Identities::default();
            ids.add(IdentitySource::File {
                path: std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../tests/fixtures/sops/keys")
                    .join(name),
                origin: name.into(),
            })
            .unwrap();
            Arc::new(ids)
        };
        let policy = DecryptionPolicy::new(vec![
            (
                DecryptionRule::parse("apps/team-a/**=a.key").unwrap(),
                ids("one.agekey"),
            ),
            (
                DecryptionRule::parse("apps/**/shared.yaml=b.key").unwrap(),
                ids("two.agekey"),
            ),
        ]);
        let global = Identities::default();
        assert!(!policy.identities_for("top.yaml", &global).is_scoped());
        let a = policy.identities_for("apps/team-a/db.yaml", &global);
        assert!(a.is_scoped());
        assert_eq!(a.identities().len(), 1);
        let both = policy.identities_for("apps/team-a/shared.yaml", &global);
        assert_eq!(
            both.identities().len(),
            2,
            "the union of every matching rule"
        );
        assert!(DecryptionRule::parse("apps/**").is_err());
        assert!(DecryptionRule::parse("apps/**=").is_err());
        assert_eq!(
            format!(
                "{:?}",
                DecryptionRule::parse("apps/**=/k/a.key,/k/b.key").unwrap()
            ),
            "apps/**=/k/a.key,/k/b.key"
        );
    }

    #[test]
    fn globs_match_as_globset_matches_them() {
        let globs = [
            "apps/team-a/**",
            "apps/*/db.yaml",
            "**/*.yaml",
            "apps/{a,b}/**",
            "apps/team-?/x.yml",
            "[ab]/**",
            "apps/**/secrets/*",
            "*",
        ];
        let paths = [
            "apps/team-a/db.yaml",
            "apps/team-a/deep/x/y.yaml",
            "apps/team-b/db.yaml",
            "apps/a/x",
            "apps/c/x",
            "apps/team-z/x.yml",
            "a/b",
            "c/d",
            "apps/x/secrets/s.yaml",
            "apps/secrets/s.yaml",
            "top.yaml",
            "apps/\u{e9}t\u{e9}/db.yaml",
        ];
        for glob in globs {
            let ours = super::compile(glob).unwrap();
            let theirs = globset::Glob::new(glob).unwrap().compile_matcher();
            for path in paths {
                assert_eq!(
                    ours.is_match(path),
                    theirs.is_match(path),
                    "{glob} on {path}"
                );
            }
        }
    }
}
