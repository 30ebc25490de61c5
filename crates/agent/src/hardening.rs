//! Process hardening for the binaries that hold private keys and plaintext: no core dumps, no ptrace
//! attach, and secrets taken out of the environment before any child process can inherit them.

use secrecy::SecretString;

/// What could not be hardened (the process still runs; the caller logs this once).
#[derive(Debug, thiserror::Error)]
#[error("process hardening incomplete: {}", .failures.join("; "))]
pub struct HardeningError {
    pub failures: Vec<String>,
}

/// Disables core dumps (`RLIMIT_CORE` soft and hard limits 0, inherited by every child) and, on Linux,
/// marks the process non-dumpable (`PR_SET_DUMPABLE` 0): no core file even if the limit were raised
/// again, no `ptrace` attach by other processes of the same user, and `/proc/<pid>/mem` and `environ`
/// readable by root only. Call it first thing in `main`, before any secret is read.
pub fn harden() -> Result<(), HardeningError> {
    let mut failures = Vec::new();
    #[cfg(unix)]
    {
        let zero = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: setrlimit reads the struct we pass and nothing else.
        if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) } != 0 {
            failures.push(format!(
                "setrlimit(RLIMIT_CORE, 0): {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_SET_DUMPABLE takes one integer argument; the rest are ignored.
        if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
            failures.push(format!(
                "prctl(PR_SET_DUMPABLE, 0): {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(HardeningError { failures })
    }
}

/// Takes a secret out of the environment: returns its value (empty counts as unset) and removes the
/// variable, so no child process (`git`, `ssh`, an editor) inherits it. The bytes of the value in the
/// process's own environment block are overwritten with zeros first, so `/proc/<pid>/environ` (which
/// shows the block the process started with) no longer holds it either.
///
/// Must run while the process has a single thread: changing the environment races with any other
/// thread reading it.
pub fn take_env_secret(name: &str) -> Option<SecretString> {
    let value = std::env::var(name).ok();
    wipe_env_value(name);
    std::env::remove_var(name);
    value.filter(|v| !v.is_empty()).map(SecretString::from)
}

#[cfg(unix)]
fn wipe_env_value(name: &str) {
    let Ok(cname) = std::ffi::CString::new(name) else {
        return;
    };
    // SAFETY: single-threaded by this module's contract, so the environment does not change under
    // us. getenv returns a pointer into the writable `NAME=value` string of the environment block (on
    // the initial stack, or on the heap for a variable set since), NUL-terminated; we overwrite the
    // value's bytes in place, never past its terminator.
    unsafe {
        let value = libc::getenv(cname.as_ptr());
        if !value.is_null() {
            let len = libc::strlen(value);
            std::ptr::write_bytes(value, 0, len);
        }
    }
}

#[cfg(not(unix))]
fn wipe_env_value(_name: &str) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn core_dumps_and_ptrace_are_disabled() {
        harden().expect("hardening succeeds");
        // SAFETY: plain queries of this process's own state.
        let dumpable = unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) };
        assert_eq!(dumpable, 0, "non-dumpable");
        let mut limit = libc::rlimit {
            rlim_cur: 1,
            rlim_max: 1,
        };
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut limit) }, 0);
        assert_eq!((limit.rlim_cur, limit.rlim_max), (0, 0));
    }
}
