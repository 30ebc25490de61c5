//! Golden tests pinning `sealctl`'s visible behaviour — output, errors and exit codes — from the case
//! files in `tests/cmd/` (run with `TRYCMD=overwrite` to review and accept an intended change).

#[test]
fn golden_cli_cases() {
    crate::support::private_fixture_keys();
    trycmd::TestCases::new()
        .register_bin(
            "sealctl",
            std::path::Path::new(env!("CARGO_BIN_EXE_sealctl")),
        )
        .register_bin(
            "sealsync",
            std::path::Path::new(env!("CARGO_BIN_EXE_sealsync")),
        )
        .env("HOME", "/nonexistent-sealsync-test")
        .env("XDG_CONFIG_HOME", "/nonexistent-sealsync-test")
        .env("NO_COLOR", "1")
        .case("tests/cmd/*.toml");
}
