//! The real `kubectl` against the server: how a person edits a Secret by hand, and how tests cause
//! drift that server-side apply then has to force back.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube_api_test_server::TestServer;
use serde_json::{json, Value};

use crate::{client, code};

const KUBECTL: &str = "kubectl";

pub struct Kubectl {
    pub kubeconfig: PathBuf,
    pub cache: PathBuf,
}

impl Kubectl {
    pub async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = tokio::process::Command::new(KUBECTL)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args)
            .output()
            .await
            .expect("kubectl runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs and requires success, answering stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let (ok, stdout, stderr) = self.run(args).await;
        assert!(ok, "kubectl {args:?} failed:\n{stderr}");
        stdout
    }

    async fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&a).await).expect("kubectl -o json prints JSON")
    }
}

pub fn kubectl_present() -> bool {
    std::process::Command::new(KUBECTL)
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success())
}

pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_apply_patch_label_delete() {
    assert!(
        kubectl_present(),
        "kubectl is needed on PATH for this test (preinstalled on this machine kind)"
    );
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).unwrap();
    let k = Kubectl {
        kubeconfig,
        cache: dir.path().join("cache"),
    };
    let api: Api<Secret> = Api::namespaced(client(&server), "default");

    assert!(k.ok(&["version"]).await.contains("Server Version: v1.32"));
    let out = k
        .ok(&[
            "create",
            "secret",
            "generic",
            "manual",
            "--from-literal=user=admin",
        ])
        .await;
    assert!(out.contains("secret/manual created"), "{out}");
    assert_eq!(
        api.get("manual").await.unwrap().data.unwrap()["user"].0,
        b"admin"
    );

    let table = k.ok(&["get", "secrets"]).await;
    assert!(
        table.contains("NAME") && table.contains("manual") && table.contains("Opaque"),
        "{table}"
    );
    let yaml = k.ok(&["get", "secret", "manual", "-o", "yaml"]).await;
    assert!(yaml.contains("user: YWRtaW4="), "{yaml}");

    let manifest = write(
        dir.path(),
        "app.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\n  labels:\n    app: web\nstringData:\n  token: abc\n",
    );
    assert!(k
        .ok(&["apply", "-f", &manifest])
        .await
        .contains("secret/app created"));
    let rv = api.get("app").await.unwrap().metadata.resource_version;
    // As on a real cluster, stringData (write-only) makes kubectl send a patch each time; the
    // object does not change.
    assert!(k
        .ok(&["apply", "-f", &manifest])
        .await
        .contains("secret/app configured"));
    assert_eq!(api.get("app").await.unwrap().metadata.resource_version, rv);
    let app = k.json(&["get", "secret", "app"]).await;
    assert_eq!(app["data"]["token"], "YWJj");

    k.ok(&[
        "patch",
        "secret",
        "app",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"extra":"eA=="}}"#,
    ])
    .await;
    k.ok(&[
        "patch",
        "secret",
        "app",
        "--type",
        "json",
        "-p",
        r#"[{"op":"replace","path":"/data/token","value":"ZGVm"}]"#,
    ])
    .await;
    k.ok(&[
        "patch",
        "secret",
        "app",
        "--type",
        "strategic",
        "-p",
        r#"{"metadata":{"labels":{"tier":"back"}}}"#,
    ])
    .await;
    k.ok(&["label", "secret", "app", "owner=ops"]).await;
    k.ok(&["annotate", "secret", "app", "note=hand-edited"])
        .await;
    let app = api.get("app").await.unwrap();
    assert_eq!(app.data.as_ref().unwrap()["token"].0, b"def");
    assert_eq!(app.data.as_ref().unwrap()["extra"].0, b"x");
    let labels = app.metadata.labels.unwrap();
    assert_eq!(
        (
            labels["app"].as_str(),
            labels["tier"].as_str(),
            labels["owner"].as_str()
        ),
        ("web", "back", "ops")
    );
    assert_eq!(app.metadata.annotations.unwrap()["note"], "hand-edited");

    let selected = k.json(&["get", "secrets", "-l", "owner=ops"]).await;
    assert_eq!(selected["items"].as_array().unwrap().len(), 1);

    assert!(k
        .ok(&["delete", "secret", "app"])
        .await
        .contains("secret \"app\" deleted"));
    assert_eq!(code(&api.get("app").await.unwrap_err()), 404);
    let (ok, _, stderr) = k.run(&["get", "secret", "app"]).await;
    assert!(!ok && stderr.contains("NotFound"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_drift_needs_a_forced_apply() {
    assert!(
        kubectl_present(),
        "kubectl is needed on PATH for this test (preinstalled on this machine kind)"
    );
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).unwrap();
    let k = Kubectl {
        kubeconfig,
        cache: dir.path().join("cache"),
    };
    let api: Api<Secret> = Api::namespaced(client(&server), "prod");

    let desired = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "data": {"password": "Z29vZA=="}});
    let pp = PatchParams::apply("sealsync");
    api.patch("db", &pp, &Patch::Apply(&desired)).await.unwrap();

    // Drift by hand, with kubectl.
    k.ok(&[
        "-n",
        "prod",
        "patch",
        "secret",
        "db",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"password":"YmFk"}}"#,
    ])
    .await;
    let err = api
        .patch("db", &pp, &Patch::Apply(&desired))
        .await
        .unwrap_err();
    assert_eq!(code(&err), 409);
    let fixed = api
        .patch("db", &pp.clone().force(), &Patch::Apply(&desired))
        .await
        .unwrap();
    assert_eq!(fixed.data.unwrap()["password"].0, b"good");

    // kubectl's own server-side apply sees sealsync's ownership.
    let manifest = write(dir.path(), "db.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\ndata:\n  password: b3RoZXI=\n");
    let (ok, _, stderr) = k.run(&["apply", "--server-side", "-f", &manifest]).await;
    assert!(
        !ok && stderr.contains("conflict with \"sealsync\""),
        "{stderr}"
    );
    k.ok(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        &manifest,
    ])
    .await;
    assert_eq!(
        api.get("db").await.unwrap().data.unwrap()["password"].0,
        b"other"
    );
}
