//! The shipped install, end to end: `kubectl kustomize deploy/examples/two-teams` applied as the
//! administrator to an API server that enforces RBAC, and the real `sealsync` run as that Deployment
//! runs it (its arguments and environment, the ConfigMap's values, two replicas authenticated as the
//! ServiceAccount) against the example repository. Nothing the agent does may be refused; a standby is
//! Ready, so a rolling update (the new pod Ready while the old one leads) completes and hands over.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use kube_api_test_server::{RequestRecord, TokenIdentity};
use serde::Deserialize as _;
use serde_yaml_ng::Value;

use crate::cluster::{wait, Agent, Cluster};
use crate::git_servers::{free_port, Fixture};
use crate::support::root;

/// The identity the Deployment's pods run as.
const AGENT_USER: &str = "system:serviceaccount:sealsync:sealsync";
/// The demo recipient `examples/` is encrypted for (`examples/demo-identity.agekey`).
const DEMO_RECIPIENT: &str = "age1dae9e6p9dk68ca9l4agnjtz0q0q0thl3d4uqhrjfvl6tg4sv0uasuhxxzw";

/// `kubectl kustomize deploy/<overlay>`, as documents.
fn render(overlay: &str) -> (String, Vec<Value>) {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(root().join("deploy").join(overlay))
        .output()
        .expect("kubectl is preinstalled on this machine kind");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let docs = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|d| !d.is_null())
        .collect();
    (text, docs)
}

fn find<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"].as_str() == Some(kind))
        .unwrap_or_else(|| panic!("the rendered install has no {kind}"))
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A SOPS-encrypted Secret for the demo recipient, as `sealctl` would write it into `examples/`.
fn demo_secret(namespace: &str, name: &str, value: &str) -> Vec<u8> {
    use sealsync_sops::sops::file::{encrypt, EncryptionSpec};
    let yaml = format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {namespace}\nstringData:\n  value: {value}\n");
    let spec = EncryptionSpec {
        groups: vec![sealsync_sops::keys::parse_recipient_list(DEMO_RECIPIENT).unwrap()],
        threshold: 0,
        rules: sealsync_sops::sops::rules::RuleSet {
            encrypted_regex: Some("^(data|stringData)$".into()),
            ..Default::default()
        },
    };
    encrypt(
        yaml.as_bytes(),
        sealsync_sops::sops::stores::Format::Yaml,
        &spec,
    )
    .unwrap()
}

/// The example repository in git, the rendered install applied, and the agent's credentials.
struct Install {
    fx: Fixture,
    cluster: Cluster,
    /// Authenticates as the ServiceAccount, as the pod's mounted token would.
    agent_kubeconfig: PathBuf,
    deployment: Value,
    config: BTreeMap<String, String>,
}

impl Install {
    /// Renders `overlay`, applies it as the administrator and commits `examples/` to a repository.
    fn new(overlay: &str) -> Install {
        let fx = Fixture::new();
        copy_tree(&root().join("examples"), &fx.work.join("examples"));
        fx.commit("the example repository");
        let (text, docs) = render(overlay);
        let cluster = Cluster::start_blocking_rbac();
        // The overlay does not own the team namespaces: they exist before the install.
        for ns in ["team-a", "team-b"] {
            cluster.kubectl(&["create", "namespace", ns]);
        }
        let manifests = fx.dir.path().join("install.yaml");
        std::fs::write(&manifests, text).unwrap();
        let (ok, out) = cluster.try_kubectl(&["apply", "-f", manifests.to_str().unwrap()]);
        assert!(ok, "kubectl apply of the rendered install failed:\n{out}");
        let config = find(&docs, "ConfigMap")["data"]
            .as_mapping()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                let v = v.as_str().unwrap_or_default().to_string();
                (k.as_str().unwrap().to_string(), v)
            })
            .collect();
        let agent_kubeconfig = cluster.kubeconfig_as(
            &fx.dir.path().join("agent-kubeconfig"),
            TokenIdentity::service_account("sealsync", "sealsync"),
        );
        Install {
            deployment: find(&docs, "Deployment").clone(),
            fx,
            cluster,
            agent_kubeconfig,
            config,
        }
    }

    /// Starts a replica named `pod` with the Deployment's arguments and environment, as far as they
    /// apply outside a pod: the repository is the local fixture, the age key the demo key file, the
    /// address a free loopback port; `overrides` replace environment values.
    fn replica(&self, pod: &str, overrides: &[(&str, &str)]) -> Agent {
        let container = &self.deployment["spec"]["template"]["spec"]["containers"][0];
        let namespace = self.deployment["metadata"]["namespace"].as_str().unwrap();
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        for var in container["env"].as_sequence().unwrap() {
            let name = var["name"].as_str().unwrap().to_string();
            let from = &var["valueFrom"];
            let value = if let Some(v) = var["value"].as_str() {
                Some(v.to_string())
            } else if let Some(key) = from["configMapKeyRef"]["key"].as_str() {
                self.config.get(key).cloned()
            } else {
                match from["fieldRef"]["fieldPath"].as_str() {
                    Some("metadata.name") => Some(pod.to_string()),
                    Some("metadata.namespace") => Some(namespace.to_string()),
                    other => panic!("unexpected fieldRef {other:?}"),
                }
            };
            env.extend(value.map(|v| (name, v)));
        }
        env.insert("SEALSYNC_REPO".into(), self.fx.file_url());
        for (k, v) in overrides {
            env.insert(k.to_string(), v.to_string());
        }
        let port = free_port();
        let webhook_port = free_port();
        let args: Vec<String> = container["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|a| {
                let mut a = a.as_str().unwrap().to_string();
                for (k, v) in &env {
                    a = a.replace(&format!("$({k})"), v);
                }
                if a.starts_with("--identity=") {
                    let key = root().join("examples/demo-identity.agekey");
                    a = format!("--identity={}", key.display());
                } else if a.starts_with("--listen=") {
                    a = format!("--listen=127.0.0.1:{port}");
                } else if a.starts_with("--webhook-listen=") {
                    a = format!("--webhook-listen=127.0.0.1:{webhook_port}");
                }
                a
            })
            .collect();
        let mut command = Command::new(env!("CARGO_BIN_EXE_sealsync"));
        command
            .args(&args)
            .envs(&env)
            .env("KUBECONFIG", &self.agent_kubeconfig)
            .env(
                "SEALSYNC_CACHE_DIR",
                self.fx.scratch(&format!("cache-{pod}")),
            );
        Agent::spawn(command, port, self.fx.dir.path().join(format!("{pod}.log")))
    }

    /// Every request the agent's identity made.
    fn agent_requests(&self) -> Vec<RequestRecord> {
        self.cluster
            .server
            .requests()
            .into_iter()
            .filter(|r| r.user == AGENT_USER)
            .collect()
    }

    fn assert_nothing_refused(&self, agents: &[&Agent]) {
        let requests = self.agent_requests();
        assert!(
            !requests.is_empty(),
            "the agent authenticated as its ServiceAccount"
        );
        let refused: Vec<_> = requests.iter().filter(|r| r.status == 403).collect();
        let logs: Vec<String> = agents.iter().map(|a| a.logs()).collect();
        assert!(
            refused.is_empty(),
            "the shipped RBAC refused the agent:\n{refused:#?}\nlogs:\n{}",
            logs.join("\n---\n")
        );
    }

    fn secret_exists(&self, namespace: &str, name: &str) -> bool {
        self.cluster
            .try_kubectl(&["get", "secret", name, "-n", namespace, "-o", "name"])
            .0
    }
}

/// The standby's watch of its Lease, answered (the Role grants list and watch on the Lease by name).
fn lease_watch_authorized(requests: &[RequestRecord]) -> bool {
    requests.iter().any(|r| {
        r.resource == "leases"
            && r.verb == "watch"
            && r.query.contains("metadata.name%3Dsealsync-leader")
            && r.status == 200
    })
}

#[test]
fn the_two_teams_install_runs_two_replicas_with_exactly_its_rbac() {
    let install = Install::new("examples/two-teams");
    let a = install.replica("sealsync-7d9f-a", &[]);
    wait("the team Secrets", &[&a], || {
        install.secret_exists("team-a", "db-credentials")
            && install.secret_exists("team-a", "api-token")
            && install.secret_exists("team-b", "smtp")
    });
    assert!(install
        .cluster
        .value_in("team-a", "db-credentials", "password")
        .is_some_and(|v| !v.is_empty()));
    let b = install.replica("sealsync-7d9f-b", &[]);
    wait("both replicas Ready", &[&a, &b], || a.ready() && b.ready());
    assert!(a.leading() && !b.leading(), "one leader, one Ready standby");
    wait("the standby's lease watch", &[&a, &b], || {
        lease_watch_authorized(&install.agent_requests())
    });
    install.assert_nothing_refused(&[&a, &b]);

    // The webhook Secret does not exist: the Deployment's --webhook-secret-file names a missing file,
    // which means "no webhook", said once and shown in /status.
    let status = b.get("/status").unwrap();
    assert!(
        status.contains(r#""webhook":{"enabled":false,"reason":"no webhook secret file at /var/run/sealsync/webhook/secret"#),
        "{status}"
    );
    assert_eq!(a.logs().matches("webhook off").count(), 1, "{}", a.logs());
}

#[test]
fn a_sync_refusing_every_document_is_not_ready_and_says_why() {
    let install = Install::new("examples/two-teams");
    // As the overlay shipped before: no namespace policy, so only the agent's own namespace is allowed.
    let a = install.replica("sealsync-7d9f-a", &[("SEALSYNC_NAMESPACE_POLICY", "")]);
    wait("/readyz to say why", &[&a], || {
        a.get_any("/readyz").is_some_and(|(code, body)| {
            code == 503 && body.contains("not ready: last sync refused all ")
        })
    });
    let status = a.get("/status").unwrap();
    assert!(status.contains(r#""ready":false"#), "{status}");
    assert!(
        status.contains(r#""not_ready_reason":"last sync refused all "#),
        "{status}"
    );
}

#[test]
fn a_rolling_update_of_two_replicas_hands_over_and_syncs_the_new_commit() {
    let install = Install::new("examples/two-teams");
    // Hourly polling: only a new leader's first pass can pick up the commit below.
    let env = [
        ("SEALSYNC_INTERVAL", "1h"),
        ("SEALSYNC_LEASE_DURATION", "4s"),
    ];
    let mut old = install.replica("sealsync-old", &env);
    wait("the old pod to lead and sync", &[&old], || {
        old.leading() && old.ready() && install.secret_exists("team-b", "smtp")
    });
    install.fx.write(
        "examples/apps/team-a/rotated.yaml",
        demo_secret("team-a", "rotated", "r0tated-value"),
    );
    let commit = install.fx.commit("a new Secret");

    // maxSurge 1, maxUnavailable 0: the new pod must become Ready while the old one leads...
    let new = install.replica("sealsync-new", &env);
    wait("the new pod Ready as a standby", &[&old, &new], || {
        new.ready()
    });
    assert!(old.leading() && !new.leading());
    // ...then the old one is stopped, releases the Lease, and the new one takes over and syncs.
    assert!(old.terminate().success(), "{}", old.logs());
    assert!(
        old.logs().contains("released the leader lease"),
        "{}",
        old.logs()
    );
    wait("the new leader to apply the new commit", &[&new], || {
        new.leading()
            && install
                .cluster
                .value_in("team-a", "rotated", "value")
                .as_deref()
                == Some("r0tated-value")
    });
    wait("the new leader Ready", &[&new], || {
        new.ready() && new.get("/status").is_some_and(|s| s.contains(&commit))
    });
    install.assert_nothing_refused(&[&old, &new]);
}

// The names are the Kubernetes sink's and leader election's: built with the `kube` feature only.
#[cfg(feature = "kube")]
#[test]
fn the_rendered_role_names_what_the_agent_uses() {
    use sealsync_agent::leader::LEASE_NAME;
    use sealsync_agent::sink::kube::hmac_key::KEY_SECRET;
    let (_, docs) = render("base");
    let role = docs
        .iter()
        .find(|d| {
            d["kind"].as_str() == Some("Role")
                && d["metadata"]["namespace"].as_str() == Some("sealsync")
        })
        .expect("the base renders the agent's Role");
    let grants = |resource: &str, name: &str| -> Vec<String> {
        role["rules"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter(|r| {
                r["resources"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .any(|x| x.as_str() == Some(resource))
            })
            .filter(|r| {
                r["resourceNames"]
                    .as_sequence()
                    .is_some_and(|n| n.iter().any(|x| x.as_str() == Some(name)))
            })
            .flat_map(|r| {
                r["verbs"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
            })
            .collect()
    };
    assert!(
        grants("secrets", KEY_SECRET).contains(&"get".to_string()),
        "{role:?}"
    );
    let lease = grants("leases", LEASE_NAME);
    for verb in ["get", "list", "watch", "update"] {
        assert!(
            lease.contains(&verb.to_string()),
            "{verb} on the Lease: {role:?}"
        );
    }
}

/// team-a's overlay includes `components/workload-restarts`, team-b's does not: an opted-in
/// Deployment is restarted in team-a, and in team-b the refusal (403) is reported while its Secret
/// is still updated.
#[test]
fn workload_restarts_work_where_the_component_grants_them_and_are_refused_clearly_elsewhere() {
    let install = Install::new("examples/two-teams");
    for ns in ["team-a", "team-b"] {
        let app = format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n  namespace: {ns}\n  annotations:\n    sealsync.dev/restart-on-change: restart-me\nspec:\n  selector:\n    matchLabels: {{app: app}}\n  template:\n    metadata:\n      labels: {{app: app}}\n    spec:\n      containers: [{{name: c, image: x, envFrom: [{{secretRef: {{name: restart-me}}}}]}}]\n");
        let file = install.fx.dir.path().join(format!("app-{ns}.yaml"));
        std::fs::write(&file, app).unwrap();
        let (ok, out) = install
            .cluster
            .try_kubectl(&["apply", "-f", file.to_str().unwrap()]);
        assert!(ok, "{out}");
    }
    let commit = |value: &str| {
        for ns in ["team-a", "team-b"] {
            install.fx.write(
                &format!("examples/apps/{ns}/restart-me.yaml"),
                demo_secret(ns, "restart-me", value),
            );
        }
        install.fx.commit(value);
    };
    commit("first");
    let env = [
        ("SEALSYNC_INTERVAL", "1s"),
        ("SEALSYNC_RESTART_DEBOUNCE", "200ms"),
    ];
    let a = install.replica("sealsync-7d9f-a", &env);
    let has = |ns: &str, value: &str| {
        install
            .cluster
            .value_in(ns, "restart-me", "value")
            .as_deref()
            == Some(value)
    };
    wait("the first values", &[&a], || {
        has("team-a", "first") && has("team-b", "first")
    });
    commit("second");
    let restarted = |ns: &str| {
        let (ok, out) = install.cluster.try_kubectl(&[
            "get",
            "deployment",
            "app",
            "-n",
            ns,
            "-o",
            r"jsonpath={.spec.template.metadata.annotations.sealsync\.dev/restarted-for}",
        ]);
        ok && !out.trim().is_empty()
    };
    wait("team-a's restart and team-b's refusal", &[&a], || {
        has("team-b", "second")
            && restarted("team-a")
            && a.logs()
                .contains("the agent may not list deployments in namespace team-b")
    });
    assert!(!restarted("team-b"));
    assert!(a.logs().contains("deploy/components/workload-restarts"));
    // The only refusal is team-b's workload list (once per round, not once per kind); everything
    // else the agent did was granted.
    let refused: Vec<_> = install
        .agent_requests()
        .into_iter()
        .filter(|r| r.status == 403)
        .collect();
    assert!(!refused.is_empty());
    assert!(
        refused
            .iter()
            .all(
                |r| ["deployments", "statefulsets", "daemonsets"].contains(&r.resource.as_str())
                    && r.verb == "list"
                    && r.path.contains("/namespaces/team-b/")
            ),
        "{refused:#?}"
    );
}

/// team-a's overlay includes `components/token-request`, team-b's does not: a SecretStore that logs
/// in to OpenBao as the team's own ServiceAccount (`serviceAccountRef`, a TokenRequest per login)
/// resolves in team-a; in team-b the refused TokenRequest (403) is reported on that ExternalSecret,
/// naming the component, while the rest of team-b is applied.
#[test]
fn service_account_logins_work_where_the_token_request_component_grants_them() {
    use crate::service_account_login::{external_secret, kubernetes_auth, store, VALUE};
    let install = Install::new("examples/two-teams");
    let bao = crate::external_refs::start_bao(install.fx.dir.path());
    kubernetes_auth(&bao, &install.cluster.server.url(), install.fx.dir.path());
    let auth = "          role: team\n          serviceAccountRef:\n            name: reader\n";
    // OpenBao has no reviewer token of its own: it reviews each login JWT with that JWT, so the
    // accounts that log in may create TokenReviews (what `system:auth-delegator` grants).
    let review = install.fx.dir.path().join("token-reviewer.yaml");
    std::fs::write(&review, TOKEN_REVIEWER).unwrap();
    install
        .cluster
        .kubectl(&["apply", "-f", review.to_str().unwrap()]);
    for ns in ["team-a", "team-b"] {
        install
            .cluster
            .kubectl(&["create", "serviceaccount", "reader", "-n", ns]);
        let dir = format!("examples/apps/{ns}");
        install.fx.write(
            &format!("{dir}/vault-store.yaml"),
            store(ns, "vault", &bao.addr, auth),
        );
        install.fx.write(
            &format!("{dir}/from-vault.yaml"),
            external_secret(ns, "from-vault", "vault"),
        );
        install.fx.write(
            &format!("{dir}/plain.yaml"),
            demo_secret(ns, "plain", "still-applied"),
        );
    }
    install
        .fx
        .commit("stores logging in as the teams' ServiceAccounts");
    let a = install.replica("sealsync-7d9f-a", &[("SEALSYNC_INTERVAL", "1s")]);
    let value = |ns: &str, name: &str, key: &str| install.cluster.value_in(ns, name, key);
    wait("team-a's Vault value and team-b's refusal", &[&a], || {
        value("team-a", "from-vault", "password").as_deref() == Some(VALUE)
            && value("team-b", "plain", "value").as_deref() == Some("still-applied")
            && a.logs().contains("deploy/components/token-request")
    });
    assert_eq!(value("team-b", "from-vault", "password"), None);
    let logs = a.logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("examples/apps/team-b/from-vault.yaml")
                && l.contains("SecretStore team-b/vault")
                && l.contains("ServiceAccount team-b/reader")),
        "the refusal is reported on team-b's ExternalSecret, naming store and account:\n{logs}"
    );
    let refused: Vec<_> = install
        .agent_requests()
        .into_iter()
        .filter(|r| r.status == 403)
        .collect();
    assert!(
        !refused.is_empty()
            && refused
                .iter()
                .all(|r| r.path == "/api/v1/namespaces/team-b/serviceaccounts/reader/token"),
        "only team-b's TokenRequest is refused: {refused:#?}"
    );
}

/// A ClusterRole to create TokenReviews, bound to the `reader` accounts of team-a and team-b.
const TOKEN_REVIEWER: &str = "apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: token-reviewer
rules:
- apiGroups: [authentication.k8s.io]
  resources: [tokenreviews]
  verbs: [create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: readers-review-tokens
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: token-reviewer
subjects:
- {kind: ServiceAccount, name: reader, namespace: team-a}
- {kind: ServiceAccount, name: reader, namespace: team-b}
";
