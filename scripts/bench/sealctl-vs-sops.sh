#!/usr/bin/env bash
# sealctl vs the real sops, whole processes: encrypt and decrypt the same inputs for the same age
# recipient/identity, output to /dev/null. Prints per-file medians (hyperfine, after warm-up runs), the
# speed ratio (sops time / sealctl time) and the peak-RSS ratio (sealctl / sops).
# Targets: >= 10x faster, <= 1/3 of sops' peak memory, per file.
#
#   scripts/bench/sealctl-vs-sops.sh          # ~2-3 minutes
#   QUICK=1 scripts/bench/sealctl-vs-sops.sh  # fewer runs
#   NO_BUILD=1 ...                            # measure target/ship as it is
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install -y hyperfine)" >&2; exit 1; }
SOPS_BIN="$(find_sops)"
build_release

work="$(mktemp -d /tmp/sealsync-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT

if [ "$QUICK" = 1 ]; then RUNS=5; BIG_RUNS=3; RSS_RUNS=3; else RUNS=20; BIG_RUNS=10; RSS_RUNS=7; fi

# Inputs (copied so no .sops.yaml above them is picked up).
mkdir -p "$work/in" "$work/enc"
cp "$BENCH_ROOT/tests/fixtures/sops/plain/secret-stringdata.yaml" "$work/in/k8s-secret.yaml"
cp "$BENCH_ROOT/tests/fixtures/sops/plain/"{nested.yaml,app.json,app.env} "$work/in/"
python3 - "$work/in/big-1mib.yaml" <<'PY'
import random, string, sys
random.seed(42)
alphabet = string.ascii_letters + string.digits
with open(sys.argv[1], "w") as f:
    f.write("# generated: ~1 MiB, 5,000 keys in 100 groups\n")
    for g in range(100):
        f.write(f"group{g:03}:\n")
        for k in range(50):
            f.write(f"    key{k:03}: {''.join(random.choices(alphabet, k=190))}\n")
PY

files=(k8s-secret.yaml nested.yaml app.json app.env big-1mib.yaml)
rules_for() { case "$1" in k8s-secret.yaml) echo "--encrypted-regex ^(data|stringData)\$" ;; *) echo "" ;; esac; }

# Decrypt inputs: what the real sops wrote, so both tools read the same bytes.
for f in "${files[@]}"; do
  # shellcheck disable=SC2046
  "$SOPS_BIN" --disable-version-check encrypt --age "$RECIPIENT" $(rules_for "$f") "$work/in/$f" >"$work/enc/$f"
  SOPS_AGE_KEY_FILE="$KEY" "$BIN/sealctl" decrypt "$work/enc/$f" >/dev/null
done
export SOPS_AGE_KEY_FILE="$KEY"

# hyperfine_median RUNS CMD: "median p25 p75" seconds (hyperfine -N: no shell; output to /dev/null).
hyperfine_median() {
  local runs="$1"; shift
  local json="$work/h.json"
  hyperfine -N --style none --warmup 3 --runs "$runs" --export-json "$json" "$*" >/dev/null 2>&1
  python3 -c '
import json, sys, statistics
t = sorted(json.load(open(sys.argv[1]))["results"][0]["times"])
q = statistics.quantiles(t, n=4, method="inclusive")
print(f"{statistics.median(t):.6f} {q[0]:.6f} {q[2]:.6f}")' "$json"
}

machine_info
echo "runs per cell: $RUNS ($BIG_RUNS for the 1 MiB file) after 3 warm-up runs; peak RSS: median of $RSS_RUNS runs"
echo
printf '%-16s %-4s %9s %-16s %9s %-16s %7s %10s %10s %6s\n' \
  file op "sealctl" "(p25-p75 ms)" "sops" "(p25-p75 ms)" "speed" "sealctl" "sops" "mem"
printf '%-16s %-4s %9s %-16s %9s %-16s %7s %10s %10s %6s\n' \
  "" "" "ms" "" "ms" "" "ratio" "RSS KiB" "RSS KiB" "ratio"
for f in "${files[@]}"; do
  size=$(stat -c %s "$work/in/$f")
  runs=$RUNS; [ "$size" -gt 100000 ] && runs=$BIG_RUNS
  rules=$(rules_for "$f")
  for op in enc dec; do
    if [ "$op" = enc ]; then
      ours="$BIN/sealctl encrypt --age $RECIPIENT $rules $work/in/$f"
      theirs="$SOPS_BIN --disable-version-check encrypt --age $RECIPIENT $rules $work/in/$f"
    else
      ours="$BIN/sealctl decrypt $work/enc/$f"
      theirs="$SOPS_BIN --disable-version-check decrypt $work/enc/$f"
    fi
    read -r om o25 o75 < <(hyperfine_median "$runs" "$ours")
    read -r sm s25 s75 < <(hyperfine_median "$runs" "$theirs")
    # shellcheck disable=SC2086
    orss=$(peak_rss_kib "$RSS_RUNS" $ours)
    # shellcheck disable=SC2086
    srss=$(peak_rss_kib "$RSS_RUNS" $theirs)
    python3 - "$f" "$op" "$om" "$o25" "$o75" "$sm" "$s25" "$s75" "$orss" "$srss" <<'PY'
import sys
f, op, om, o25, o75, sm, s25, s75, orss, srss = sys.argv[1:]
om, o25, o75, sm, s25, s75, orss, srss = map(float, (om, o25, o75, sm, s25, s75, orss, srss))
speed = sm / om
mem = orss / srss
print(f"{f:<16} {op:<4} {om*1e3:9.2f} {f'({o25*1e3:.2f}-{o75*1e3:.2f})':<16} {sm*1e3:9.2f} "
      f"{f'({s25*1e3:.2f}-{s75*1e3:.2f})':<16} {speed:6.1f}x {orss:10.0f} {srss:10.0f} {mem:6.2f}"
      f"  {'ok' if speed >= 10 else 'MISS<10x'} {'ok' if mem <= 1/3 else 'MISS>1/3'}")
PY
  done
done
echo
echo "speed ratio = sops median / sealctl median (target >= 10x); mem ratio = sealctl / sops peak RSS (target <= 0.33)"
echo "note: 2 shared cores with parallel builds: the p25-p75 spread shows the noise; re-run for a second sample"
