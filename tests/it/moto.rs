//! A real moto server (AWS Secrets Manager) on a free loopback port, seeded through boto3.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::git_servers::free_port;
use crate::support::root;

pub(crate) struct Moto {
    pub(crate) url: String,
    log: std::path::PathBuf,
    child: Child,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    pub(crate) fn start(dir: &Path) -> Moto {
        let bin = root().join(".venv-moto/bin/moto_server");
        assert!(
            bin.exists(),
            "{} missing: run scripts/install-test-deps.sh",
            bin.display()
        );
        let port = free_port();
        let log = dir.join("moto.log");
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start moto");
        let moto = Moto {
            url: format!("http://127.0.0.1:{port}"),
            log,
            child,
        };
        crate::support::poll_until("moto answers", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        moto
    }

    /// Runs boto3 `script` (Python, with `sm` a Secrets Manager client) and returns what it prints.
    pub(crate) fn boto(&self, script: &str) -> String {
        let out = Command::new(root().join(".venv-moto/bin/python"))
            .arg("-c")
            .arg(format!(
                "import boto3, json\nsm = boto3.client('secretsmanager', region_name='us-east-1', endpoint_url='{}', aws_access_key_id='k', aws_secret_access_key='s')\n{script}",
                self.url
            ))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Secrets Manager calls the server answered so far (each is a `POST /`).
    pub(crate) fn calls(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .matches("\"POST / HTTP")
            .count()
    }
}
