//! The scaffolding of the git source tests: a source over a fixture repository and a look into its snapshots.

use crate::git_servers::Fixture;
use sealsync_agent::git::{FileContent, GitSource, GitSourceConfig, Snapshot};

pub fn config(fx: &Fixture, url: String) -> GitSourceConfig {
    GitSourceConfig::new(url, fx.dir.path().join("cache"))
}

pub fn source(cfg: GitSourceConfig) -> GitSource {
    GitSource::new(cfg).expect("valid config")
}

pub fn paths(s: &Snapshot) -> Vec<&str> {
    s.files.iter().map(|f| f.path.as_str()).collect()
}

pub fn data<'a>(s: &'a Snapshot, path: &str) -> &'a [u8] {
    match &s
        .file(path)
        .unwrap_or_else(|| panic!("{path} missing"))
        .content
    {
        FileContent::Data(d) => d,
        other => panic!("{path}: expected data, got {other:?}"),
    }
}

/// A repository with folders, a symlink and a submodule entry.
pub fn sample_repo() -> Fixture {
    let fx = Fixture::new();
    fx.write(
        "apps/web/secret.yaml",
        "kind: Secret\nmetadata: {name: web}\n",
    );
    fx.write("apps/api/secret.json", r#"{"kind":"Secret"}"#);
    fx.write("apps/api/notes.txt", "not yaml, still returned\n");
    fx.write("base/common.yml", "kind: ConfigMap\n");
    fx.write("README.md", "# sample\n");
    fx.symlink("../../README.md", "apps/web/link.yaml");
    fx.commit("initial");
    // A submodule entry pointing at some commit (any id will do: it is never fetched).
    let head = fx.head();
    fx.gitlink("apps/vendored", &head);
    fx.commit("add submodule");
    fx
}
