#!/usr/bin/env bash
# Builds the shipped binaries: `sealsync` (the agent) and `sealctl`, release profile, glibc, for the
# machine's own target. The Dockerfile runs this script, and every script under scripts/bench/ measures
# its output, so the figures in docs/benchmarks.md are the image's.
#
#   scripts/build-release.sh [OUT]     # default OUT: target/ship
#
# OUT gets the two binaries with their symbol tables stripped (not loaded at run time, so memory and
# speed are the same; the files are smaller). target/release keeps the unstripped ones, which
# `scripts/link-order.sh` and `--check` read.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/ship}"
export CARGO_INCREMENTAL=0

cargo build --release --locked --bin sealsync --bin sealctl >&2
mkdir -p "$out"
for bin in sealsync sealctl; do
  strip --strip-all -o "$out/$bin.tmp" "target/release/$bin"
  mv -f "$out/$bin.tmp" "$out/$bin"
done
ls -l "$out/sealsync" "$out/sealctl" >&2
