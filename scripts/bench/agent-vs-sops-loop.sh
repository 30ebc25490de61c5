#!/usr/bin/env bash
# `sealsync run --once` over a repository of N encrypted Secrets vs a shell loop of the real
# `sops decrypt` over the same N files. Target: the agent >= 50x faster than the loop.
#
#   scripts/bench/agent-vs-sops-loop.sh 1000
#   scripts/bench/agent-vs-sops-loop.sh 10000
#   QUICK=1 scripts/bench/agent-vs-sops-loop.sh     # N=200, fewer runs
#   NO_BUILD=1 ...                                  # measure target/ship as it is
#
# The repository is committed, then packed as a forge would serve it (`git repack -adb`, see lib.sh's
# git_pack); the agent's remote is its path, which gix fetches through a local `git upload-pack`.
# The agent is timed (wall clock, and peak RSS with /usr/bin/time) cold — fresh git cache and fresh
# output folder each run — and with a warm git cache (cache kept, output folder fresh). The sops loop
# decrypts every file when N <= SOPS_SAMPLE (default 1000); above that it times a random sample of
# SOPS_SAMPLE files and extrapolates linearly to N (printed as such).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

if [ "$QUICK" = 1 ]; then N="${1:-200}"; RUNS=3; SOPS_REPS=1; else N="${1:-1000}"; RUNS="${RUNS:-5}"; SOPS_REPS="${SOPS_REPS:-3}"; fi
SOPS_SAMPLE="${SOPS_SAMPLE:-1000}"
[ "$N" -gt 1000 ] && SOPS_SAMPLE="${SOPS_SAMPLE_LARGE:-500}"
SOPS_BIN="$(find_sops)"
build_release

work="$(mktemp -d /tmp/sealsync-bench.XXXXXX)"
sinkdir="$(mktemp -d "$SINK_BASE/sealsync-bench-out.XXXXXX")"
trap 'rm -rf "$work" "$sinkdir"' EXIT

t0=$EPOCHREALTIME
gen_repo "$work/repo" "$N"
git_init_commit "$work/repo"
# Served packed, as from a forge (lib.sh, git_pack); the sops loop reads the same working tree either way.
git_pack "$work/repo"
echo "generated and committed $N Secrets in $(python3 -c "print(f'{$EPOCHREALTIME-$t0:.1f}')")s" >&2

machine_info sink
echo "repository: $N Secrets (sops files, one data key each, 4 values each) in 50 folders; $(du -sh --apparent-size --exclude=.git "$work/repo" | cut -f1) of YAML"
echo

# agent_run CACHE_MODE: one `sealsync run --once`; prints "seconds rss_kib".
agent_run() {
  local mode="$1"
  rm -rf "$sinkdir/out"
  [ "$mode" = cold ] && rm -rf "$work/cache"
  local start=$EPOCHREALTIME code=0
  /usr/bin/time -f %M -o "$work/rss" "$BIN/sealsync" run --once --repo "$work/repo" \
    --sink "dir:$sinkdir/out" --identity "$KEY" --cache-dir "$work/cache" 2>"$work/agent.log" || code=$?
  local end=$EPOCHREALTIME
  if [ "$code" != 0 ]; then
    echo "sealsync exited $code:" >&2; tail -5 "$work/agent.log" >&2; exit 1
  fi
  echo "$(python3 -c "print($end - $start)") $(grep -E '^[0-9]+$' "$work/rss")"
}

declare -A secs rss
for mode in cold warm; do
  [ "$mode" = warm ] && agent_run cold >/dev/null # fill the cache
  : >"$work/s.$mode"; : >"$work/r.$mode"
  for ((i = 0; i < RUNS; i++)); do
    read -r s r < <(agent_run "$mode")
    echo "$s" >>"$work/s.$mode"; echo "$r" >>"$work/r.$mode"
  done
  secs[$mode]="$(stats <"$work/s.$mode")"
  rss[$mode]="$(stats <"$work/r.$mode")"
done
written=$(find "$sinkdir/out" -mindepth 2 -maxdepth 2 -not -name '..*' | wc -l)
[ "$written" -eq "$N" ] || { echo "expected $N Secrets in the output, found $written" >&2; exit 1; }

# The sops loop.
(cd "$work/repo" && find apps -name '*.yaml' | sort) >"$work/all"
if [ "$N" -le "$SOPS_SAMPLE" ]; then
  cp "$work/all" "$work/sample"; sampled=$N
else
  shuf -n "$SOPS_SAMPLE" --random-source=<(yes) "$work/all" >"$work/sample"; sampled=$SOPS_SAMPLE
fi
: >"$work/sops"
for ((i = 0; i < SOPS_REPS; i++)); do
  start=$EPOCHREALTIME
  while read -r f; do
    SOPS_AGE_KEY_FILE="$KEY" "$SOPS_BIN" --disable-version-check decrypt "$work/repo/$f" >/dev/null
  done <"$work/sample"
  end=$EPOCHREALTIME
  python3 -c "print(($end - $start) * $N / $sampled)" >>"$work/sops"
done
sops_stats="$(stats <"$work/sops")"
sops_rss=$(peak_rss_kib 5 env SOPS_AGE_KEY_FILE="$KEY" "$SOPS_BIN" --disable-version-check decrypt "$work/repo/$(head -1 "$work/sample")")

python3 - "$N" "$RUNS" "$SOPS_REPS" "$sampled" "${secs[cold]}" "${rss[cold]}" "${secs[warm]}" "${rss[warm]}" "$sops_stats" "$sops_rss" <<'PY'
import sys
n, runs, reps, sampled = map(int, sys.argv[1:5])
cold, cold_rss, warm, warm_rss, sops = (list(map(float, a.split())) for a in sys.argv[5:10])
sops_rss = float(sys.argv[10])
def row(label, s, r=None):
    rs = f"{r[0]/1024:8.1f} MiB ({r[3]/1024:.1f}-{r[4]/1024:.1f})" if r else ""
    print(f"{label:<44} {s[0]:9.3f} s  ({s[3]:.3f}-{s[4]:.3f}, n={int(s[5])})  {rs}")
print(f"{'':<44} {'median':>9}    (min-max)                 peak RSS median (min-max)")
row("sealsync run --once, cold (fresh cache+out)", cold, cold_rss)
row("sealsync run --once, warm git cache", warm, warm_rss)
label = f"sops decrypt loop, all {n} files" if sampled == n else f"sops decrypt loop, {sampled}-file sample x {n}/{sampled}"
row(label, sops)
print(f"{'':<44} per file: {sops[0]/n*1e3:.1f} ms, peak RSS of one sops decrypt: {sops_rss/1024:.1f} MiB")
print()
for name, s in (("cold", cold), ("warm", warm)):
    r = sops[0] / s[0]
    print(f"ratio sops loop / sealsync ({name}): {r:6.1f}x  target >= 50x: {'met' if r >= 50 else 'MISSED'}")
if sampled != n:
    print(f"note: the sops figure is extrapolated linearly from a random sample of {sampled} of the {n} files")
print("note: 2 shared cores, other builds in parallel: see the min-max spread; medians of the runs above")
PY
