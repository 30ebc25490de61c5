#!/usr/bin/env bash
# Installs the real servers tests/git_source.rs starts on 127.0.0.1: git daemon and git http-backend (git),
# lighttpd with mod_openssl (HTTP and HTTPS), sshd and ssh-keygen (OpenSSH), and openssl (test CA, HMAC).
# Meant to be called from .ci/run on a fresh Debian machine (as root). The tests start and stop the servers.
set -euo pipefail
need=()
command -v git >/dev/null || need+=(git)
command -v lighttpd >/dev/null || need+=(lighttpd)
[ -e /usr/lib/lighttpd/mod_openssl.so ] || need+=(lighttpd-mod-openssl)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
command -v openssl >/dev/null || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
