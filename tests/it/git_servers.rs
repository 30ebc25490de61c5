//! Test repositories built with the real `git` CLI, and real git servers on 127.0.0.1: `git daemon`,
//! lighttpd + `git http-backend` (with and without basic auth) and OpenSSH's `sshd`.
//!
//! Every server is started by the test that needs it, waited for until it answers, and killed by PID in `Drop`.
//! A missing server program is a test failure, never a silent skip.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

use crate::support::poll_until;

/// Runs `git` with a fixed identity and no user or system configuration; panics with its stderr on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .unwrap_or_else(|e| panic!("cannot run git {args:?}: {e}"));
    assert!(
        out.status.success(),
        "git {args:?} failed in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

/// A working repository whose commits are pushed to a bare repository `ROOT/repo.git`, the one servers serve.
pub struct Fixture {
    pub dir: TempDir,
    pub work: PathBuf,
    /// The folder servers export (`--base-path`, `GIT_PROJECT_ROOT`).
    pub root: PathBuf,
    pub bare: PathBuf,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let work = dir.path().join("work");
        let root = dir.path().join("root");
        let bare = root.join("repo.git");
        std::fs::create_dir_all(&work).unwrap();
        std::fs::create_dir_all(&root).unwrap();
        git(
            dir.path(),
            &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
        );
        // Served over HTTP and git:// without further setup.
        git(&bare, &["config", "http.receivepack", "false"]);
        git(&work, &["init", "-q", "-b", "main"]);
        git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
        Fixture {
            dir,
            work,
            root,
            bare,
        }
    }

    pub fn write(&self, path: &str, content: impl AsRef<[u8]>) {
        let p = self.work.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    pub fn remove(&self, path: &str) {
        git(&self.work, &["rm", "-q", "-r", path]);
    }

    pub fn symlink(&self, target: &str, path: &str) {
        let p = self.work.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, p).unwrap();
    }

    /// Records a submodule entry (a gitlink) at `path`, as `git submodule add` would.
    pub fn gitlink(&self, path: &str, commit: &str) {
        git(
            &self.work,
            &[
                "update-index",
                "--add",
                "--cacheinfo",
                &format!("160000,{commit},{path}"),
            ],
        );
    }

    /// Commits everything and pushes all branches and tags; returns the new commit id.
    pub fn commit(&self, message: &str) -> String {
        git(&self.work, &["add", "-A"]);
        git(
            &self.work,
            &["commit", "-q", "--allow-empty", "-m", message],
        );
        self.push();
        self.head()
    }

    pub fn push(&self) {
        git(&self.work, &["push", "-q", "--force", "origin", "--all"]);
        git(&self.work, &["push", "-q", "--force", "origin", "--tags"]);
    }

    pub fn head(&self) -> String {
        git(&self.work, &["rev-parse", "HEAD"])
    }

    pub fn blob_id(&self, rev: &str, path: &str) -> String {
        git(&self.work, &["rev-parse", &format!("{rev}:{path}")])
    }

    pub fn file_url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    /// A fresh, empty folder inside the fixture (for caches, keys, configs).
    pub fn scratch(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn ls_remote_answers(url: &str, ca_file: Option<&Path>) -> bool {
    let mut cmd = Command::new("git");
    if let Some(ca) = ca_file {
        cmd.env("GIT_SSL_CAINFO", ca);
    }
    cmd.args(["ls-remote", url])
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_SSH_COMMAND", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A child process killed (by PID) and reaped when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
    name: &'static str,
}

impl Server {
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn spawn(name: &'static str, mut cmd: Command, port: u16) -> Server {
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} (is it installed? see .ci/run): {e}"));
        Server { child, port, name }
    }

    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited early with {status}", self.name);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `git daemon` exporting the fixture's root on a loopback port.
pub fn git_daemon(fx: &Fixture) -> Server {
    let port = free_port();
    // The `git-daemon` program itself: `git daemon` would run it as a child that outlives a kill of `git`.
    let exec_path = git(fx.dir.path(), &["--exec-path"]);
    let mut cmd = Command::new(Path::new(&exec_path).join("git-daemon"));
    cmd.args([
        &format!("--base-path={}", fx.root.display()),
        "--export-all",
        "--reuseaddr",
        "--listen=127.0.0.1",
        &format!("--port={port}"),
        fx.root.to_str().unwrap(),
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let mut server = Server::spawn("git daemon", cmd, port);
    let url = format!("git://127.0.0.1:{port}/repo.git");
    poll_until("git daemon to be ready", || {
        server.assert_running();
        ls_remote_answers(&url, None)
    });
    server
}

/// A test certificate authority and a server certificate it signed for `127.0.0.1`, made with `openssl`.
pub struct TestCa {
    /// The CA certificate (PEM): what a client must trust.
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

impl TestCa {
    /// The files `test_ca` made in `dir`.
    pub fn in_dir(dir: &Path) -> TestCa {
        TestCa {
            ca_cert: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
        }
    }
}

pub fn test_ca(dir: &Path) -> TestCa {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl must be installed");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=sealsync test CA",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    TestCa::in_dir(dir)
}

/// lighttpd running `git http-backend`: `/git/` is public, `/private/` requires basic auth as `user`/`password`.
/// With `tls`, it serves HTTPS with a certificate from `tls` (clients must trust its CA).
pub fn lighttpd(fx: &Fixture, user: &str, password: &str, tls: Option<&TestCa>) -> Server {
    let (server, url) = start_lighttpd(fx, user, password, tls);
    let mut server = server;
    poll_until("lighttpd to be ready", || {
        server.assert_running();
        ls_remote_answers(&url, tls.map(|ca| ca.ca_cert.as_path()))
    });
    server
}

/// Like [`lighttpd`] with TLS, but only waits for the port to accept connections (for certificate tests).
pub fn lighttpd_unchecked(fx: &Fixture, user: &str, password: &str, tls: &TestCa) -> Server {
    let (mut server, _) = start_lighttpd(fx, user, password, Some(tls));
    let port = server.port;
    poll_until("lighttpd to be ready", || {
        server.assert_running();
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    server
}

fn start_lighttpd(
    fx: &Fixture,
    user: &str,
    password: &str,
    tls: Option<&TestCa>,
) -> (Server, String) {
    let port = free_port();
    let conf_dir = fx.scratch(&format!("lighttpd-{port}"));
    let exec_path = git(fx.dir.path(), &["--exec-path"]);
    let backend = format!("{exec_path}/git-http-backend/");
    std::fs::write(conf_dir.join("users"), format!("{user}:{password}\n")).unwrap();
    let docs = conf_dir.join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    let tls_conf = match tls {
        Some(ca) => format!(
            "server.modules += (\"mod_openssl\")\nssl.engine = \"enable\"\nssl.pemfile = \"{}\"\nssl.privkey = \"{}\"\n",
            ca.server_cert.display(),
            ca.server_key.display()
        ),
        None => String::new(),
    };
    let conf = format!(
        r#"server.modules = ("mod_alias", "mod_cgi", "mod_setenv", "mod_auth", "mod_authn_file")
server.document-root = "{docs}"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{dir}/error.log"
server.pid-file = "{dir}/lighttpd.pid"
alias.url = ("/git/" => "{backend}", "/private/" => "{backend}")
cgi.assign = ("" => "")
setenv.add-environment = ("GIT_PROJECT_ROOT" => "{root}", "GIT_HTTP_EXPORT_ALL" => "1")
auth.backend = "plain"
auth.backend.plain.userfile = "{dir}/users"
auth.require = ("/private/" => ("method" => "basic", "realm" => "git", "require" => "valid-user"))
{tls_conf}"#,
        docs = docs.display(),
        dir = conf_dir.display(),
        root = fx.root.display(),
    );
    let conf_path = conf_dir.join("lighttpd.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let mut cmd = Command::new("lighttpd");
    cmd.args(["-D", "-f", conf_path.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let server = Server::spawn("lighttpd", cmd, port);
    let scheme = if tls.is_some() { "https" } else { "http" };
    (server, format!("{scheme}://127.0.0.1:{port}/git/repo.git"))
}

/// An OpenSSH server on a loopback port accepting only `client_key` for the current user.
pub struct Sshd {
    pub server: Server,
    pub user: String,
    /// The client's private key file.
    pub client_key: PathBuf,
    /// The server's private host key (its `.pub` beside it).
    pub host_key: PathBuf,
}

pub fn sshd(fx: &Fixture) -> Sshd {
    let dir = fx.scratch("sshd");
    let user = whoami().expect("`id -un` names the current user");
    let host_key = dir.join("host_ed25519");
    let client_key = dir.join("client_ed25519");
    for key in [&host_key, &client_key] {
        let st = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f", key.to_str().unwrap()])
            .status()
            .expect("ssh-keygen (openssh-client) must be installed");
        assert!(st.success());
    }
    std::fs::copy(dir.join("client_ed25519.pub"), dir.join("authorized_keys")).unwrap();
    let port = free_port();
    let config = format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nAuthorizedKeysFile {dir}/authorized_keys\n\
         PidFile {dir}/sshd.pid\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
         KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\n\
         AcceptEnv GIT_PROTOCOL\nLogLevel ERROR\n",
        hk = host_key.display(),
        dir = dir.display(),
    );
    let config_path = dir.join("sshd_config");
    std::fs::write(&config_path, config).unwrap();
    // Run as root, sshd wants its privilege-separation directory.
    if is_root() {
        std::fs::create_dir_all("/run/sshd").ok();
    }
    let sshd_bin = ["/usr/sbin/sshd", "/usr/bin/sshd"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("sshd (Debian openssh-server) must be installed: see .ci/run");
    let mut cmd = Command::new(sshd_bin);
    cmd.args(["-D", "-e", "-f", config_path.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut server = Server::spawn("sshd", cmd, port);
    let probe = |server: &mut Server| {
        server.assert_running();
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    };
    poll_until("sshd to be ready", || probe(&mut server));
    Sshd {
        server,
        user,
        client_key,
        host_key,
    }
}

fn whoami() -> Option<String> {
    let out = Command::new("id").arg("-un").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
