//! Link options for the two binaries on GNU/Linux.
//!
//! `sealctl` is linked as a position-dependent executable: it starts once per file in shell loops
//! and CI, and a PIE's start-up relocation of its ~15,000 pointers (and the copy-on-write faults of
//! the pages they sit on) cost about as much as a small file's decryption outside the X25519 unwrap.
//!
//! The agent stays a PIE (address randomization for a long-running process that holds secrets), with
//! its relative relocations packed (`DT_RELR`, glibc 2.36+) when the linker can: 600 KB of `.rela.dyn`
//! become a few KB, which the loader reads at start and which stayed resident. Tests, musl (static)
//! builds and other platforms keep the toolchain's defaults.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let var = |name| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu" {
        println!("cargo:rustc-link-arg-bin=sealctl=-no-pie");
        if linker_packs_relocations() {
            println!("cargo:rustc-link-arg-bin=sealsync=-Wl,-z,pack-relative-relocs");
        }
    }
}

/// Whether the system linker knows `-z pack-relative-relocs` (GNU ld 2.38+).
fn linker_packs_relocations() -> bool {
    Command::new("ld")
        .arg("--help")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("pack-relative-relocs"))
}
