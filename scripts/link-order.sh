#!/usr/bin/env bash
# Records which of the agent's functions run, and writes linker/sealsync.order: the list build.rs gives
# LLD (--symbol-ordering-file) so that release builds place those functions together at the start of
# .text. Why: the kernel maps code 64 KiB at a time around each page that runs, so with the default
# layout almost all of the agent's 9 MB of code became resident (docs/benchmarks.md, "Tunings").
#
#   scripts/link-order.sh            # record, write linker/sealsync.order, rebuild, report
#   scripts/link-order.sh --check [--min PCT] [BINARY]
#       only report how much of the list BINARY (default: target/release/sealsync, unstripped) defines;
#       with --min, fail below PCT % (.ci/run: a list gone stale after a dependency, toolchain or
#       crate-layout change, which would silently cost the memory it saves)
#
# The workloads are the agent's ordinary jobs, run under valgrind's callgrind (about 50x slower), each
# smaller than the benchmark that measures it, so the list is not fitted to one benchmark run:
#   1. the Kubernetes sink: 300 Secrets in 10 namespaces against kube-api-test-server, webhook-triggered
#      passes, drift edits reverted (scripts/bench/kube-sink.sh);
#   2. the dir sink, long-running: 100 Secrets, one-file commits fetched on webhook, the folder's own
#      inotify watch (scripts/bench/incremental-reconcile.sh);
#   3. `sealsync run --once` of examples/ into a folder, broken file included (the quickstart), and
#      `sealsync check-config`;
#   4. the same over HTTPS (lighttpd, a private CA in SSL_CERT_FILE): the TLS client code, which the
#      Kubernetes client also runs against a real API server (kube-api-test-server speaks plain HTTP).
# Not covered: git over ssh, Vault and AWS Secrets Manager references; that code keeps its default place
# after the listed functions.
# Re-run after a dependency update or a large change; a stale list costs memory, never correctness.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
order="$root/linker/sealsync.order"
bin="$root/target/release/sealsync"

# How many of the listed functions the release binary defines.
check() { # [MIN_PERCENT]
  python3 - "$order" "$bin" "${1:-0}" <<'PY'
import subprocess, sys
order, binary, minimum = sys.argv[1], sys.argv[2], float(sys.argv[3])
listed = [l.strip() for l in open(order) if l.strip() and not l.startswith("#")]
nm = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True, check=True).stdout
defined = {p[2] for p in (l.split() for l in nm.splitlines()) if len(p) == 3}
if not defined:
    sys.exit(f"link order: {binary} has no symbol table (stripped?): check the unstripped target/release/sealsync")
found = sum(1 for s in listed if s in defined)
percent = 100 * found / max(1, len(listed))
print(f"link order: {found} of {len(listed)} listed functions are in {binary} ({percent:.0f} %)")
if percent < minimum:
    sys.exit(f"link order: below {minimum:g} %: the list is stale; re-record it with scripts/link-order.sh")
PY
}

if [ "${1:-}" = --check ]; then
  shift
  min=0
  if [ "${1:-}" = --min ]; then min="$2"; shift 2; fi
  bin="${1:-$bin}"
  check "$min"
  exit 0
fi
command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install valgrind" >&2; exit 1; }

# Separate builds: together, the test server's dependencies would change the agent's features and
# with them its symbol names.
cargo build --release --locked --bin sealsync --bin sealctl >&2
cargo build --release --locked -p kube-api-test-server --bin kube-api-test-server >&2
profiles="$(mktemp -d /tmp/sealsync-link-order.XXXXXX)"
trap 'rm -rf "$profiles"' EXIT
wrap="valgrind --tool=callgrind --demangle=no --dump-instr=no --callgrind-out-file=$profiles/cg.%p"

echo "== 1/4 the Kubernetes sink under callgrind" >&2
AGENT_WRAP="$wrap" NO_BUILD=1 BENCH_BIN="$root/target/release" N=300 TEAMS=10 PASSES=5 EDITS=30 scripts/bench/kube-sink.sh >/dev/null
echo "== 2/4 the dir sink, long-running, under callgrind" >&2
AGENT_WRAP="$wrap" NO_BUILD=1 BENCH_BIN="$root/target/release" SIZES=100 COMMITS=5 scripts/bench/incremental-reconcile.sh >/dev/null
echo "== 3/4 run --once of examples/ and check-config under callgrind" >&2
work="$profiles/quickstart"
mkdir -p "$work"
cp -r examples "$work/repo"
git -C "$work/repo" init -q -b main
git -C "$work/repo" add -A
git -C "$work/repo" -c user.name=link-order -c user.email=link-order@example.invalid commit -qm examples
code=0
$wrap "$bin" run --once --repo "$work/repo" --sink "dir:$work/secrets" \
  --identity examples/demo-identity.agekey --cache-dir "$work/cache" 2>/dev/null || code=$?
[ "$code" -eq 2 ] || { echo "run --once of examples/ exited $code, not 2" >&2; exit 1; }
$wrap "$bin" check-config --repo "$work/repo" --sink "dir:$work/secrets" >/dev/null 2>&1

echo "== 4/4 run --once over HTTPS (lighttpd + git http-backend, a private CA) under callgrind" >&2
# The TLS client (rustls, ring, certificate verification) is the same code the Kubernetes client runs
# against a real API server.
tls="$profiles/tls"
mkdir -p "$tls/docs"
(
  cd "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=link-order-ca 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 \
    -extfile server.ext 2>/dev/null
)
git clone -q --bare "$work/repo" "$tls/repo.git"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$tls/lighttpd.conf" <<CONF
server.modules = ("mod_alias", "mod_cgi", "mod_setenv", "mod_openssl")
server.document-root = "$tls/docs"
server.bind = "127.0.0.1"
server.port = $port
server.errorlog = "$tls/error.log"
alias.url = ("/git/" => "$(git --exec-path)/git-http-backend/")
cgi.assign = ("" => "")
setenv.add-environment = ("GIT_PROJECT_ROOT" => "$tls", "GIT_HTTP_EXPORT_ALL" => "1")
ssl.engine = "enable"
ssl.pemfile = "$tls/server.pem"
ssl.privkey = "$tls/server.key"
CONF
lighttpd -D -f "$tls/lighttpd.conf" &
lighttpd_pid=$!
trap 'kill "$lighttpd_pid" 2>/dev/null || true; rm -rf "$profiles"' EXIT
for ((i = 0; i < 100; i++)); do
  GIT_SSL_CAINFO="$tls/ca.pem" git ls-remote "https://127.0.0.1:$port/git/repo.git" >/dev/null 2>&1 && break
  sleep 0.1
done
code=0
SSL_CERT_FILE="$tls/ca.pem" $wrap "$bin" run --once --repo "https://127.0.0.1:$port/git/repo.git" \
  --sink "dir:$tls/secrets" --identity examples/demo-identity.agekey --cache-dir "$tls/cache" 2>/dev/null || code=$?
[ "$code" -eq 2 ] || { echo "run --once over HTTPS exited $code, not 2" >&2; exit 1; }

python3 scripts/link-order.py "$bin" "$order" "$profiles"/cg.*
cargo build --release --locked --bin sealsync >&2
check
