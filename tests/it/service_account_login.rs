//! Store logins as Kubernetes service accounts, end to end with real servers: OpenBao's `kubernetes`
//! auth (its TokenReview answered by the Kubernetes API test server) with the agent's own token file
//! (`--service-account-token-file`) and with `serviceAccountRef` (a TokenRequest per login, kube sink);
//! AWS web identity with `auth.jwt.serviceAccountRef` through moto's STS. A denied role, an unknown
//! service account or a missing role annotation is an error on that ExternalSecret only; with the dir
//! sink, `serviceAccountRef` is refused by name.

use std::path::{Path, PathBuf};
use std::process::Command;

use kube_api_test_server::{TestServer, TokenIdentity};
use serde_json::json;

use crate::agent_dir::{agent, encrypted};
use crate::external_refs::{curl, put, start_bao, Bao};
use crate::git_servers::Fixture;
use crate::support::{key, ONE};

/// The agent's own service account, as the kube-sink tests run it (`POD_NAMESPACE`).
const OWN_NS: &str = "sealsync";
const OWN_SA: &str = "sealsync";
const OWN_UID: &str = "7d3c0a52-0000-4000-8000-000000000001";
/// What the stores resolve into team-a's Secrets.
pub(crate) const VALUE: &str = "k8s-l0gin-value";

/// A JWT shaped like a projected service account token (OpenBao reads its claims; the API test
/// server's TokenReview vouches for it).
fn own_token() -> String {
    use base64::Engine;
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let claims = json!({
        "iss": "https://kubernetes.default.svc.cluster.local",
        "sub": format!("system:serviceaccount:{OWN_NS}:{OWN_SA}"),
        "kubernetes.io": {"namespace": OWN_NS, "serviceaccount": {"name": OWN_SA, "uid": OWN_UID}},
    });
    format!(
        "{}.{}.c2lnbmF0dXJlLW9mLXRoZS1vd24tdG9rZW4",
        b64(json!({"alg": "RS256"})),
        b64(claims)
    )
}

/// Registers the agent's own token with the API server and writes it where the agent reads it.
fn own_token_file(server: &TestServer, dir: &Path) -> (PathBuf, String) {
    let token = own_token();
    let mut id = TokenIdentity::service_account(OWN_NS, OWN_SA);
    id.uid = OWN_UID.into();
    server.add_token(&token, id);
    let path = dir.join("sa-token");
    std::fs::write(&path, format!("{token}\n")).unwrap();
    (path, token)
}

/// Some CA certificate: OpenBao requires `kubernetes_ca_cert` (unused over plain HTTP).
pub(crate) fn some_ca(dir: &Path) -> String {
    let (key, cert) = (dir.join("ca.key"), dir.join("ca.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=kube-api-test-server"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed (scripts/install-test-deps.sh)")
        .status
        .success();
    assert!(ok, "openssl made a certificate");
    std::fs::read_to_string(cert).unwrap()
}

/// OpenBao's kubernetes auth against `kube_url`; role `agent` for the agent's own account, role
/// `team` for the `reader` of team-a and team-b, both reading `secret/data/*`.
pub(crate) fn kubernetes_auth(bao: &Bao, kube_url: &str, dir: &Path) {
    let post = |path: &str, body: serde_json::Value| {
        curl(bao, "POST", path, Some(&body.to_string()))
            .unwrap_or_else(|| panic!("OpenBao set-up {path}"));
    };
    post("sys/auth/kubernetes", json!({"type": "kubernetes"}));
    post(
        "auth/kubernetes/config",
        json!({"kubernetes_host": kube_url, "disable_local_ca_jwt": true, "kubernetes_ca_cert": some_ca(dir)}),
    );
    post(
        "sys/policies/acl/reader",
        json!({"policy": "path \"secret/data/*\" { capabilities = [\"read\"] }"}),
    );
    post(
        "auth/kubernetes/role/agent",
        json!({"bound_service_account_names": OWN_SA, "bound_service_account_namespaces": OWN_NS, "token_policies": "reader"}),
    );
    post(
        "auth/kubernetes/role/team",
        json!({"bound_service_account_names": "reader", "bound_service_account_namespaces": "team-a,team-b", "token_policies": "reader"}),
    );
    put(bao, "team/db", &json!({"password": VALUE}).to_string());
}

/// A Vault SecretStore `ns/name` at `addr` with `kubernetes` auth (`auth`: its indented fields).
pub(crate) fn store(ns: &str, name: &str, addr: &str, auth: &str) -> String {
    format!(
        "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  provider:\n    vault:\n      server: {addr}\n      path: secret\n      auth:\n        kubernetes:\n{auth}"
    )
}

/// An ExternalSecret `ns/name` whose `password` is `team/db`'s from `store`.
pub(crate) fn external_secret(ns: &str, name: &str, store: &str) -> String {
    format!(
        "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  secretStoreRef:\n    name: {store}\n  data:\n  - secretKey: password\n    remoteRef:\n      key: team/db\n      property: password\n"
    )
}

/// git: an encrypted Secret, and one ExternalSecret per store: `own` (the agent's token), `via-ref`
/// (team-a's reader through a TokenRequest), `denied` (reader's token for the agent's role) and
/// `ghost` (a ServiceAccount that does not exist).
fn vault_repo(fx: &Fixture, addr: &str) {
    fx.write(
        "apps/plain.yaml",
        encrypted("team-a", "plain", &[("password", "pl4in-value")], ONE),
    );
    let stores = [
        ("own", "          role: agent\n"),
        (
            "via-ref",
            "          role: team\n          serviceAccountRef:\n            name: reader\n",
        ),
        (
            "denied",
            "          role: agent\n          serviceAccountRef:\n            name: reader\n",
        ),
        (
            "ghost",
            "          role: team\n          serviceAccountRef:\n            name: ghost\n",
        ),
    ];
    for (name, auth) in stores {
        fx.write(
            &format!("apps/{name}-store.yaml"),
            store("team-a", name, addr, auth),
        );
        fx.write(
            &format!("apps/{name}.yaml"),
            external_secret("team-a", name, name),
        );
    }
    fx.commit("stores logging in as service accounts");
    fx.push();
}

/// `sealsync run --once` over the fixture with `sink` and the agent's own token at `token_file`:
/// its exit code and logs.
fn run_once(
    fx: &Fixture,
    sink: &str,
    token_file: &Path,
    more: impl FnOnce(&mut Command),
) -> (i32, String) {
    let mut cmd = agent();
    cmd.args([
        "run",
        "--once",
        "--sink",
        sink,
        "--namespace-policy",
        "apps/**=team-a",
        // The stores that log in as the agent itself must come from an allowed path.
        "--cluster-store-path",
        "apps/*-store.yaml",
    ])
    .arg("--repo")
    .arg(fx.file_url())
    .arg("--cache-dir")
    .arg(fx.dir.path().join("cache"))
    .arg("--identity")
    .arg(key("one.agekey"))
    .arg("--service-account-token-file")
    .arg(token_file);
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ] {
        cmd.env_remove(var);
    }
    more(&mut cmd);
    let out = cmd.output().expect("run the agent");
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !logs.contains(VALUE),
        "a remote value leaked into the logs:\n{logs}"
    );
    (out.status.code().unwrap_or(-1), logs)
}

/// The log lines that report `name`'s ExternalSecret.
fn lines_about<'a>(logs: &'a str, name: &str) -> Vec<&'a str> {
    let path = format!("apps/{name}.yaml");
    logs.lines().filter(|l| l.contains(&path)).collect()
}

#[test]
fn dir_sink_logs_in_with_its_own_token_and_refuses_service_account_refs() {
    let fx = Fixture::new();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(TestServer::start());
    let (token_file, token) = own_token_file(&server, fx.dir.path());
    let bao = start_bao(fx.dir.path());
    kubernetes_auth(&bao, &server.url(), fx.dir.path());
    vault_repo(&fx, &bao.addr);
    let sink = fx.dir.path().join("secrets");

    let (code, logs) = run_once(&fx, &format!("dir:{}", sink.display()), &token_file, |_| {});
    let read =
        |name: &str| std::fs::read_to_string(sink.join("team-a").join(name).join("password")).ok();
    assert_eq!(read("own").as_deref(), Some(VALUE), "{logs}");
    assert_eq!(read("plain").as_deref(), Some("pl4in-value"), "{logs}");
    assert_eq!(code, 2, "the refused stores make the pass partial:\n{logs}");
    for name in ["via-ref", "denied", "ghost"] {
        assert_eq!(read(name), None, "{logs}");
        let about = lines_about(&logs, name).join("\n");
        assert!(
            about.contains("serviceAccountRef needs the Kubernetes sink")
                && about.contains(&format!("SecretStore team-a/{name}")),
            "{name} is refused naming its store and why:\n{logs}"
        );
    }
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/tokenreviews") && r.status == 201),
        "OpenBao had the token reviewed"
    );
    assert!(
        !logs.contains(&token),
        "the token leaked into the logs:\n{logs}"
    );

    // The file is read at each login: a rotated token is used, a revoked one is an error, not a panic.
    std::fs::write(&token_file, "not-a-known-token").unwrap();
    let (_, logs) = run_once(&fx, &format!("dir:{}", sink.display()), &token_file, |_| {});
    let about = lines_about(&logs, "own").join("\n");
    assert!(
        about.contains("SecretStore team-a/own") && about.contains("(login)"),
        "the failed login names the store:\n{logs}"
    );
    assert_eq!(
        read("own").as_deref(),
        Some(VALUE),
        "a new process starts from the files: unchanged"
    );
}

/// EKS Pod Identity as the SDK's default chain reads it (a store with no `auth`): credentials from
/// `AWS_CONTAINER_CREDENTIALS_FULL_URI`, asked for with the token in
/// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (here a stand-in for the Pod Identity agent on loopback),
/// then Secrets Manager at `AWS_ENDPOINT_URL_SECRETS_MANAGER` (moto).
#[test]
fn aws_default_chain_takes_eks_pod_identity_credentials() {
    let fx = Fixture::new();
    let moto = Moto::start();
    moto.create_secret("team/db", VALUE);
    let agent_endpoint = PodIdentityAgent::start();
    let token_file = fx.dir.path().join("eks-pod-identity-token");
    std::fs::write(&token_file, "pod-identity-t0ken").unwrap();
    fx.write(
        "apps/aws-store.yaml",
        "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata:\n  name: aws\n  namespace: team-a\nspec:\n  provider:\n    aws:\n      service: SecretsManager\n      region: us-east-1\n",
    );
    fx.write(
        "apps/from-aws.yaml",
        external_secret("team-a", "from-aws", "aws").replace("      property: password\n", ""),
    );
    fx.commit("an AWS store on the default chain");
    fx.push();
    let sink = fx.dir.path().join("secrets");
    let unused = fx.dir.path().join("no-own-token");
    let (code, logs) = run_once(&fx, &format!("dir:{}", sink.display()), &unused, |cmd| {
        cmd.env(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("{}/v1/credentials", agent_endpoint.url),
        )
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &token_file)
        .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", &moto.url)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_ENDPOINT_URL");
    });
    let read = std::fs::read_to_string(sink.join("team-a/from-aws/password")).ok();
    assert_eq!((code, read.as_deref()), (0, Some(VALUE)), "{logs}");
    assert_eq!(
        agent_endpoint.authorizations(),
        ["pod-identity-t0ken"],
        "the credentials were asked for once, with the token file's content"
    );
    assert!(
        !logs.contains("pod-identity-t0ken"),
        "the token leaked into the logs:\n{logs}"
    );
}

/// A stand-in for the EKS Pod Identity agent: answers every request with temporary credentials
/// (moto accepts any) and records the `Authorization` header it was sent.
struct PodIdentityAgent {
    url: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl PodIdentityAgent {
    fn start() -> PodIdentityAgent {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("authorization:") {
                        record.lock().unwrap().push(v.trim().to_string());
                    }
                    line.clear();
                }
                let body = json!({"AccessKeyId": "ASIAPODIDENTITY", "SecretAccessKey": "pod-identity-secret", "Token": "pod-identity-session", "Expiration": "2099-01-01T00:00:00Z"}).to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        PodIdentityAgent { url, seen }
    }

    fn authorizations(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

#[cfg(feature = "kube")]
mod kube {
    use super::*;
    use crate::cluster::Cluster;

    fn kube_sink_run(
        fx: &Fixture,
        cluster: &Cluster,
        token_file: &Path,
        more: impl FnOnce(&mut Command),
    ) -> (i32, String) {
        run_once(fx, "kube", token_file, |cmd| {
            cmd.env("KUBECONFIG", cluster.kubeconfig())
                .env("POD_NAMESPACE", OWN_NS)
                .env("POD_NAME", "sealsync-0");
            more(cmd);
        })
    }

    #[test]
    fn vault_kubernetes_auth_with_the_own_token_and_a_service_account_ref() {
        let fx = Fixture::new();
        let cluster = Cluster::start_blocking();
        cluster.kubectl(&["create", "namespace", "team-a"]);
        cluster.kubectl(&["create", "serviceaccount", "reader", "-n", "team-a"]);
        let (token_file, token) = own_token_file(&cluster.server, fx.dir.path());
        let bao = start_bao(fx.dir.path());
        kubernetes_auth(&bao, &cluster.server.url(), fx.dir.path());
        vault_repo(&fx, &bao.addr);

        let (code, logs) = kube_sink_run(&fx, &cluster, &token_file, |_| {});
        assert_eq!(
            cluster.value_in("team-a", "own", "password").as_deref(),
            Some(VALUE),
            "{logs}"
        );
        assert_eq!(
            cluster.value_in("team-a", "via-ref", "password").as_deref(),
            Some(VALUE),
            "{logs}"
        );
        assert_eq!(
            cluster.value_in("team-a", "plain", "password").as_deref(),
            Some("pl4in-value"),
            "{logs}"
        );
        assert_eq!(code, 2, "the failing stores make the pass partial:\n{logs}");
        for name in ["denied", "ghost"] {
            assert_eq!(cluster.value_in("team-a", name, "password"), None, "{logs}");
        }
        let denied = lines_about(&logs, "denied").join("\n");
        assert!(
            denied.contains("SecretStore team-a/denied") && denied.contains("denied"),
            "OpenBao's refusal is reported on that ExternalSecret:\n{logs}"
        );
        let ghost = lines_about(&logs, "ghost").join("\n");
        assert!(
            ghost.contains("SecretStore team-a/ghost")
                && ghost.contains("ServiceAccount team-a/ghost")
                && ghost.contains("not found"),
            "the unknown ServiceAccount is named:\n{logs}"
        );
        let requests = cluster.server.requests();
        assert!(
            requests.iter().any(|r| r.method == "POST"
                && r.path == "/api/v1/namespaces/team-a/serviceaccounts/reader/token"
                && r.status == 201),
            "a TokenRequest for team-a/reader: {requests:?}"
        );
        assert!(
            !logs.contains(&token),
            "the token leaked into the logs:\n{logs}"
        );
    }

    #[test]
    fn aws_web_identity_through_a_service_account_ref() {
        let fx = Fixture::new();
        let cluster = Cluster::start_blocking();
        cluster.kubectl(&["create", "namespace", "team-a"]);
        cluster.kubectl(&["create", "serviceaccount", "aws-reader", "-n", "team-a"]);
        cluster.kubectl(&[
            "annotate",
            "serviceaccount",
            "aws-reader",
            "-n",
            "team-a",
            "eks.amazonaws.com/role-arn=arn:aws:iam::123456789012:role/team-a",
        ]);
        cluster.kubectl(&["create", "serviceaccount", "no-role", "-n", "team-a"]);
        let moto = Moto::start();
        moto.create_secret("team/db", VALUE);
        let aws_store = |name: &str, account: &str| {
            format!(
                "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata:\n  name: {name}\n  namespace: team-a\nspec:\n  provider:\n    aws:\n      service: SecretsManager\n      region: us-east-1\n      auth:\n        jwt:\n          serviceAccountRef:\n            name: {account}\n"
            )
        };
        let es = |name: &str| {
            format!(
                "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: {name}\n  namespace: team-a\nspec:\n  secretStoreRef:\n    name: {name}\n  data:\n  - secretKey: password\n    remoteRef:\n      key: team/db\n"
            )
        };
        for (name, account) in [("irsa", "aws-reader"), ("no-role", "no-role")] {
            fx.write(&format!("apps/{name}-store.yaml"), aws_store(name, account));
            fx.write(&format!("apps/{name}.yaml"), es(name));
        }
        fx.commit("AWS stores logging in as service accounts");
        fx.push();
        let unused = fx.dir.path().join("no-own-token");

        let (code, logs) = kube_sink_run(&fx, &cluster, &unused, |cmd| {
            cmd.env("AWS_ENDPOINT_URL", &moto.url)
                .env("AWS_EC2_METADATA_DISABLED", "true");
        });
        assert_eq!(
            cluster.value_in("team-a", "irsa", "password").as_deref(),
            Some(VALUE),
            "{logs}"
        );
        assert_eq!(code, 2, "{logs}");
        let no_role = lines_about(&logs, "no-role").join("\n");
        assert!(
            no_role.contains("SecretStore team-a/no-role")
                && no_role.contains("eks.amazonaws.com/role-arn"),
            "the missing role annotation is named:\n{logs}"
        );
        let requests = cluster.server.requests();
        assert!(
            requests.iter().any(|r| r.path
                == "/api/v1/namespaces/team-a/serviceaccounts/aws-reader/token"
                && r.status == 201),
            "a TokenRequest for team-a/aws-reader: {requests:?}"
        );
        let assumed = moto.assumed_roles();
        assert_eq!(
            assumed,
            [(
                "arn:aws:iam::123456789012:role/team-a".to_string(),
                "sealsync".to_string()
            )],
            "moto's STS saw one AssumeRoleWithWebIdentity of the annotated role"
        );
    }
}

/// moto (Secrets Manager and STS) on a free loopback port, killed when dropped.
struct Moto {
    url: String,
    child: std::process::Child,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    fn start() -> Moto {
        let bin = crate::support::root().join(".venv-moto/bin/moto_server");
        assert!(
            bin.exists(),
            "{} missing: run scripts/install-test-deps.sh",
            bin.display()
        );
        let port = crate::git_servers::free_port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start moto");
        let moto = Moto {
            url: format!("http://127.0.0.1:{port}"),
            child,
        };
        crate::support::poll_until("moto to answer", || {
            Command::new("curl")
                .args(["-sf", &format!("{}/moto-api/", moto.url)])
                .output()
                .is_ok_and(|o| o.status.success())
        });
        moto
    }

    /// CreateSecret, SigV4-signed for `secretsmanager` (moto routes by the signature's service).
    fn create_secret(&self, name: &str, value: &str) {
        let body = json!({"Name": name, "SecretString": value}).to_string();
        let out = Command::new("curl")
            .args([
                "-sf",
                "--aws-sigv4",
                "aws:amz:us-east-1:secretsmanager",
                "--user",
                "testing:testing",
            ])
            .args([
                "-H",
                "X-Amz-Target: secretsmanager.CreateSecret",
                "-H",
                "Content-Type: application/x-amz-json-1.1",
            ])
            .args(["-d", &body, &self.url])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "CreateSecret: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The (role, session name) of each role moto's STS let assume, from its state dump.
    #[cfg(feature = "kube")]
    fn assumed_roles(&self) -> Vec<(String, String)> {
        let out = Command::new("curl")
            .args(["-sf", &format!("{}/moto-api/data.json", self.url)])
            .output()
            .unwrap();
        let data: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let roles = data["sts"]["AssumedRole"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        roles
            .iter()
            .map(|r| {
                let text = |k: &str| r[k].as_str().unwrap_or_default().to_string();
                (text("role_arn"), text("session_name"))
            })
            .collect()
    }
}
