#!/usr/bin/env bash
# The cost of a reconcile after a one-file commit, in a small vs a large repository, with the agent
# long-running (its per-file cache kept between passes). Target: 10,000 Secrets within 2x of 100.
#
#   scripts/bench/incremental-reconcile.sh            # 100, 1,000 and 10,000 Secrets, 7 commits each
#   QUICK=1 scripts/bench/incremental-reconcile.sh    # 100 and 1,000 Secrets, 5 commits each
#   SIZES="100 10000" COMMITS=9 ...                   # choose
#   NO_BUILD=1 ...                                    # measure target/ship as it is
#   AGENT_WRAP="valgrind ..." ...                     # run the agent under a profiler (scripts/link-order.sh)
#
# For each size: start `sealsync run --interval 1h --listen 127.0.0.1:PORT --webhook-secret-file F
# --log-format json`, wait for /readyz = 200, note its resident memory (ps rss), then COMMITS times:
# re-encrypt one Secret with a new value, commit, POST /hooks/git (X-Gitlab-Token), and measure
#   - the agent's own `"message":"reconciled"` log line: `seconds` (desired state + apply, no fetch)
#     and `files_decrypted`;
#   - end to end: from the webhook request to the new value readable in the output folder (includes
#     the git fetch).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

# Seconds between two commits' webhooks: more than the agent's webhook fetch rate (one per 5 s).
HOOK_GAP="${HOOK_GAP:-5.2}"
if [ "$QUICK" = 1 ]; then SIZES="${SIZES:-100 1000}"; COMMITS="${COMMITS:-5}"; else SIZES="${SIZES:-100 1000 10000}"; COMMITS="${COMMITS:-7}"; fi
build_release

work="$(mktemp -d /tmp/sealsync-bench.XXXXXX)"
sinkdir="$(mktemp -d "$SINK_BASE/sealsync-bench-out.XXXXXX")"
agent_pid=""
cleanup() {
  if [ -n "$agent_pid" ]; then kill "$agent_pid" 2>/dev/null || true; wait "$agent_pid" 2>/dev/null || true; fi
  rm -rf "$work" "$sinkdir"
}
trap cleanup EXIT

printf 'bench-webhook-%s' "$RANDOM$RANDOM" >"$work/hook-secret"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
reconciled_count() { grep -c '"message":"reconciled"' "$work/agent.log" || true; }

# The one-file change: secret-00000 (team-00) re-encrypted with a new password.
one_file_commit() { # REPO VALUE
  cat >"$work/plain.yaml" <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: secret-00000
  namespace: team-00
type: Opaque
stringData:
  username: svc_bench
  password: $2
YAML
  "$BIN/sealctl" encrypt --age "$RECIPIENT" --encrypted-regex '^(data|stringData)$' "$work/plain.yaml" \
    >"$1/apps/team-00/secret-00000.yaml"
  git -C "$1" -c user.name=bench -c user.email=bench@example.invalid commit -qam "rotate secret-00000: $2"
}

# POSTs the webhook, then polls FILE until it holds VALUE; prints the seconds in between.
trigger_and_wait() { # PORT FILE VALUE
  python3 - "$1" "$2" "$3" "$work/hook-secret" <<'PY'
import sys, time, urllib.request
port, path, value, secret_file = sys.argv[1:]
req = urllib.request.Request(f"http://127.0.0.1:{port}/hooks/git", data=b"{}", method="POST",
                             headers={"X-Gitlab-Token": open(secret_file).read(), "Content-Type": "application/json"})
start = time.monotonic()
with urllib.request.urlopen(req, timeout=10) as r:
    assert r.status < 300, r.status
deadline = start + 120
while time.monotonic() < deadline:
    try:
        if open(path).read() == value:
            print(f"{time.monotonic() - start:.6f}")
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.001)
sys.exit("timed out waiting for the new value in " + path)
PY
}

machine_info sink
echo "$COMMITS one-file commits per size; reconcile seconds from the agent's log, end to end = webhook -> file changed"
echo
declare -A results
for n in $SIZES; do
  repo="$work/repo-$n"
  gen_repo "$repo" "$n"
  git_init_commit "$repo"
  port=$(free_port)
  rm -rf "$sinkdir/out" "$work/cache"
  : >"$work/agent.log"
  start=$EPOCHREALTIME
  ${AGENT_WRAP:-} "$BIN/sealsync" run --repo "$repo" --sink "dir:$sinkdir/out" --identity "$KEY" --cache-dir "$work/cache" \
    --interval 1h --listen "127.0.0.1:$port" --webhook-secret-file "$work/hook-secret" --log-format json \
    2>"$work/agent.log" &
  agent_pid=$!
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz" || true)" = 200 ]; do
    kill -0 "$agent_pid" 2>/dev/null || { echo "the agent exited:" >&2; tail -5 "$work/agent.log" >&2; exit 1; }
    sleep 0.05
  done
  ready=$(python3 -c "print(f'{$EPOCHREALTIME - $start:.2f}')")
  first=$(grep -m1 '"message":"reconciled"' "$work/agent.log" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["seconds"])')
  sleep 1 # let allocations settle before reading RSS
  rss_loaded=$(ps -o rss= -p "$agent_pid" | tr -d ' ')
  : >"$work/rec"; : >"$work/e2e"; : >"$work/dec"
  for ((c = 1; c <= COMMITS; c++)); do
    # The agent serves at most 3 webhook fetches at once, then one per 5 s (src/ops/http/hook.rs,
    # WEBHOOK_FETCH_RATE): commits closer together would measure that wait, not the pass.
    [ "$c" -gt 1 ] && sleep "$HOOK_GAP"
    value="rotated-$c-$RANDOM$RANDOM"
    one_file_commit "$repo" "$value"
    before=$(reconciled_count)
    trigger_and_wait "$port" "$sinkdir/out/team-00/secret-00000/password" "$value" >>"$work/e2e"
    until [ "$(reconciled_count)" -gt "$before" ]; do sleep 0.02; done
    line=$(grep '"message":"reconciled"' "$work/agent.log" | tail -1)
    python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["seconds"]); print(d["files_decrypted"], file=sys.stderr)' "$line" \
      >>"$work/rec" 2>>"$work/dec"
  done
  rss_after=$(ps -o rss= -p "$agent_pid" | tr -d ' ')
  kill "$agent_pid"; wait "$agent_pid" 2>/dev/null || true; agent_pid=""
  results[$n]="$(stats <"$work/rec" | cut -d' ' -f1-5) $(stats <"$work/e2e" | cut -d' ' -f1-5) $rss_loaded $rss_after $ready $first $(sort -u "$work/dec" | tr '\n' ',' | sed 's/,$//')"
  rm -rf "$repo"
done

printf '%-8s %-34s %-34s %-10s %-9s %-9s %-8s %s\n' Secrets "reconcile s: median (p25-p75)" "end to end s: median (p25-p75)" \
  "decrypted" "RSS MiB" "RSS MiB" "ready s" "first pass s"
printf '%-8s %-34s %-34s %-10s %-9s %-9s %-8s\n' "" "" "" "per pass" "loaded" "after" ""
for n in $SIZES; do
  # shellcheck disable=SC2086
  set -- ${results[$n]}
  python3 - "$n" "$@" <<'PY'
import sys
a = sys.argv[1:]
n = a[0]
rm, r25, r75, rmin, rmax, em, e25, e75, emin, emax, rss, rss2, ready, first, dec = a[1:16]
print(f"{n:<8} {f'{float(rm):.4f} ({float(r25):.4f}-{float(r75):.4f})':<34} "
      f"{f'{float(em):.4f} ({float(e25):.4f}-{float(e75):.4f})':<34} {dec:<10} "
      f"{int(rss)/1024:<9.1f} {int(rss2)/1024:<9.1f} {ready:<8} {float(first):.3f}")
PY
done
small=$(echo "$SIZES" | tr ' ' '\n' | head -1); large=$(echo "$SIZES" | tr ' ' '\n' | tail -1)
python3 - "$small" "$large" ${results[$small]} ${results[$large]} <<'PY'
import sys
small, large = sys.argv[1:3]
a, b = sys.argv[3:18], sys.argv[18:33]
rec = float(b[0]) / float(a[0]); e2e = float(b[5]) / float(a[5])
print()
print(f"ratio {large} / {small} Secrets: reconcile {rec:.2f}x, end to end {e2e:.2f}x  "
      f"(target within 2x: reconcile {'met' if rec <= 2 else 'MISSED'}, end to end {'met' if e2e <= 2 else 'MISSED'})")
print("note: 2 shared cores, parallel builds: medians over the commits, p25-p75 spread shown")
PY
