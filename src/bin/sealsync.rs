//! `sealsync`: the in-cluster agent. All logic lives in sealsync-agent.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(sealsync_agent::agent::launch::main())
}
