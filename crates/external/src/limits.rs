//! The bounds every input is held to, whatever a commit or a remote store contains.

/// Largest remote value accepted (and largest filled Secret value): the Kubernetes limit on a whole
/// Secret, so no single value can be larger than what the API server would take.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;
/// Most keys one Secret may get from `data`, `dataFrom` and a template together.
pub const MAX_KEYS_PER_SECRET: usize = 1024;
/// Deepest nesting of a JSON value the pipeline parses (`property`, `extract`, `jsonPath`).
pub const MAX_JSON_DEPTH: usize = 64;
/// Compiled-program size limit for user regular expressions (`regex` builder `size_limit`).
pub const REGEX_SIZE_LIMIT: usize = 256 * 1024;
/// Limit on the lazy DFA cache of a user regular expression (`regex` builder `dfa_size_limit`).
pub const REGEX_DFA_SIZE_LIMIT: usize = 1024 * 1024;
/// Longest regular expression source accepted (`find.name.regexp`, `rewrite.regexp.source`, conditions).
pub const MAX_REGEX_SOURCE: usize = 4096;
/// Most `data` / `dataFrom` entries, rewrites, placeholders per Secret, and conditions accepted.
pub const MAX_ITEMS: usize = 1024;
/// Most `namespaceRegexes` across one ClusterSecretStore's conditions (each is compiled and kept).
pub const MAX_CONDITION_REGEXES: usize = 256;
/// Longest Secret key name (Kubernetes: 253).
pub const MAX_KEY_NAME: usize = 253;
/// Largest `indent N` an AVP placeholder may ask for.
pub const MAX_INDENT: usize = 256;

/// Builds a user regular expression under the size limits above.
pub(crate) fn compile_regex(source: &str) -> Result<regex::Regex, String> {
    if source.len() > MAX_REGEX_SOURCE {
        return Err(format!(
            "regular expression of {} bytes exceeds the limit of {MAX_REGEX_SOURCE}",
            source.len()
        ));
    }
    regex::RegexBuilder::new(source)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_DFA_SIZE_LIMIT)
        .nest_limit(64)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(limit) => {
                format!("regular expression too large once compiled (limit {limit} bytes)")
            }
            other => format!("invalid regular expression: {other}"),
        })
}
