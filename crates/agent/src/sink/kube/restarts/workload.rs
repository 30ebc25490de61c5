//! Which workloads opted in to restarts (Reloader's annotations and sealsync's own), which Secrets
//! their pod templates use, and the HMAC value patched into the template when those Secrets change.

use std::collections::{BTreeMap, BTreeSet};

use hmac::Mac;
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::ByteString;

use crate::desired::FingerprintKey;

/// The pod template annotation whose change restarts the pods: an HMAC (under the agent's fingerprint
/// key) of the data of the Secrets the workload watches, so equal data gives an equal value and no
/// restart, and a plain hash of a low-entropy value never reaches the cluster.
pub const RESTARTED_FOR_ANNOTATION: &str = "sealsync.dev/restarted-for";
/// sealsync's own opt-in: `"a,b"` names the Secrets whose change restarts the workload.
pub const RESTART_ON_CHANGE: &str = "sealsync.dev/restart-on-change";
/// Reloader: `"true"` restarts on a change of any Secret (or ConfigMap) the pod template uses.
pub const RELOADER_AUTO: &str = "reloader.stakater.com/auto";
/// Reloader: `"true"` restarts on a change of any Secret the pod template uses.
pub const RELOADER_SECRET_AUTO: &str = "secret.reloader.stakater.com/auto";
/// Reloader: `"a,b"` names the Secrets whose change restarts the workload.
pub const RELOADER_SECRET_RELOAD: &str = "secret.reloader.stakater.com/reload";

/// At most this many Secrets are watched per workload: a longer list is refused (bounded work and
/// requests per workload whatever its annotations say).
pub const MAX_WATCHED: usize = 64;

/// The Secrets a pod template uses: `envFrom[].secretRef`, `env[].valueFrom.secretKeyRef`,
/// `volumes[].secret` and `volumes[].projected.sources[].secret`, in containers and initContainers.
pub fn secrets_used(spec: &PodSpec) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let containers = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    for c in containers {
        container_secrets(c, &mut used);
    }
    for volume in spec.volumes.iter().flatten() {
        if let Some(name) = volume.secret.as_ref().and_then(|s| s.secret_name.as_ref()) {
            used.insert(name.clone());
        }
        let projected = volume.projected.as_ref().and_then(|p| p.sources.as_ref());
        for source in projected.into_iter().flatten() {
            if let Some(secret) = &source.secret {
                used.insert(secret.name.clone());
            }
        }
    }
    used.retain(|n| !n.is_empty());
    used
}

fn container_secrets(c: &Container, used: &mut BTreeSet<String>) {
    for from in c.env_from.iter().flatten() {
        if let Some(r) = &from.secret_ref {
            used.insert(r.name.clone());
        }
    }
    for var in c.env.iter().flatten() {
        if let Some(r) = var
            .value_from
            .as_ref()
            .and_then(|v| v.secret_key_ref.as_ref())
        {
            used.insert(r.name.clone());
        }
    }
}

/// The Secrets whose change restarts a workload with these annotations (its own metadata's) and
/// pod template; empty when it did not opt in. Err names the annotation when the list is too long.
pub fn watched(
    annotations: Option<&BTreeMap<String, String>>,
    template: &PodTemplateSpec,
) -> Result<BTreeSet<String>, String> {
    let Some(annotations) = annotations else {
        return Ok(BTreeSet::new());
    };
    let mut watched = BTreeSet::new();
    let auto = [RELOADER_AUTO, RELOADER_SECRET_AUTO]
        .iter()
        .any(|a| annotations.get(*a).is_some_and(|v| v.trim() == "true"));
    if auto {
        if let Some(spec) = &template.spec {
            watched.extend(secrets_used(spec));
        }
    }
    for annotation in [RESTART_ON_CHANGE, RELOADER_SECRET_RELOAD] {
        let Some(list) = annotations.get(annotation) else {
            continue;
        };
        let names = list.split(',').map(str::trim).filter(|n| !n.is_empty());
        for name in names {
            if watched.len() >= MAX_WATCHED {
                return Err(format!(
                    "{annotation} names more than {MAX_WATCHED} Secrets; not restarted"
                ));
            }
            watched.insert(name.to_string());
        }
    }
    if watched.len() > MAX_WATCHED {
        return Err(format!(
            "the pod template uses more than {MAX_WATCHED} Secrets; not restarted"
        ));
    }
    Ok(watched)
}

/// The HMAC of one Secret's data (keys in order), or of its absence.
pub fn secret_digest(key: &FingerprintKey, data: Option<&BTreeMap<String, ByteString>>) -> String {
    let mut mac = key.mac();
    let mut field = |bytes: &[u8]| {
        mac.update(&(bytes.len() as u64).to_be_bytes());
        mac.update(bytes);
    };
    field(b"sealsync.dev/restarted-for secret v1");
    match data {
        None => field(b"absent"),
        Some(data) => {
            field(&(data.len() as u64).to_be_bytes());
            for (k, v) in data {
                field(k.as_bytes());
                field(&v.0);
            }
        }
    }
    hex::encode(mac.finalize().into_bytes())
}

/// The annotation value for a workload watching these Secrets: an HMAC over their names and the
/// digests of their data, sorted by name.
pub fn restart_value<'a>(
    key: &FingerprintKey,
    digests: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut mac = key.mac();
    let mut field = |bytes: &[u8]| {
        mac.update(&(bytes.len() as u64).to_be_bytes());
        mac.update(bytes);
    };
    field(b"sealsync.dev/restarted-for v1");
    let sorted: BTreeMap<&str, &str> = digests.into_iter().collect();
    for (name, digest) in sorted {
        field(name.as_bytes());
        field(digest.as_bytes());
    }
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(json: &str) -> PodTemplateSpec {
        serde_json::from_str(json).unwrap()
    }

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const POD: &str = r#"{"spec":{
        "initContainers":[{"name":"i","envFrom":[{"secretRef":{"name":"init-env"}}]}],
        "containers":[{"name":"c",
            "env":[{"name":"P","valueFrom":{"secretKeyRef":{"name":"env-key","key":"p"}}},
                   {"name":"Q","value":"plain"}],
            "envFrom":[{"configMapRef":{"name":"not-a-secret"}}]}],
        "volumes":[{"name":"v","secret":{"secretName":"vol"}},
                   {"name":"p","projected":{"sources":[{"secret":{"name":"proj"}},{"configMap":{"name":"cm"}}]}}]}}"#;

    #[test]
    fn finds_every_secret_a_pod_template_uses() {
        let t = template(POD);
        let used: Vec<String> = secrets_used(t.spec.as_ref().unwrap()).into_iter().collect();
        assert_eq!(used, ["env-key", "init-env", "proj", "vol"]);
    }

    #[test]
    fn honours_reloader_and_sealsync_annotations() {
        let t = template(POD);
        let all = || watched(Some(&annotations(&[(RELOADER_AUTO, "true")])), &t).unwrap();
        assert_eq!(all().len(), 4);
        let secrets = watched(Some(&annotations(&[(RELOADER_SECRET_AUTO, "true")])), &t).unwrap();
        assert_eq!(secrets, all());
        let named = watched(
            Some(&annotations(&[
                (RELOADER_SECRET_RELOAD, "a, b"),
                (RESTART_ON_CHANGE, "c,,"),
            ])),
            &t,
        )
        .unwrap();
        assert_eq!(named.into_iter().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert!(watched(Some(&annotations(&[(RELOADER_AUTO, "false")])), &t)
            .unwrap()
            .is_empty());
        assert!(watched(None, &t).unwrap().is_empty());
    }

    #[test]
    fn refuses_too_long_lists() {
        let names: Vec<String> = (0..=MAX_WATCHED).map(|i| format!("s{i}")).collect();
        let long = annotations(&[(RESTART_ON_CHANGE, &names.join(","))]);
        let why = watched(Some(&long), &template(POD)).unwrap_err();
        assert!(why.contains(RESTART_ON_CHANGE), "{why}");
    }

    #[test]
    fn values_follow_the_data_and_hide_it() {
        let key = FingerprintKey::new(vec![7; 32]);
        let data = |v: &str| BTreeMap::from([("password".to_string(), ByteString(v.into()))]);
        let (one, two) = (data("one"), data("two"));
        let d1 = secret_digest(&key, Some(&one));
        assert_eq!(d1, secret_digest(&key, Some(&one)));
        assert_ne!(d1, secret_digest(&key, Some(&two)));
        assert_ne!(d1, secret_digest(&key, None));
        // Under another key the same data gives another value: nothing guessable without the key.
        assert_ne!(
            d1,
            secret_digest(&FingerprintKey::new(vec![8; 32]), Some(&one))
        );
        let v = restart_value(&key, [("b", "x"), ("a", "y")]);
        assert_eq!(v, restart_value(&key, [("a", "y"), ("b", "x")]));
        assert_ne!(v, restart_value(&key, [("a", "x"), ("b", "y")]));
    }
}
