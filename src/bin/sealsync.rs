//! `sealsync`: the in-cluster agent. All logic lives in the library.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(sealsync::agent::main::main())
}
