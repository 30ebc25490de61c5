//! Link options for the agent (`sealsync`) on GNU/Linux; `sealctl` keeps the toolchain's (a PIE:
//! linking it position-dependent saved 0.1 ms of a 1.5 ms run, within the noise of its medians).
//!
//! The agent is a PIE (address randomization for a long-running process that holds secrets), with
//! its relative relocations packed (`DT_RELR`, glibc 2.36+) when the linker can: 600 KB of `.rela.dyn`
//! become a few KB, which the loader reads at start and which stayed resident.
//!
//! In release builds the agent's code is laid out hot first: `linker/sealsync.order` lists the
//! functions the agent runs (recorded by `scripts/link-order.sh`), and the linker places them
//! together at the start of `.text` (`--symbol-ordering-file`, LLD's option; rustc links with LLD on
//! x86_64 GNU/Linux). The kernel maps a binary's code 64 KiB at a time around each page that runs, so
//! with the default layout, where a few functions of each crate run amid many that never do, almost
//! all of `.text` became resident; grouped, about the size of what runs is. A function the list does
//! not name (new or renamed since it was recorded) keeps its place after the listed ones: a stale
//! list costs memory, never correctness. Each option is used only when a trial link with it succeeds.
//! Tests, musl (static) builds and other platforms keep the toolchain's defaults. Each option stays for
//! its gain measured on the shipped build (`scripts/build-release.sh`; docs/benchmarks.md, "Tunings").

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const ORDER_FILE: &str = "linker/sealsync.order";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={ORDER_FILE}");
    let var = |name| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" {
        return;
    }
    let relr = "-Wl,-z,pack-relative-relocs";
    if links_with(&[relr]) {
        println!("cargo:rustc-link-arg-bin=sealsync={relr}");
    }
    let order = Path::new(&var("CARGO_MANIFEST_DIR")).join(ORDER_FILE);
    if var("PROFILE") == "release" && order.is_file() {
        let args = [
            format!("-Wl,--symbol-ordering-file={}", order.display()),
            "-Wl,--no-warn-symbol-ordering".to_string(),
        ];
        if links_with(&args) {
            for arg in args {
                println!("cargo:rustc-link-arg-bin=sealsync={arg}");
            }
        }
    }
}

/// Whether rustc, as cargo runs it for this target (its `RUSTFLAGS` and configured linker included),
/// links an empty program with these extra linker arguments.
fn links_with<S: AsRef<str>>(args: &[S]) -> bool {
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("link-probe");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let mut cmd = Command::new(rustc);
    cmd.args(["--crate-type", "bin", "--crate-name", "link_probe", "-o"])
        .arg(&out)
        .args(["--target", &std::env::var("TARGET").unwrap_or_default()]);
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    cmd.args(flags.split('\x1f').filter(|f| !f.is_empty()));
    // The linker cargo resolved for the target (`target.<triple>.linker`), if one is configured.
    if let Ok(linker) = std::env::var("RUSTC_LINKER") {
        cmd.arg(format!("-Clinker={linker}"));
    }
    for arg in args {
        cmd.arg(format!("-Clink-arg={}", arg.as_ref()));
    }
    cmd.arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let Ok(mut child) = cmd.spawn() else {
        return false;
    };
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        let _ = stdin.write_all(b"fn main() {}\n");
    }
    child.wait().is_ok_and(|status| status.success())
}
