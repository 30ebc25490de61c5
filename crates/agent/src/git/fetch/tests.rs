//! The cache-deletion policy: a cache is rebuilt on proven damage only, never because the process ran
//! out of file descriptors, memory or disk.

use std::io;

use super::*;
use crate::git::config::GitSourceConfig;

fn settings(cache: &Path) -> Settings {
    Settings::from_config(GitSourceConfig::new(
        "https://git.example.invalid/repo.git",
        cache,
    ))
    .unwrap()
}

fn os_error(code: i32) -> gix::open::Error {
    gix::open::Error::Io(io::Error::from_raw_os_error(code))
}

#[test]
fn resource_exhaustion_is_not_corruption() {
    for code in [
        libc::EMFILE,
        libc::ENFILE,
        libc::ENOMEM,
        libc::ENOSPC,
        libc::EDQUOT,
        libc::EACCES,
        libc::EINTR,
        libc::EIO,
    ] {
        assert!(!proves_corruption(&os_error(code)), "os error {code}");
        // Wrapped where the typed chain loses it: only the text says "(os error N)".
        let hidden = io::Error::other(format!(
            "loading config: {}",
            io::Error::from_raw_os_error(code)
        ));
        assert!(!proves_corruption(&hidden), "hidden os error {code}");
    }
    assert!(!proves_corruption(&io::Error::from(
        io::ErrorKind::OutOfMemory
    )));
}

#[test]
fn damage_is_corruption() {
    assert!(proves_corruption(&os_error(libc::ENOENT)));
    assert!(proves_corruption(&gix::open::Error::NotARepository {
        source: gix::discover::is_git::Error::MissingHead,
        path: "/cache/repo.git".into(),
    }));
    assert!(proves_corruption(&gix::open::Error::Io(io::Error::new(
        io::ErrorKind::InvalidData,
        "bad config"
    ))));
}

#[test]
fn a_cache_that_fails_with_emfile_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(dir.path());
    drop(open_cache(&settings).unwrap());
    std::fs::write(settings.repo_dir.join("marker"), "kept").unwrap();

    for code in [libc::EMFILE, libc::ENFILE, libc::ENOMEM, libc::ENOSPC] {
        let error = open_cache_with(&settings, |_, _| Err(Box::new(os_error(code)))).unwrap_err();
        assert!(matches!(error, GitError::Io { .. }), "{error}");
        assert!(error.to_string().contains("kept"), "{error}");
        assert!(
            settings.repo_dir.join("marker").exists(),
            "os error {code} deleted the cache"
        );
    }

    // Proven damage still rebuilds it.
    open_cache_with(&settings, |_, _| {
        Err(Box::new(gix::open::Error::NotARepository {
            source: gix::discover::is_git::Error::MissingHead,
            path: settings.repo_dir.clone(),
        }))
    })
    .unwrap();
    assert!(!settings.repo_dir.join("marker").exists());
    assert!(settings.repo_dir.join("HEAD").exists());
}

#[test]
fn a_really_damaged_cache_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(dir.path());
    drop(open_cache(&settings).unwrap());
    // No objects directory: gix refuses it as not a repository.
    std::fs::remove_dir_all(settings.repo_dir.join("objects")).unwrap();
    let error = gix::ThreadSafeRepository::open_opts(&settings.repo_dir, open_options(&settings))
        .unwrap_err();
    assert!(proves_corruption(&error), "{error}");
    open_cache(&settings).unwrap();
    assert!(settings.repo_dir.join("objects").is_dir());
}

/// Set in the child process that [`real_emfile_keeps_the_cache`] starts.
const CHILD_CACHE: &str = "SEALSYNC_TEST_EMFILE_CACHE";

/// Runs [`emfile_child`] in a child process: lowering RLIMIT_NOFILE and filling the table would starve
/// every other test of this process.
#[test]
fn real_emfile_keeps_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    drop(open_cache(&settings(dir.path())).unwrap());
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "git::fetch::tests::emfile_child",
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_CACHE, dir.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("1 passed"),
        "the child test did not run: {text}"
    );
}

#[test]
#[ignore = "run in a child process by real_emfile_keeps_the_cache"]
fn emfile_child() {
    let Some(cache) = std::env::var_os(CHILD_CACHE) else {
        return;
    };
    let settings = settings(Path::new(&cache));
    let limit = libc::rlimit {
        rlim_cur: 256,
        rlim_max: 256,
    };
    // SAFETY: plain system calls on this process's own limit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    let mut filler = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => filler.push(f),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                break;
            }
        }
    }
    let real = gix::ThreadSafeRepository::open_opts(&settings.repo_dir, open_options(&settings));
    let real = real.err();
    let result = open_cache(&settings);
    // Give the file descriptors back before asserting, so the harness can report.
    drop(filler);
    let real = real.expect("opening with no file descriptor left fails");
    assert!(!proves_corruption(&real), "EMFILE taken for damage: {real}");
    let error = result.expect_err("opening with no file descriptor left fails");
    assert!(matches!(error, GitError::Io { .. }), "{error}");
    assert!(
        settings.repo_dir.join("HEAD").exists(),
        "the cache was deleted"
    );
    open_cache(&settings).unwrap();
}
