//! `sealctl exec-env` and `sealctl exec-file`, as sops has them: a command gets the decrypted values
//! in its environment, or reads the decrypted file from a named pipe that holds it only in the
//! kernel's pipe buffer. The plaintext never touches a disk.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, ExitStatus};

use zeroize::Zeroizing;

use crate::sops::file::{self, Decrypted};
use crate::sops::stores::flatten::scalar_text;
use crate::sops::tree::Value;

use super::super::args::ExecArgs;
use super::super::context::{format_for, Context};
use super::super::exit::{CliError, Exit};

pub fn run_env(ctx: &mut Context, args: &ExecArgs) -> Result<(), CliError> {
    let decrypted = decrypt(ctx, args)?;
    let mut vars: Vec<(String, Zeroizing<String>)> = Vec::new();
    if let Some(doc) = decrypted.docs().first() {
        for (key, value) in doc.entries() {
            // Scalars only, as sops: a map or list has no single text.
            if matches!(value, Value::Map(_) | Value::Seq(_)) {
                continue;
            }
            if let Some(text) = scalar_text(value) {
                vars.push((key.to_string(), Zeroizing::new(text)));
            }
        }
    }
    drop(decrypted);
    let child = shell(&args.command)
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .spawn()
        .map_err(|e| spawn_error(&args.command, &e))?;
    drop(vars);
    let status = wait(child)?;
    exit_like(status)
}

pub fn run_file(ctx: &mut Context, args: &ExecArgs) -> Result<(), CliError> {
    let format = match &args.output_type {
        Some(t) => format_for(&args.file, Some(t))?,
        None => format_for(&args.file, args.input_type.as_deref())?,
    };
    let decrypted = decrypt(ctx, args)?;
    let plain = Zeroizing::new(
        decrypted
            .emit_plain(format)
            .map_err(|e| CliError::file(&args.file.display().to_string(), e))?,
    );
    drop(decrypted);
    let dir = tempfile::Builder::new()
        .prefix("sealctl-exec-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
        .map_err(|e| {
            CliError::new(
                Exit::Output,
                format!("cannot create a private directory: {e}"),
            )
        })?;
    let name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "secret".into());
    let fifo = dir.path().join(name);
    make_fifo(&fifo)?;
    let command = args
        .command
        .replace("{}", &shell_quote(&fifo.to_string_lossy()));
    let mut child = shell(&command)
        .spawn()
        .map_err(|e| spawn_error(&args.command, &e))?;
    let fed = feed(&fifo, &plain, &mut child);
    let status = wait(child)?;
    fed?;
    // The pipe and its directory go before sealctl exits with the command's code.
    drop(dir);
    exit_like(status)
}

fn decrypt(ctx: &mut Context, args: &ExecArgs) -> Result<Decrypted, CliError> {
    let shown = args.file.display().to_string();
    let format = format_for(&args.file, args.input_type.as_deref())?;
    super::require_file(&shown)?;
    let input = ctx.read_encrypted(&shown)?;
    let identities = ctx.identities()?;
    file::decrypt(&input, format, identities).map_err(|e| CliError::file(&shown, e))
}

fn shell(command: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(command);
    cmd
}

fn spawn_error(command: &str, e: &std::io::Error) -> CliError {
    CliError::new(Exit::Failure, format!("cannot run '{command}': {e}"))
}

fn wait(mut child: Child) -> Result<ExitStatus, CliError> {
    child
        .wait()
        .map_err(|e| CliError::new(Exit::Failure, format!("waiting for the command: {e}")))
}

/// Ends as the command did (128 + N for a signal, as a shell reports it).
fn exit_like(status: ExitStatus) -> Result<(), CliError> {
    use std::os::unix::process::ExitStatusExt;
    if status.success() {
        return Ok(());
    }
    let code = status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1);
    // The command's own code, not one of sealctl's: the caller asked to run it.
    std::process::exit(code)
}

/// `'…'` for sh: the path of the pipe substituted for `{}`.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

#[cfg(target_os = "linux")]
fn make_fifo(path: &Path) -> Result<(), CliError> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| CliError::new(Exit::Output, "the pipe's path holds a NUL byte"))?;
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
    if unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(CliError::new(
            Exit::Output,
            format!("cannot create a named pipe: {e}"),
        ));
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn make_fifo(_path: &Path) -> Result<(), CliError> {
    Err(CliError::new(
        Exit::Failure,
        "exec-file needs Linux named pipes on this build",
    ))
}

/// Writes the plaintext into the pipe once the command opens it; gives up when the command ends
/// without reading it.
fn feed(fifo: &Path, plain: &[u8], child: &mut Child) -> Result<(), CliError> {
    use std::os::unix::fs::OpenOptionsExt;
    loop {
        // Non-blocking open fails with ENXIO until a reader has the pipe open.
        match std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc_nonblock())
            .open(fifo)
        {
            Ok(mut pipe) => {
                set_blocking(&pipe);
                // A reader that stops early closes its end: that is its choice, not a failure.
                let _ = pipe.write_all(plain);
                return Ok(());
            }
            Err(e) if e.raw_os_error() == Some(ENXIO) => {
                if child.try_wait().ok().flatten().is_some() {
                    return Ok(());
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => {
                return Err(CliError::new(
                    Exit::Output,
                    format!("cannot open the named pipe: {e}"),
                ))
            }
        }
    }
}

#[cfg(target_os = "linux")]
const ENXIO: i32 = libc::ENXIO;
#[cfg(not(target_os = "linux"))]
const ENXIO: i32 = 6;

#[cfg(target_os = "linux")]
fn libc_nonblock() -> i32 {
    libc::O_NONBLOCK
}
#[cfg(not(target_os = "linux"))]
fn libc_nonblock() -> i32 {
    0
}

#[cfg(target_os = "linux")]
fn set_blocking(file: &std::fs::File) {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor this function's caller owns.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
}
#[cfg(not(target_os = "linux"))]
fn set_blocking(_file: &std::fs::File) {}
