//! `sealctl`: encrypt, decrypt and maintain SOPS files with age keys. All logic lives in the library.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(sealsync::cli::main())
}
