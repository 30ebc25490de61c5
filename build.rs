//! Links `sealctl` as a position-dependent executable on GNU/Linux: it starts once per file in shell
//! loops and CI, and a PIE's start-up relocation of its ~15,000 pointers (and the copy-on-write
//! faults of the pages they sit on) cost about as much as a small file's decryption outside the X25519
//! unwrap. The agent, the tests, musl (static) builds and other platforms keep the toolchain's default.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let var = |name| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu" {
        println!("cargo:rustc-link-arg-bin=sealctl=-no-pie");
    }
}
