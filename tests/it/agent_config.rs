//! `sealsync check-config` explains each setting by the flag a person can actually type, and never
//! shows a token embedded in the repository URL.

use crate::support::{key, stdout};

#[test]
fn check_config_names_real_flags_and_hides_url_tokens() {
    let out = crate::agent_dir::agent()
        .args([
            "check-config",
            "--repo",
            "https://bot:ghp_S3CRETTOKEN@git.example/x.git",
        ])
        .args(["--path", "apps", "--sink", "dir:/nonexistent-sink"])
        .arg("--identity")
        .arg(key("one.agekey"))
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("S3CRETTOKEN"), "{text}");
    assert!(
        text.contains("[flag --path]") && text.contains("[flag --identity]"),
        "{text}"
    );
    assert!(
        !text.contains("--paths") && !text.contains("--identities"),
        "{text}"
    );
}

#[test]
fn restart_debounce_comes_from_flag_environment_or_default_and_is_bounded() {
    let check = |args: &[&str], env: &[(&str, &str)]| {
        let out = crate::agent_dir::agent()
            .args(["check-config", "--repo", "/nonexistent", "--sink", "dir:/x"])
            .args(args)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let text = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    };
    let (ok, text) = check(&[], &[]);
    assert!(
        ok && text.contains("restart_debounce") && text.contains("10s"),
        "{text}"
    );
    let (ok, text) = check(&[], &[("SEALSYNC_RESTART_DEBOUNCE", "200ms")]);
    assert!(ok && text.contains("200ms"), "{text}");
    let (ok, text) = check(&["--restart-debounce", "2h"], &[]);
    assert!(
        !ok && text.contains("--restart-debounce") && text.contains("at most 1h"),
        "{text}"
    );
    let (ok, text) = check(&["--restart-debounce", "soon"], &[]);
    assert!(!ok && text.contains("--restart-debounce"), "{text}");
}
