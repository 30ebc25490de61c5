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

echo "== sealctl: decrypt one of the committed files"
SOPS_AGE_KEY_FILE=examples/demo-identity.agekey "$BIN/sealctl" decrypt \
  --extract '["stringData"]["host"]' examples/apps/team-b/smtp.yaml; echo
