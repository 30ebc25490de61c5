//! `sealctl`: encrypt, decrypt and maintain SOPS files with age keys. All logic lives in sealsync-cli.

// Unwinding comes from libgcc's static archive (as with `crt-static`) instead of libgcc_s.so: sealctl
// starts once per file, and that library's loading and its constructor's CPUID probes (each a VM exit
// on a virtual machine) cost more than a small file's decryption outside the X25519 unwrap.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[link(name = "gcc_eh", kind = "static", modifiers = "-bundle")]
unsafe extern "C" {}

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(sealsync_cli::main())
}
