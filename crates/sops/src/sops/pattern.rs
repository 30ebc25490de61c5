//! The regular expressions a user writes (the rule regexes in a file's metadata, `path_regex` in
//! `.sops.yaml`), built for their one use: `is_match` on short strings, right after start-up.
//!
//! Same syntax and matches as `regex::Regex::new` (the meta engine under it, with `regex`'s defaults),
//! but without the eager full DFA that `regex` builds for every small pattern once another crate in
//! the tree enables `regex-automata/dfa-build`: building it costs more than all the matching a file
//! needs (a fifth of a small-file decrypt). The lazy DFA still serves long inputs. The cache pool has a
//! fixed capacity, so building a pattern does not read the cgroup CPU quota
//! (`available_parallelism`). The commonest rule of all, Kubernetes' `^(data|stringData)$`, and its
//! kin (`^word$`, `^(word|word|…)$` with plain words) are whole-string comparisons and need no engine.

use regex_automata::meta;
use regex_automata::util::syntax;
use regex_automata::MatchKind;

/// `regex::Regex`'s limits (`RegexBuilder`'s defaults): 10 MiB of NFA, 2 MiB of lazy-DFA cache.
const NFA_SIZE_LIMIT: usize = 10 * (1 << 20);
const HYBRID_CACHE_CAPACITY: usize = 2 * (1 << 20);
/// Caches kept for reuse; more threads at once each build a cache of their own.
const POOL_CAPACITY: usize = 8;

/// A compiled user regex.
#[derive(Clone, Debug)]
pub struct Pattern(Matcher);

#[derive(Clone, Debug)]
enum Matcher {
    /// `^(a|b|…)$` or `^a$` over plain words: matches exactly those strings (`$` is the end of the
    /// text, not of a line, without flags).
    Words(Vec<String>),
    Regex(meta::Regex),
}

impl Pattern {
    /// Compiles `source`; the error reads as `regex::Error`'s would.
    pub fn new(source: &str) -> Result<Pattern, String> {
        if let Some(words) = anchored_words(source) {
            return Ok(Pattern(Matcher::Words(words)));
        }
        let config = meta::Config::new()
            .match_kind(MatchKind::LeftmostFirst)
            .utf8_empty(true)
            .nfa_size_limit(Some(NFA_SIZE_LIMIT))
            .hybrid_cache_capacity(HYBRID_CACHE_CAPACITY)
            .pool_capacity(POOL_CAPACITY)
            .dfa(false);
        meta::Builder::new()
            .configure(config)
            .syntax(syntax::Config::new().utf8(true))
            .build(source)
            .map(|regex| Pattern(Matcher::Regex(regex)))
            .map_err(|e| match (e.size_limit(), e.syntax_error()) {
                (Some(limit), _) => format!("Compiled regex exceeds size limit of {limit} bytes."),
                (None, Some(syntax)) => syntax.to_string(),
                (None, None) => e.to_string(),
            })
    }

    pub fn is_match(&self, text: &str) -> bool {
        match &self.0 {
            Matcher::Words(words) => words.iter().any(|w| w == text),
            Matcher::Regex(regex) => regex.is_match(text),
        }
    }
}

/// The words of `^word$` or `^(word|word|…)$`, when every word is non-empty and made of ASCII letters,
/// digits, `_` and `-` only (no character a regex treats specially).
fn anchored_words(source: &str) -> Option<Vec<String>> {
    let inner = source.strip_prefix('^')?.strip_suffix('$')?;
    let inner = match inner.strip_prefix('(') {
        Some(rest) => rest.strip_suffix(')')?,
        None => inner,
    };
    let plain = |w: &str| {
        !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    let words: Vec<String> = inner.split('|').map(str::to_string).collect();
    (words.iter().all(|w| plain(w)) && (words.len() == 1 || source.contains('('))).then_some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same answers and error texts as `regex::Regex`, which sealctl used before.
    #[test]
    fn matches_and_errors_like_regex() {
        let patterns = [
            "^(data|stringData)$",
            "^data$",
            "^(a|b-c|d_e|f9)$",
            "^a|b$",
            "^(a|)$",
            "^(a(b)|c)$",
            "^(a)(b)$",
            "^(?i)(data)$",
            "^da.a$",
            "^public",
            r"\.enc\.ya?ml$",
            r"(?i)PASS(word)?",
            r"^\w+$",
            r"\bkey\b",
            "sops:enc",
            "",
            "a|",
        ];
        let texts = [
            "data",
            "DATA",
            "a",
            "b",
            "ab",
            "b-c",
            "d_e",
            "f9",
            "xa",
            "bx",
            "data\n",
            "\ndata",
            "stringData",
            "metadata",
            "public_key",
            "apps/a.enc.yaml",
            "a.enc.yml.bak",
            "password",
            "Pass",
            "ünïcödé",
            "api key here",
            " sops:enc",
            "",
        ];
        for p in patterns {
            let ours = Pattern::new(p).unwrap();
            let theirs = regex::Regex::new(p).unwrap();
            for t in texts {
                assert_eq!(ours.is_match(t), theirs.is_match(t), "{p:?} on {t:?}");
            }
        }
        assert!(matches!(
            Pattern::new("^(data|stringData)$").unwrap().0,
            Matcher::Words(_)
        ));
        for not_words in [
            "^a|b$",
            "^(a|)$",
            "^(a(b)|c)$",
            "^(a)(b)$",
            "^(?i)(data)$",
            "^da.a$",
        ] {
            assert!(
                matches!(Pattern::new(not_words).unwrap().0, Matcher::Regex(_)),
                "{not_words:?}"
            );
        }
        for bad in ["(", "[a-", r"\p{Nope}", "a{99999}{99999}"] {
            assert_eq!(
                Pattern::new(bad).unwrap_err(),
                regex::Regex::new(bad).unwrap_err().to_string(),
                "{bad:?}"
            );
        }
    }
}
