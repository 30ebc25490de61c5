//! Links `sealctl` as a position-dependent executable on Linux: it starts once per file in shell loops
//! and CI, and a PIE's start-up relocation of its ~15,000 pointers (and the copy-on-write faults of the
//! pages they sit on) cost more than the rest of a small-file decrypt outside the X25519 unwrap.
//! The agent, the tests and other platforms keep the toolchain's default.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bin=sealctl=-no-pie");
    }
}
