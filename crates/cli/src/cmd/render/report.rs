//! What `render` shows, built from the agent's output: every Secret with the source of each key (the
//! file, or the remote value a reference reads), the references that failed, and the documents refused.

use std::collections::HashSet;

use sealsync_agent::desired::{DesiredSecret, SecretBytes, SecretKey};
use sealsync_agent::documents::{ExternalDoc, ExternalObject, Reason, Refusal};
use sealsync_agent::external::{Preview, Resolver};
use sealsync_agent::reconcile::DesiredState;
use sealsync_external::avp::{AvpSecret, Part};
use sealsync_external::{DataFromSource, ExternalSecret, Find};

/// Everything `render` prints.
pub struct Report {
    /// In namespace/name order.
    pub secrets: Vec<Rendered>,
    /// Documents the agent refuses, in path order (references that failed are on their Secret).
    pub refused: Vec<Refusal>,
    /// Whether references were resolved (not `--no-resolve`).
    pub resolved: bool,
}

/// One Secret the agent would write (or fail to).
pub struct Rendered {
    pub key: SecretKey,
    pub secret_type: String,
    pub origin: Origin,
    pub keys: Vec<KeyRow>,
    /// The remote secrets a reference fetches, in the store's terms (none for a file).
    pub fetches: Vec<Fetch>,
    /// Why the agent cannot produce it: its reason and message (never a value).
    pub error: Option<(Reason, String)>,
}

/// One remote secret fetched for a Secret.
pub struct Fetch {
    pub key: String,
    /// The version asked for; None: the current one.
    pub version: Option<String>,
    /// The version the store returned (Vault KV v2 version number, AWS VersionId), once fetched.
    pub returned: Option<String>,
}

/// Where a Secret is declared.
pub enum Origin {
    /// A Secret in a file, encrypted or not.
    File { path: String },
    /// An ExternalSecret, or a Secret with argocd-vault-plugin placeholders.
    Reference {
        path: String,
        document: usize,
        kind: &'static str,
        name: String,
        /// The store that serves it, once found.
        store: Option<String>,
    },
}

/// One key of a Secret.
pub struct KeyRow {
    pub name: String,
    /// None when it was not fetched (`--no-resolve`, or the reference failed).
    pub value: Option<SecretBytes>,
    pub sources: Vec<Source>,
}

/// Where a key's value comes from.
pub enum Source {
    File(String),
    /// One remote value: a `data[].remoteRef`, or a placeholder (its path, `#KEY` as the property).
    Remote {
        key: String,
        property: Option<String>,
        version: Option<String>,
    },
    /// Every property of a remote secret (`dataFrom[].extract`).
    Extract {
        key: String,
        version: Option<String>,
    },
    /// The remote secrets a `dataFrom[].find` matches.
    Find(String),
    /// The ExternalSecret's `target.template`, over what the ExternalSecret fetches.
    Template(Vec<Source>),
    /// Text written in the manifest (a value of a placeholder Secret that holds no placeholder).
    Literal,
}

/// The report of `state` and of the previews of its reference documents; `resolver` is the one that
/// resolved `state` (None: `--no-resolve`).
pub fn build(state: &DesiredState, previews: Vec<Preview>, resolver: Option<&Resolver>) -> Report {
    let resolved = resolver.is_some();
    let mut secrets = Vec::new();
    let mut claimed = HashSet::new();
    let mut from_references = HashSet::new();
    for p in previews {
        let failure = state.refused.iter().position(|r| {
            r.reason == Reason::Unresolved
                && r.key.as_ref() == Some(&p.key)
                && r.path == p.object.path
                && r.document == Some(p.object.document)
        });
        let secret = state
            .secrets
            .get(&p.key)
            .filter(|s| resolved && failure.is_none() && s.source.path == p.object.path);
        if secret.is_some() {
            from_references.insert(p.key.clone());
        }
        let error = match failure {
            Some(i) => {
                claimed.insert(i);
                Some((Reason::Unresolved, state.refused[i].message.clone()))
            }
            None => p.problem.clone().map(|m| (Reason::Unresolved, m)),
        };
        let mut rendered = reference(&p, secret.map(|s| &**s), error);
        rendered.fetches = p
            .fetches
            .iter()
            .map(|(key, version)| Fetch {
                key: key.clone(),
                version: version.clone(),
                returned: resolver
                    .and_then(|r| r.fetched_version(&p, key, version.as_deref()))
                    .map(String::from),
            })
            .collect();
        secrets.push(rendered);
    }
    for (key, secret) in &state.secrets {
        if !from_references.contains(key) {
            secrets.push(file(secret));
        }
    }
    secrets.sort_by(|a, b| (&a.key, a.origin.path()).cmp(&(&b.key, b.origin.path())));
    let mut refused: Vec<Refusal> = state
        .refused
        .iter()
        .enumerate()
        .filter(|(i, _)| !claimed.contains(i))
        .map(|(_, r)| r.clone())
        .collect();
    refused.sort_by(|a, b| (&a.path, a.document).cmp(&(&b.path, b.document)));
    Report {
        secrets,
        refused,
        resolved,
    }
}

impl Origin {
    pub fn path(&self) -> &str {
        match self {
            Origin::File { path } | Origin::Reference { path, .. } => path,
        }
    }
}

fn file(secret: &DesiredSecret) -> Rendered {
    Rendered {
        key: secret.key.clone(),
        secret_type: secret.secret_type.clone(),
        origin: Origin::File {
            path: secret.source.path.clone(),
        },
        keys: secret
            .data
            .iter()
            .map(|(name, value)| KeyRow {
                name: name.to_string(),
                value: Some(value.clone()),
                sources: vec![Source::File(secret.source.path.clone())],
            })
            .collect(),
        fetches: Vec::new(),
        error: None,
    }
}

/// The Secret of a reference document: its resolved keys, or (not resolved) the keys it declares.
fn reference(
    p: &Preview,
    resolved: Option<&DesiredSecret>,
    error: Option<(Reason, String)>,
) -> Rendered {
    let object: &ExternalObject = &p.object;
    let (kind, name, declared_type) = match &object.doc {
        ExternalDoc::Secret(es) => (
            "ExternalSecret",
            es.metadata.name.clone(),
            es.target
                .template
                .as_ref()
                .and_then(|t| t.secret_type.clone()),
        ),
        ExternalDoc::Avp(s) => ("Secret", s.metadata.name.clone(), s.secret_type.clone()),
        ExternalDoc::Store(_) => ("SecretStore", String::new(), None),
    };
    let keys = match resolved {
        Some(secret) => secret
            .data
            .iter()
            .map(|(key, value)| KeyRow {
                name: key.to_string(),
                value: Some(value.clone()),
                sources: sources_of(&object.doc, key),
            })
            .collect(),
        None => declared_keys(&object.doc),
    };
    Rendered {
        key: p.key.clone(),
        secret_type: match resolved {
            Some(s) => s.secret_type.clone(),
            None => declared_type.unwrap_or_else(|| "Opaque".into()),
        },
        origin: Origin::Reference {
            path: object.path.clone(),
            document: object.document,
            kind,
            name,
            store: p.store.clone(),
        },
        keys,
        fetches: Vec::new(),
        error,
    }
}

/// Where one key of a resolved Secret came from.
fn sources_of(doc: &ExternalDoc, key: &str) -> Vec<Source> {
    match doc {
        ExternalDoc::Secret(es) => es_sources(es, key),
        ExternalDoc::Avp(s) => s
            .entries
            .iter()
            .rev()
            .find(|e| e.key == key)
            .map(|e| placeholder_sources(&e.parts))
            .unwrap_or_else(|| vec![Source::Literal]),
        ExternalDoc::Store(_) => Vec::new(),
    }
}

/// Whether the fetched keys are keys of the Secret (as the pipeline renders it): no template, a
/// template with `mergePolicy: Merge`, or one that renders no data (only type or metadata). With
/// `Replace` they are the template's inputs only.
fn keeps_fetched(es: &ExternalSecret) -> bool {
    use sealsync_external::MergePolicy;
    es.target.template.as_ref().is_none_or(|t| {
        t.merge_policy == MergePolicy::Merge || (t.data.is_empty() && t.template_from.is_empty())
    })
}

fn es_sources(es: &ExternalSecret, key: &str) -> Vec<Source> {
    let template = es.target.template.as_ref();
    if template.is_some_and(|t| t.data.contains_key(key)) || !keeps_fetched(es) {
        return vec![template_of(es)];
    }
    if let Some(item) = es.data.iter().find(|d| d.secret_key == key) {
        return vec![remote(&item.remote_ref)];
    }
    if es.data_from.is_empty() {
        return vec![template_of(es)];
    }
    es.data_from.iter().map(|f| data_from(&f.source)).collect()
}

/// The template of `es`, with every remote value it is rendered from.
fn template_of(es: &ExternalSecret) -> Source {
    let mut inputs: Vec<Source> = es.data.iter().map(|d| remote(&d.remote_ref)).collect();
    inputs.extend(es.data_from.iter().map(|f| data_from(&f.source)));
    Source::Template(inputs)
}

/// The keys an ExternalSecret or AVP Secret declares, before anything is fetched: `data[]` by its
/// `secretKey`, each `dataFrom[]` as `*` (its keys are known once fetched), template keys.
fn declared_keys(doc: &ExternalDoc) -> Vec<KeyRow> {
    let row = |name: &str, sources: Vec<Source>| KeyRow {
        name: name.to_string(),
        value: None,
        sources,
    };
    match doc {
        ExternalDoc::Secret(es) => {
            let mut rows: Vec<KeyRow> = Vec::new();
            // With a Replace template the fetched keys are its inputs, not keys of the Secret.
            if keeps_fetched(es) {
                rows.extend(
                    es.data
                        .iter()
                        .map(|d| row(&d.secret_key, vec![remote(&d.remote_ref)])),
                );
                rows.extend(
                    es.data_from
                        .iter()
                        .map(|f| row("*", vec![data_from(&f.source)])),
                );
            }
            if let Some(t) = &es.target.template {
                rows.extend(t.data.keys().map(|k| row(k, vec![template_of(es)])));
            }
            rows
        }
        ExternalDoc::Avp(s) => avp_keys(s)
            .into_iter()
            .map(|(k, parts)| row(&k, placeholder_sources(parts)))
            .collect(),
        ExternalDoc::Store(_) => Vec::new(),
    }
}

/// Each key of a placeholder Secret once (`stringData` wins over `data`, as the API server merges).
fn avp_keys(s: &AvpSecret) -> Vec<(String, &[Part])> {
    let mut out: Vec<(String, &[Part])> = Vec::new();
    for e in &s.entries {
        match out.iter_mut().find(|(k, _)| *k == e.key) {
            Some(slot) => slot.1 = &e.parts,
            None => out.push((e.key.clone(), &e.parts)),
        }
    }
    out
}

fn placeholder_sources(parts: &[Part]) -> Vec<Source> {
    let sources: Vec<Source> = parts
        .iter()
        .filter_map(|p| match p {
            Part::Placeholder(ph) => Some(Source::Remote {
                key: ph.reference.path.clone(),
                property: Some(ph.reference.key.clone()),
                version: ph.reference.version.clone(),
            }),
            Part::Text(_) => None,
        })
        .collect();
    if sources.is_empty() {
        vec![Source::Literal]
    } else {
        sources
    }
}

fn remote(r: &sealsync_external::RemoteRef) -> Source {
    Source::Remote {
        key: r.key.clone(),
        property: r.property.clone(),
        version: r.version.clone(),
    }
}

fn data_from(source: &DataFromSource) -> Source {
    match source {
        DataFromSource::Extract(r) => Source::Extract {
            key: r.key.clone(),
            version: r.version.clone(),
        },
        DataFromSource::Find(f) => Source::Find(describe_find(f)),
    }
}

fn describe_find(f: &Find) -> String {
    let mut parts = Vec::new();
    if let Some(path) = &f.path {
        parts.push(format!("under {path}"));
    }
    if let Some(re) = &f.name_regexp {
        parts.push(format!("named like /{re}/"));
    }
    if !f.tags.is_empty() {
        let tags: Vec<String> = f.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        parts.push(format!("tagged {}", tags.join(",")));
    }
    if parts.is_empty() {
        "every remote secret".into()
    } else {
        format!("every remote secret {}", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn es(spec: &str) -> ExternalSecret {
        let doc: serde_json::Value = serde_json::from_str(&format!(
            r#"{{"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                "metadata": {{"name": "e", "namespace": "app"}}, "spec": {spec}}}"#
        ))
        .unwrap();
        ExternalSecret::parse(&doc, "e.yaml").unwrap()
    }

    fn remote_key(s: &Source) -> &str {
        match s {
            Source::Remote { key, .. } | Source::Extract { key, .. } => key,
            _ => panic!("not a remote source"),
        }
    }

    #[test]
    fn keys_are_traced_to_data_data_from_or_the_template() {
        let merged = es(r#"{"secretStoreRef": {"name": "s"},
            "target": {"template": {"mergePolicy": "Merge", "data": {"dsn": "{{ .a }}"}}},
            "data": [{"secretKey": "a", "remoteRef": {"key": "k1", "property": "p"}}],
            "dataFrom": [{"extract": {"key": "k2"}}]}"#);
        assert!(
            matches!(&es_sources(&merged, "dsn")[..], [Source::Template(inputs)] if inputs.len() == 2)
        );
        assert_eq!(remote_key(&es_sources(&merged, "a")[0]), "k1");
        assert_eq!(remote_key(&es_sources(&merged, "from-k2")[0]), "k2");

        let replaced = es(r#"{"secretStoreRef": {"name": "s"},
            "target": {"template": {"data": {"dsn": "{{ .a }}"}}},
            "data": [{"secretKey": "a", "remoteRef": {"key": "k1"}}]}"#);
        assert!(matches!(
            &es_sources(&replaced, "a")[..],
            [Source::Template(_)]
        ));

        let declared = declared_keys(&ExternalDoc::Secret(merged));
        let names: Vec<&str> = declared.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(names, ["a", "*", "dsn"]);
        assert!(declared.iter().all(|k| k.value.is_none()));

        // Replace (the default): `a` is the template's input, not a key of the Secret (before: listed
        // as one by --no-resolve).
        let declared = declared_keys(&ExternalDoc::Secret(replaced));
        let names: Vec<&str> = declared.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(names, ["dsn"]);

        // A template that renders no data keeps the fetched keys.
        let typed = es(r#"{"secretStoreRef": {"name": "s"},
            "target": {"template": {"type": "kubernetes.io/basic-auth"}},
            "data": [{"secretKey": "a", "remoteRef": {"key": "k1"}}]}"#);
        assert_eq!(remote_key(&es_sources(&typed, "a")[0]), "k1");
        let declared = declared_keys(&ExternalDoc::Secret(typed));
        assert_eq!(declared.len(), 1);
        assert_eq!(declared[0].name, "a");
    }
}
