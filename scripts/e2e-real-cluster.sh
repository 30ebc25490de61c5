#!/usr/bin/env bash
# End-to-end against the cluster KUBECONFIG names (kind, k3d, a real one): the agent applies a Secret
# from a git repository, refuses an unmanaged one, and puts back what kubectl changes by hand (patch,
# label removal, delete) with a DriftReverted Event that carries no value. The same scenarios
# tests/it/kube_sink/ runs against the API test server. With E2E_VAULT_ADDR and E2E_VAULT_TOKEN, also an
# ExternalSecret resolved from that Vault (or OpenBao) through a SecretStore whose token is committed
# encrypted beside it, and its rotation.
#
# The agent runs on this machine, as a developer would run it against a cluster, with the identity of
# KUBECONFIG's current context; Vault's address too must be reachable from here.
# tests/it/e2e_script.rs runs this script against the project's Kubernetes API test server and a real
# OpenBao, so it cannot rot unnoticed.
#
# Exits 0 with "skipped: no cluster reachable" when `kubectl cluster-info` fails.
# Environment: KUBECTL (kubectl), SEALSYNC_BIN / SEALCTL_BIN (default target/release/...),
# REVERT_DEADLINE_SECONDS (5: a real cluster adds network and watch latency; also bounds a rotation),
# E2E_LISTEN (127.0.0.1:18080: the agent's operations port), KEEP_NAMESPACE=1,
# E2E_VAULT_ADDR (e.g. http://127.0.0.1:8200), E2E_VAULT_TOKEN (may write E2E_VAULT_KV_MOUNT),
# E2E_VAULT_KV_MOUNT (secret: a KV version 2 mount). The Vault scenario writes, and at the end deletes,
# e2e/<namespace>/db under that mount.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBECTL=${KUBECTL:-kubectl}
if ! command -v "$KUBECTL" >/dev/null 2>&1 \
  || ! "$KUBECTL" cluster-info --request-timeout=5s >/dev/null 2>&1; then
  echo "skipped: no cluster reachable (KUBECONFIG=${KUBECONFIG:-~/.kube/config})"
  exit 0
fi

SEALSYNC=${SEALSYNC_BIN:-target/release/sealsync}
SEALCTL=${SEALCTL_BIN:-target/release/sealctl}
[ -x "$SEALSYNC" ] || cargo build --release --locked --bin sealsync
[ -x "$SEALCTL" ] || cargo build --release --locked --bin sealctl
SEALSYNC=$(realpath "$SEALSYNC")
SEALCTL=$(realpath "$SEALCTL")
IDENTITY="$PWD/examples/demo-identity.agekey"
DEADLINE=${REVERT_DEADLINE_SECONDS:-5}
LISTEN=${E2E_LISTEN:-127.0.0.1:18080}
VAULT_ADDR_E2E=${E2E_VAULT_ADDR:-}
VAULT_MOUNT=${E2E_VAULT_KV_MOUNT:-secret}

NS="sealsync-e2e-$(date +%s)-$RANDOM"
VAULT_KEY="e2e/$NS/db"
work=$(mktemp -d)
agent_pid=""
failures=0
# Vault's HTTP API, the token read from a file rather than passed on curl's command line.
vault() { # METHOD PATH [CURL ARGS...]
  local method=$1 path=$2
  shift 2
  curl -sf --max-time 10 -X "$method" -H @"$work/vault-header" "$@" "$VAULT_ADDR_E2E/v1/$path"
}
cleanup() {
  if [ -n "$agent_pid" ]; then
    kill "$agent_pid" 2>/dev/null || true
    wait "$agent_pid" 2>/dev/null || true
  fi
  if [ -n "$VAULT_ADDR_E2E" ] && [ -f "$work/vault-header" ]; then
    vault DELETE "$VAULT_MOUNT/metadata/$VAULT_KEY" >/dev/null 2>&1 || true
  fi
  if [ "${KEEP_NAMESPACE:-0}" != 1 ]; then
    "$KUBECTL" delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

k() { "$KUBECTL" -n "$NS" "$@"; }
pass() { echo "ok: $*"; }
fail() {
  echo "FAILED: $*"
  failures=$((failures + 1))
}

# Values are random so a leak is unmistakable; none of them may appear in an Event or annotation.
PASSWORD="e2e-pw-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
UNMANAGED_PASSWORD="e2e-theirs-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
HAND_VALUE="e2e-by-hand-$RANDOM"
VAULT_V1="e2e-vault-1-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
VAULT_V2="e2e-vault-2-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"

echo "== namespace $NS"
"$KUBECTL" create namespace "$NS" >/dev/null

# An unmanaged Secret that git also declares: it must be refused and left as it is.
k create secret generic taken --from-literal=password="$UNMANAGED_PASSWORD" >/dev/null

echo "== a git repository with SOPS-encrypted Secrets (demo recipients)"
repo="$work/repo"
mkdir -p "$repo/apps/e2e"
cp examples/.sops.yaml "$repo/"
(
  cd "$repo"
  git init -q -b main
  export SOPS_AGE_KEY_FILE="$IDENTITY"
  "$SEALCTL" create secret db -n "$NS" --from-literal password="$PASSWORD" -o apps/e2e/db.yaml
  "$SEALCTL" create secret taken -n "$NS" --from-literal password="ours-$RANDOM" -o apps/e2e/taken.yaml
  git add -A
  git -c user.name=e2e -c user.email=e2e@example.invalid commit -qm "e2e secrets"
)

if [ -n "$VAULT_ADDR_E2E" ]; then
  echo "== Vault at $VAULT_ADDR_E2E: $VAULT_MOUNT/$VAULT_KEY, a SecretStore and an ExternalSecret in git"
  : "${E2E_VAULT_TOKEN:?E2E_VAULT_TOKEN is needed with E2E_VAULT_ADDR}"
  (umask 077 && printf 'X-Vault-Token: %s\n' "$E2E_VAULT_TOKEN" >"$work/vault-header")
  vault POST "$VAULT_MOUNT/data/$VAULT_KEY" -d "{\"data\":{\"password\":\"$VAULT_V1\"}}" >/dev/null
  (
    cd "$repo"
    export SOPS_AGE_KEY_FILE="$IDENTITY"
    # The store's token, committed encrypted beside it (from standard input: not in ps).
    printf '%s' "$E2E_VAULT_TOKEN" \
      | "$SEALCTL" create secret vault-token -n "$NS" --from-file token=- -o apps/e2e/vault-token.yaml
    cat >apps/e2e/vault.yaml <<EOF
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: vault
  namespace: $NS
spec:
  provider:
    vault:
      server: $VAULT_ADDR_E2E
      path: $VAULT_MOUNT
      version: v2
      auth:
        tokenSecretRef:
          name: vault-token
          key: token
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: from-vault
  namespace: $NS
spec:
  refreshInterval: 1s
  secretStoreRef:
    name: vault
    kind: SecretStore
  target:
    name: from-vault
  data:
    - secretKey: password
      remoteRef:
        key: $VAULT_KEY
        property: password
EOF
    git add -A
    git -c user.name=e2e -c user.email=e2e@example.invalid commit -qm "e2e: a Vault reference"
  )
fi

echo "== the agent (git poll interval 1h: reverts must come from the watch)"
POD_NAMESPACE="$NS" POD_NAME="sealsync-e2e" "$SEALSYNC" run --sink kube \
  --repo "$repo" --ref main --path apps \
  --identity "$IDENTITY" \
  --namespace-policy "apps/**=$NS" \
  --default-namespace "$NS" \
  --interval 1h --listen "$LISTEN" --log-format json \
  >"$work/agent.log" 2>&1 &
agent_pid=$!

ms() { echo $(($(date +%s%N) / 1000000)); }
# Waits until the command succeeds; prints how long it took, fails after $2 seconds.
wait_for() {
  local what=$1 limit_ms=$(($2 * 1000)) start
  shift 2
  start=$(ms)
  while true; do
    if "$@" >/dev/null 2>&1; then
      pass "$what ($(($(ms) - start)) ms)"
      return 0
    fi
    if [ $(($(ms) - start)) -gt "$limit_ms" ]; then
      fail "$what (not within ${limit_ms} ms)"
      return 1
    fi
    sleep 0.05
  done
}

b64() { printf '%s' "$1" | base64 -w0; }
# The Secret holds the desired value and carries the managed-by label.
restored() {
  [ "$(k get secret db -o jsonpath='{.data.password}')" = "$(b64 "$PASSWORD")" ] \
    && [ "$(k get secret db -o jsonpath='{.metadata.labels.app\.kubernetes\.io/managed-by}')" = sealsync ]
}

if ! wait_for "the agent applied db" 60 restored; then
  echo "--- agent log"
  tail -50 "$work/agent.log"
  exit 1
fi

if [ "$(k get secret taken -o jsonpath='{.data.password}')" = "$(b64 "$UNMANAGED_PASSWORD")" ] \
  && [ -z "$(k get secret taken -o jsonpath='{.metadata.labels.app\.kubernetes\.io/managed-by}')" ]; then
  pass "the unmanaged Secret is left alone"
else
  fail "the unmanaged Secret was changed"
fi

echo "== drift: kubectl patch"
k patch secret db --type merge -p "{\"data\":{\"password\":\"$(b64 "$HAND_VALUE")\"}}" >/dev/null
wait_for "kubectl patch reverted" "$DEADLINE" restored || true

echo "== drift: kubectl label ...-"
k label secret db app.kubernetes.io/managed-by- >/dev/null
wait_for "label removal reverted" "$DEADLINE" restored || true

echo "== drift: kubectl delete"
k delete secret db --wait=false >/dev/null
sleep 0.2
wait_for "deletion reverted" "$DEADLINE" restored || true

if [ -n "$VAULT_ADDR_E2E" ]; then
  echo "== ExternalSecret from Vault"
  # The Secret holds the value given ($1) and carries the managed-by label.
  from_vault() {
    [ "$(k get secret from-vault -o jsonpath='{.data.password}')" = "$(b64 "$1")" ] \
      && [ "$(k get secret from-vault -o jsonpath='{.metadata.labels.app\.kubernetes\.io/managed-by}')" = sealsync ]
  }
  wait_for "the ExternalSecret resolved from Vault" 60 from_vault "$VAULT_V1" || true
  vault POST "$VAULT_MOUNT/data/$VAULT_KEY" -d "{\"data\":{\"password\":\"$VAULT_V2\"}}" >/dev/null
  wait_for "the value rotated in Vault reached the Secret (refreshInterval 1s)" "$DEADLINE" from_vault "$VAULT_V2" || true
else
  echo "skipped: the Vault scenario (E2E_VAULT_ADDR is not set)"
fi

echo "== Events"
notes=$("$KUBECTL" get events.events.k8s.io -n "$NS" -o jsonpath='{range .items[*]}{.reason}{"\t"}{.note}{"\n"}{end}' 2>/dev/null || true)
core=$(k get events -o jsonpath='{range .items[*]}{.reason}{"\t"}{.message}{"\n"}{end}' 2>/dev/null || true)
all="$notes"$'\n'"$core"
for reason in DriftReverted Unmanaged; do
  if echo "$all" | grep -q "^$reason"; then pass "$reason Event written"; else fail "no $reason Event"; fi
done
annotations=$(k get secrets -o jsonpath='{range .items[*]}{.metadata.annotations}{.metadata.labels}{"\n"}{end}')
values=("$PASSWORD" "$UNMANAGED_PASSWORD" "$HAND_VALUE")
[ -z "$VAULT_ADDR_E2E" ] || values+=("$VAULT_V1" "$VAULT_V2" "$E2E_VAULT_TOKEN")
for v in "${values[@]}"; do
  for form in "$v" "$(b64 "$v")"; do
    if printf '%s\n%s\n' "$all" "$annotations" | grep -qF -- "$form"; then
      fail "a value appears in an Event, label or annotation"
    fi
  done
done
for v in "${values[@]}"; do
  if grep -qF -- "$v" "$work/agent.log"; then fail "a value appears in the agent's log"; fi
done
pass "no value in Events, labels, annotations or the log"

if [ "$failures" -gt 0 ]; then
  echo "--- agent log (last 50 lines)"
  tail -50 "$work/agent.log"
  echo "$failures check(s) failed"
  exit 1
fi
echo "all end-to-end checks passed"
