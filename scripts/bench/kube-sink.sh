#!/usr/bin/env bash
# The agent with the Kubernetes sink, against the project's Kubernetes API test server: resident memory
# with N managed Secrets (target <= 20 MiB) and drift revert latency (target p99 <= 1 s).
#
#   scripts/bench/kube-sink.sh                 # 1,000 Secrets, 30 passes, 200 drift edits
#   QUICK=1 scripts/bench/kube-sink.sh         # 1,000 Secrets, 10 passes, 60 drift edits
#   N=1000 PASSES=50 EDITS=300 ...             # choose
#   NO_BUILD=1 ...                             # measure target/ship as it is
#   MALLOC_ARENA_MAX=2 ...                     # passed through to the agent, to compare
#   SMAPS_OUT=FILE ...                         # keep /proc/PID/smaps after the first pass
#   AGENT_WRAP="heaptrack -o F" BENCH_BIN=DIR  # run the agent under a profiler (a build with line tables)
#
# Start `kube-api-test-server --port 0 --kubeconfig-out kc.yaml`; generate N Secrets in 50 team folders
# (namespaces team-00..team-49), commit; start `sealsync run --sink kube --interval 1h` with one
# namespace-policy rule per team folder, KUBECONFIG and POD_NAMESPACE; wait for /readyz = 200. Memory:
# `ps -o rss=` (and RssAnon, RssFile, Threads of /proc/PID/status) right after the first pass, then after PASSES
# webhook-triggered passes (no new commit: fetch, list, compare), and again after the drift edits.
# Drift: scripts/bench/kube-drift.py makes EDITS edits straight over HTTP (value patched, managed-by
# label removed, deleted; in turn) and times each from the edit's return to the watch event showing
# the Secret restored. The git poll is an hour, so only the agent's drift watch can explain a revert.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

N="${N:-1000}"
TEAMS="${TEAMS:-50}"
export SEALSYNC_BENCH_TEAMS="$TEAMS"
if [ "$QUICK" = 1 ]; then PASSES="${PASSES:-10}"; EDITS="${EDITS:-60}"; else PASSES="${PASSES:-30}"; EDITS="${EDITS:-200}"; fi
# Two builds, not one: built together, the test server's dependencies would add features to the
# agent's and make a different binary from the one users build (and linker/sealsync.order names).
build_release
if [ "${NO_BUILD:-0}" != 1 ]; then
  (cd "$BENCH_ROOT" && cargo build --release --locked -p kube-api-test-server --bin kube-api-test-server) >&2
fi

work="$(mktemp -d /tmp/sealsync-kube-bench.XXXXXX)"
server_pid=""
agent_pid=""
stop() { # PID
  if [ -n "$1" ]; then kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; fi
}
cleanup() {
  stop "$agent_pid"
  stop "$server_pid"
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
reconciled_count() { grep -c '"message":"reconciled"' "$work/agent.log" || true; }
# "rss_kib anon_kib file_kib threads" of the agent.
memory() {
  local rss anon file threads
  rss=$(ps -o rss= -p "$agent_pid" | tr -d ' ')
  anon=$(awk '/^RssAnon:/ {print $2}' "/proc/$agent_pid/status")
  file=$(awk '/^RssFile:/ {print $2}' "/proc/$agent_pid/status")
  threads=$(awk '/^Threads:/ {print $2}' "/proc/$agent_pid/status")
  echo "$rss $anon $file $threads"
}
mib() { python3 -c "print(f'{$1/1024:.1f}')"; }
# Waits (at most SECONDS) until the agent has logged more than COUNT passes.
wait_passes() { # COUNT SECONDS
  local deadline=$((SECONDS + $2))
  until [ "$(reconciled_count)" -gt "$1" ]; do
    kill -0 "$agent_pid" 2>/dev/null || { echo "the agent exited:" >&2; tail -5 "$work/agent.log" >&2; exit 1; }
    [ "$SECONDS" -lt "$deadline" ] || { echo "no reconcile pass within $2 s" >&2; tail -5 "$work/agent.log" >&2; exit 1; }
    sleep 0.05
  done
}

# The API server.
"$BENCH_ROOT/target/release/kube-api-test-server" --port 0 --kubeconfig-out "$work/kc.yaml" >"$work/server.out" 2>"$work/server.log" &
server_pid=$!
for ((i = 0; i < 200; i++)); do [ -s "$work/server.out" ] && break; sleep 0.05; done
api_url=$(head -1 "$work/server.out")
case "$api_url" in http://127.0.0.1:*) ;; *) echo "the API test server did not start: $(cat "$work/server.log")" >&2; exit 1 ;; esac

# The repository.
repo="$work/repo"
gen_repo "$repo" "$N"
git_init_commit "$repo"
policy=""
for ((t = 0; t < TEAMS; t++)); do policy+="$(printf 'apps/team-%02d/**=team-%02d;' "$t" "$t")"; done
policy="${policy%;}"

# The agent.
printf 'bench-webhook-%s' "$RANDOM$RANDOM" >"$work/hook-secret"
port=$(free_port)
: >"$work/agent.log"
start=$EPOCHREALTIME
KUBECONFIG="$work/kc.yaml" POD_NAMESPACE=sealsync POD_NAME=bench-agent \
  ${AGENT_WRAP:-} "$BIN/sealsync" run --sink kube --repo "$repo" --identity "$KEY" --cache-dir "$work/cache" \
  --interval 1h --listen "127.0.0.1:$port" --webhook-secret-file "$work/hook-secret" \
  --namespace-policy "$policy" --log-format json 2>"$work/agent.log" &
agent_pid=$!
deadline=$((SECONDS + 120))
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz" || true)" = 200 ]; do
  kill -0 "$agent_pid" 2>/dev/null || { echo "the agent exited:" >&2; tail -5 "$work/agent.log" >&2; exit 1; }
  [ "$SECONDS" -lt "$deadline" ] || { echo "not ready within 120 s" >&2; exit 1; }
  sleep 0.05
done
wait_passes 0 120
ready=$(python3 -c "print(f'{$EPOCHREALTIME - $start:.2f}')")
first=$(grep -m1 '"message":"reconciled"' "$work/agent.log")
first_s=$(python3 -c 'import json,sys; print("%.3f" % json.loads(sys.argv[1])["seconds"])' "$first")
created=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["created"])' "$first")
sleep 1 # let the watches settle before reading RSS
read -r rss0 anon0 file0 thr0 < <(memory)
# SMAPS_OUT=FILE keeps the agent's /proc/PID/smaps after the first pass, to see which mappings are resident.
[ -n "${SMAPS_OUT:-}" ] && cp "/proc/$agent_pid/smaps" "$SMAPS_OUT"

# Passes without a change: POST the webhook, wait for the pass's log line.
: >"$work/pass-s"
for ((p = 1; p <= PASSES; p++)); do
  before=$(reconciled_count)
  curl -sf -o /dev/null -X POST -H "X-Gitlab-Token: $(cat "$work/hook-secret")" -H 'Content-Type: application/json' \
    -d '{}' "http://127.0.0.1:$port/hooks/git"
  wait_passes "$before" 60
  grep '"message":"reconciled"' "$work/agent.log" | tail -1 |
    python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["seconds"])' >>"$work/pass-s"
done
sleep 1
read -r rss1 anon1 file1 thr1 < <(memory)

# Drift.
python3 "$(dirname "$0")/kube-drift.py" "$api_url" "$EDITS" "$N" "$TEAMS" "$work/drift"
sleep 1
read -r rss2 anon2 file2 thr2 < <(memory)
reverted=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^sealsync_drift_reverted_total/ {s += $2} END {print s + 0}')

machine_info
# The list against the unstripped twin of the shipped agent (a stripped binary names no functions).
[ -z "${BENCH_BIN:-}" ] && "$BENCH_ROOT/scripts/link-order.sh" --check "$BENCH_ROOT/target/release/sealsync"
echo "API server: kube-api-test-server on loopback (in-memory); agent: sealsync run --sink kube --interval 1h, $TEAMS namespaces${MALLOC_ARENA_MAX:+, MALLOC_ARENA_MAX=$MALLOC_ARENA_MAX}"
echo
echo "| Secrets | start to ready | first pass (created) | pass without change, median (min-max) |"
echo "| --- | --- | --- | --- |"
read -r pm _ _ pmin pmax _ < <(stats <"$work/pass-s")
echo "| $N | $ready s | $first_s s ($created) | $(python3 -c "print(f'{$pm:.3f} s ({$pmin:.3f}-{$pmax:.3f})')") over $PASSES passes |"
echo
echo "| when | RSS MiB | RssAnon MiB | RssFile MiB | threads |"
echo "| --- | --- | --- | --- | --- |"
echo "| after the first pass | $(mib "$rss0") | $(mib "$anon0") | $(mib "$file0") | $thr0 |"
echo "| after $PASSES more passes | $(mib "$rss1") | $(mib "$anon1") | $(mib "$file1") | $thr1 |"
echo "| after $EDITS drift reverts | $(mib "$rss2") | $(mib "$anon2") | $(mib "$file2") | $thr2 |"
python3 - "$rss0" "$rss1" "$rss2" <<'PY'
import sys
worst = max(int(x) for x in sys.argv[1:]) / 1024
print(f"\nmemory target <= 20 MiB: {'met' if worst <= 20 else 'MISSED'} (largest reading {worst:.1f} MiB)")
PY
echo
echo "| edit | n | p50 ms | p90 ms | p99 ms | max ms |"
echo "| --- | --- | --- | --- | --- | --- |"
python3 - "$work/drift" "$reverted" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, max(0, round(q * (len(v) - 1))))]
groups = {"data": "value patched", "label": "label removed", "delete": "deleted"}
def line(name, v):
    ms = [x * 1000 for x in v]
    print(f"| {name} | {len(v)} | {pct(ms, .5):.1f} | {pct(ms, .9):.1f} | {pct(ms, .99):.1f} | {max(ms):.1f} |")
for k, name in groups.items():
    v = [float(s) for kind, s in rows if kind == k]
    if v:
        line(name, v)
every = [float(s) for _, s in rows]
line("**all**", every)
p99 = pct(every, .99)
print(f"\ndrift target p99 <= 1 s: {'met' if p99 <= 1 else 'MISSED'} (p99 {p99 * 1000:.1f} ms); "
      f"the agent counted {sys.argv[2]} reverts (sealsync_drift_reverted_total) for {len(every)} edits")
print("note: 2 shared cores, parallel builds: re-run before acting on one figure")
PY
