//! `sealctl edit`'s plaintext scratch directory: private (0700), and wiped - every file overwritten with
//! zeros, then removed, then the directory - however the edit ends: a normal exit, an error, or
//! SIGINT, SIGTERM or SIGHUP.
//!
//! The signals are taken by a thread waiting in sigwait(2) (blocked everywhere else), so the cleanup
//! runs as ordinary code, not in a signal handler. While the editor runs, SIGINT (Ctrl-C at the
//! terminal, which the editor gets too) is left to the editor, as git does: if the editor dies of it,
//! the edit ends with an error and the directory is wiped. SIGTERM and SIGHUP are passed on to the
//! editor, whose end is awaited (vim writes its swap file into the directory as it dies), then the
//! directory is wiped and the signal raised again, so the caller sees sealctl die of it.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

/// A private temporary directory for plaintext, wiped when dropped (and on a terminating signal).
pub struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    /// Creates `<TMPDIR>/<prefix>XXXXXX` with mode 0700 and starts guarding it against signals.
    pub fn create(prefix: &str) -> io::Result<Scratch> {
        signals::guard(|| {
            let mut builder = tempfile::Builder::new();
            builder.prefix(prefix);
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                builder.permissions(std::fs::Permissions::from_mode(0o700));
            }
            // Kept by path, not as a TempDir: the wipe below replaces TempDir's plain removal.
            Ok(builder.tempdir()?.keep())
        })
        .map(|dir| Scratch { dir })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Runs the editor and waits for it; meanwhile SIGINT is left to the editor (see the module docs).
    pub fn run_editor(&self, command: &mut Command) -> io::Result<ExitStatus> {
        signals::run_child(command)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        signals::release(&self.dir);
    }
}

/// Overwrites every regular file in `dir` with zeros and removes it, then removes `dir` (with anything
/// else left in it). Errors are ignored: this runs on the way out, and does what it can.
fn wipe(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                zero_fill(&path);
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

fn zero_fill(path: &Path) {
    let Ok(mut file) = std::fs::OpenOptions::new().write(true).open(path) else {
        return;
    };
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return;
    };
    let zeros = [0u8; 8192];
    let mut left = len;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        if file.write_all(&zeros[..n]).is_err() {
            return;
        }
        left -= n as u64;
    }
    let _ = file.sync_all();
}

#[cfg(unix)]
mod signals {
    use std::io;
    use std::path::{Path, PathBuf};
    use std::process::{Command, ExitStatus};
    use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
    use std::time::Duration;

    use super::wipe;

    /// How long a signalled editor gets to exit before it is killed.
    const EDITOR_GRACE: Duration = Duration::from_secs(10);

    /// What the signal thread must clean up; one lock orders it against the main thread.
    struct State {
        dir: Option<PathBuf>,
        editor: Option<libc::pid_t>,
        /// A terminating signal arrived: whoever wipes the directory last then dies of it.
        dying: Option<libc::c_int>,
    }

    static STATE: Mutex<State> = Mutex::new(State {
        dir: None,
        editor: None,
        dying: None,
    });
    /// Signalled when the editor has exited.
    static EDITOR_DONE: Condvar = Condvar::new();
    static STARTED: OnceLock<Result<(), String>> = OnceLock::new();

    fn state() -> MutexGuard<'static, State> {
        STATE.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The signals handled: SIGINT, SIGTERM and SIGHUP, except those already ignored (as under
    /// `nohup`), which stay ignored.
    fn handled() -> libc::sigset_t {
        // SAFETY: sigset_t is plain data initialised by sigemptyset; sigaction with a null new action
        // only reads the current disposition.
        unsafe {
            let mut set = std::mem::zeroed::<libc::sigset_t>();
            libc::sigemptyset(&mut set);
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                let mut old = std::mem::zeroed::<libc::sigaction>();
                let ignored = libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                    && old.sa_sigaction == libc::SIG_IGN;
                if !ignored {
                    libc::sigaddset(&mut set, sig);
                }
            }
            set
        }
    }

    /// Blocks the signals in this thread (and so in every thread it starts later) and starts the
    /// thread that takes them, once per process.
    fn start() -> io::Result<()> {
        STARTED
            .get_or_init(|| {
                let set = handled();
                // SAFETY: a valid, initialised set; the old mask is not needed.
                let rc =
                    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
                if rc != 0 {
                    return Err(format!(
                        "pthread_sigmask: {}",
                        io::Error::from_raw_os_error(rc)
                    ));
                }
                std::thread::Builder::new()
                    .name("sealctl-signals".into())
                    .spawn(move || watch(set))
                    .map(drop)
                    .map_err(|e| format!("cannot start the signal thread: {e}"))
            })
            .clone()
            .map_err(io::Error::other)
    }

    /// Starts guarding (if not yet), then runs `create` and records the directory it returns, under
    /// the lock, so that no signal finds the directory made but not yet recorded.
    pub(super) fn guard(create: impl FnOnce() -> io::Result<PathBuf>) -> io::Result<PathBuf> {
        start()?;
        let mut st = state();
        let dir = create()?;
        st.dir = Some(dir.clone());
        Ok(dir)
    }

    /// Wipes `dir` and stops guarding it; if a terminating signal arrived meanwhile, dies of it.
    pub(super) fn release(dir: &Path) {
        let mut st = state();
        wipe(dir);
        st.dir = None;
        if let Some(sig) = st.dying {
            die(sig);
        }
    }

    pub(super) fn run_child(command: &mut Command) -> io::Result<ExitStatus> {
        let mut child = {
            let mut st = state();
            let child = command.spawn()?;
            st.editor = libc::pid_t::try_from(child.id()).ok();
            child
        };
        let status = child.wait();
        state().editor = None;
        EDITOR_DONE.notify_all();
        status
    }

    fn watch(set: libc::sigset_t) {
        loop {
            let mut sig: libc::c_int = 0;
            // SAFETY: `set` is initialised and blocked in every thread of the process.
            if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                continue;
            }
            let mut st = state();
            if sig == libc::SIGINT && st.editor.is_some() {
                continue;
            }
            st.dying = Some(sig);
            if let Some(pid) = st.editor {
                // SAFETY: kill(2) on the editor's pid, which is not reaped while `editor` is set.
                unsafe { libc::kill(pid, sig) };
                let (guard, waited) = EDITOR_DONE
                    .wait_timeout_while(st, EDITOR_GRACE, |s| s.editor.is_some())
                    .unwrap_or_else(|e| e.into_inner());
                st = guard;
                if waited.timed_out() {
                    // SAFETY: as above.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    st = EDITOR_DONE
                        .wait_while(st, |s| s.editor.is_some())
                        .unwrap_or_else(|e| e.into_inner());
                }
            }
            if let Some(dir) = st.dir.take() {
                wipe(&dir);
            }
            // The lock stays held: the main thread cannot go on (and, say, exit 1) while this dies.
            die(sig);
        }
    }

    /// Dies of `sig` as if it had never been caught (so a shell sees "killed by SIGTERM"); exits with
    /// 128 + `sig` should that not end the process.
    fn die(sig: libc::c_int) -> ! {
        // SAFETY: resetting a disposition and unblocking one signal in this thread; raise(3) then
        // delivers it to this thread, whose default action ends the process.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            let mut set = std::mem::zeroed::<libc::sigset_t>();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::raise(sig);
        }
        std::process::exit(128 + sig)
    }
}

#[cfg(not(unix))]
mod signals {
    use std::io;
    use std::path::{Path, PathBuf};
    use std::process::{Command, ExitStatus};

    pub(super) fn guard(create: impl FnOnce() -> io::Result<PathBuf>) -> io::Result<PathBuf> {
        create()
    }

    pub(super) fn release(dir: &Path) {
        super::wipe(dir);
    }

    pub(super) fn run_child(command: &mut Command) -> io::Result<ExitStatus> {
        command.status()
    }
}
