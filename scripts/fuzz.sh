#!/usr/bin/env bash
# usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Runs every cargo fuzz target of fuzz/ (or the ones named) for a bounded time, one after the other in
# one process each, and prints per target the executions and libFuzzer's final coverage (`cov:` edges,
# `ft:` features). Default: 180 seconds per target. Needs `cargo install cargo-fuzz`; runs on the stable
# toolchain through RUSTC_BOOTSTRAP=1 (cargo fuzz passes nightly-only -Z flags).
#
# Each target starts from its committed seeds (fuzz/seeds/TARGET) plus what earlier runs found
# (fuzz/corpus/TARGET, git-ignored). A crash stops that target, leaves the input in
# fuzz/artifacts/TARGET/ and makes the script exit 1 after the others ran; reproduce it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -s none TARGET fuzz/artifacts/TARGET/crash-…   (from fuzz/)
# and keep it as a regression test in the crate it belongs to.
#
# Built without a sanitizer (-s none): the code under test is safe Rust, where AddressSanitizer finds
# nothing the borrow checker has not, and it costs about half the executions. Debug assertions and
# overflow checks stay on (cargo fuzz's default), so an arithmetic overflow is a crash.
set -euo pipefail

seconds=${1:-180}
shift || true
cd "$(dirname "$0")/../fuzz"
export RUSTC_BOOTSTRAP=1 CARGO_INCREMENTAL=0
flags=(-s none --codegen-units 16)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo fuzz is not installed: cargo install cargo-fuzz" >&2
    exit 2
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi

cargo fuzz build "${flags[@]}" >&2

mkdir -p logs
status=0
summary=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "seeds/$t"
    log="logs/$t.log"
    echo "== $t: ${seconds}s" >&2
    # -timeout: one input taking 10 s is a finding (every parser is bounded); -rss_limit_mb: so is
    # 1 GiB of memory. -max_len: the largest input libFuzzer builds (the seeds may be larger).
    if cargo fuzz run "${flags[@]}" "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -max_len=65536 \
        -print_final_stats=1 >"$log" 2>&1; then
        result=ok
    else
        result="CRASH (see fuzz/$log and fuzz/artifacts/$t/)"
        status=1
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+.*cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
    cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.*corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<<"$last")
    echo "$last" >&2
    summary+=("$(printf '%-14s %12s %8s %7s %7s %12s  %s' "$t" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result")")
done

printf '%-14s %12s %8s %7s %7s %12s  %s\n' target executions exec/s cov ft corpus result
printf '%s\n' "${summary[@]}"
exit $status
