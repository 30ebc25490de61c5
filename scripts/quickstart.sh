#!/usr/bin/env bash
# The quickstart: builds sealctl and walks through the example GitOps repository in examples/ with the
# published demo identity — decrypt a committed Secret, create and encrypt a new one, check the repo.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin sealctl
SEALCTL="$PWD/target/release/sealctl"
export SOPS_AGE_KEY_FILE="$PWD/examples/demo-identity.agekey"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== decrypt a Secret committed in examples/ (MAC verified first)"
"$SEALCTL" decrypt examples/apps/team-a/db-credentials.yaml

echo "== create a new encrypted Secret (recipients and rules from examples/.sops.yaml)"
mkdir -p "$work/apps/team-a"
cp examples/.sops.yaml "$work/"
(cd "$work" && "$SEALCTL" create secret payment-api -n team-a \
  --from-literal api-key=demo-only-key -o apps/team-a/payment-api.yaml)
sed -n '1,12p' "$work/apps/team-a/payment-api.yaml"

echo "== decrypt it again"
"$SEALCTL" decrypt --extract '["stringData"]["api-key"]' "$work/apps/team-a/payment-api.yaml"; echo

echo "== check the example repository (the broken file is reported on purpose)"
(cd examples && "$SEALCTL" check apps) || echo "(check exit code $? — see the finding above)"
