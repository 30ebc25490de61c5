#!/usr/bin/env bash
# Builds the sealsync image offline and runs it: the Dockerfile, with both base images given as build
# arguments, syncs the standard benchmark repository (N generated Secrets) into a mounted folder, and
# the container's memory is measured next to the same binary's outside the container.
#
#   scripts/image-smoke.sh            # N=1000; NO_BUILD=1: use target/ship as it is
#
# Needs (Debian): apt-get install podman buildah mmdebstrap runc
#   - the runtime base: mmdebstrap extracts libc6, libgcc-s1 and ca-certificates (what distroless/cc
#     adds to distroless/static) from the machine's apt sources, plus a CA bundle and the nonroot user
#     (65532); imported as localhost/sealsync-base-cc:bookworm. No shell, no package manager.
#   - the binaries: scripts/build-release.sh's output in a scratch image at /out, passed as BINARIES:
#     no Rust image can be pulled offline, so the Dockerfile's builder stage (which runs the same
#     script) is skipped.
#   - the repository is served by `git daemon` on loopback (the image has no git binary for file://);
#     the container shares the host's network.
#   - runc, not crun: crun refuses a hybrid cgroup v1/v2 layout with controllers on the v2 side (this
#     machine's). Resource limits are given explicitly: podman's defaults raise RLIMIT_NOFILE and
#     RLIMIT_NPROC, which a runtime without CAP_SYS_RESOURCE may not do.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/bench/lib.sh"
cd "$BENCH_ROOT"
N="${N:-1000}"
tag="${IMAGE_TAG:-localhost/sealsync:smoke}"
base=localhost/sealsync-base-cc:bookworm
bins=localhost/sealsync-binaries:smoke
podman=(podman --runtime runc)
limits=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=4096:4096)
for tool in podman buildah mmdebstrap runc git curl; do
  command -v "$tool" >/dev/null || { echo "$tool is needed: apt-get install podman buildah mmdebstrap runc" >&2; exit 1; }
done

work="$(mktemp -d /tmp/sealsync-image-smoke.XXXXXX)"
sink="$(mktemp -d "$SINK_BASE/sealsync-image-smoke.XXXXXX")"
name="sealsync-smoke-$$"
daemon_pid=""
host_pid=""
cleanup() {
  "${podman[@]}" rm -f -t 5 "$name" >/dev/null 2>&1 || true
  for pid in "$host_pid" "$daemon_pid"; do
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$work" "$sink"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== the shipped binaries (scripts/build-release.sh)" >&2
build_release

echo "== the runtime base from Debian packages: $base" >&2
if [ "${REBUILD_BASE:-0}" = 1 ] || ! "${podman[@]}" image exists "$base"; then
  sources=(/etc/apt/sources.list.d/*.sources)
  [ -e "${sources[0]}" ] || sources=(/etc/apt/sources.list)
  # shellcheck disable=SC2016 # the hooks' $1 is mmdebstrap's, the root being built
  mmdebstrap --variant=extract --include=libc6,libgcc-s1,ca-certificates --format=tar \
    --customize-hook='cat "$1"/usr/share/ca-certificates/mozilla/*.crt >"$1"/etc/ssl/certs/ca-certificates.crt' \
    --customize-hook='printf "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n" >"$1"/etc/passwd' \
    --customize-hook='printf "root:x:0:\nnonroot:x:65532:\n" >"$1"/etc/group' \
    --customize-hook='mkdir -p "$1"/tmp "$1"/home/nonroot && chmod 1777 "$1"/tmp && chown 65532:65532 "$1"/home/nonroot' \
    --customize-hook='rm -rf "$1"/usr/share/doc "$1"/usr/share/man "$1"/var/cache/apt "$1"/var/lib/apt/lists' \
    bookworm "$work/base.tar" "${sources[@]}" 2>"$work/mmdebstrap.log" ||
    { tail -20 "$work/mmdebstrap.log" >&2; exit 1; }
  "${podman[@]}" import -q "$work/base.tar" "$base" >/dev/null
fi

echo "== the binaries image: $bins" >&2
ctr=$(buildah from scratch)
buildah copy -q "$ctr" "$BIN/sealsync" "$BIN/sealctl" /out/ >/dev/null
buildah commit -q --rm "$ctr" "$bins" >/dev/null

echo "== buildah bud: $tag" >&2
buildah bud --isolation chroot --pull-never -q --build-arg "RUNTIME_IMAGE=$base" --build-arg "BINARIES=$bins" \
  -t "$tag" . >/dev/null
"${podman[@]}" run --rm "${limits[@]}" --entrypoint /sealctl "$tag" --version >&2

echo "== the standard benchmark repository: $N Secrets, served by git daemon" >&2
gen_repo "$work/srv/repo" "$N"
git_init_commit "$work/srv/repo"
git_pack "$work/srv/repo"
git_port=$(free_port)
git daemon --reuseaddr --export-all --listen=127.0.0.1 --port="$git_port" --base-path="$work/srv" "$work/srv" \
  2>"$work/daemon.log" &
daemon_pid=$!
for ((i = 0; i < 100; i++)); do git ls-remote "git://127.0.0.1:$git_port/repo" >/dev/null 2>&1 && break; sleep 0.1; done
repo="git://127.0.0.1:$git_port/repo"

# "rss_kib anon_kib file_kib" of PID.
proc_memory() { awk '/^VmRSS:/ {r=$2} /^RssAnon:/ {a=$2} /^RssFile:/ {f=$2} END {print r, a, f}' "/proc/$1/status"; }
mib() { python3 -c "print(f'{$1/1024:.1f}')"; }
# Waits until the agent on PORT is ready (PID alive), at most 120 s.
wait_ready() { # PORT PID LOG
  local deadline=$((SECONDS + 120))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz" || true)" = 200 ]; do
    kill -0 "$2" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ] || { echo "the agent did not get ready:" >&2; tail -5 "$3" >&2; exit 1; }
    sleep 0.1
  done
}
# The identity as the kubelet mounts it from a Secret: readable by the agent's user only.
mkdir -p "$work/keys"
install -m 0400 -o 65532 -g 65532 "$KEY" "$work/keys/identity.agekey"
key="$work/keys/identity.agekey"
secret="team-00/secret-00000/password"
expected=$(SOPS_AGE_KEY_FILE="$key" "$BIN/sealctl" decrypt --extract '["stringData"]["password"]' \
  "$work/srv/repo/apps/team-00/secret-00000.yaml")

echo "== the container: sealsync run --sink dir:/sink, the folder mounted" >&2
mkdir -p "$sink/container" "$work/cache"
chown 65532:65532 "$sink/container" "$work/cache"
port=$(free_port)
"${podman[@]}" run -d --name "$name" --network host "${limits[@]}" --read-only \
  -v "$sink/container:/sink" -v "$work/cache:/cache" -v "$work/keys:/keys:ro" "$tag" \
  run --repo "$repo" --sink dir:/sink --identity /keys/identity.agekey --cache-dir /cache \
  --interval 1h --listen "127.0.0.1:$port" --log-format json >/dev/null
pid=$("${podman[@]}" inspect -f '{{.State.Pid}}' "$name")
wait_ready "$port" "$pid" <("${podman[@]}" logs "$name" 2>&1)
sleep 1
[ "$(cat "$sink/container/$secret")" = "$expected" ] || { echo "the container wrote a wrong $secret" >&2; exit 1; }
written=$(find "$sink/container" -mindepth 3 -maxdepth 3 -type l -name password | wc -l)
read -r c_rss c_anon c_file < <(proc_memory "$pid")
cg=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' "/proc/$pid/cgroup")
cgdir="/sys/fs/cgroup/memory$cg"
if [ -r "$cgdir/memory.usage_in_bytes" ]; then
  cg_now=$(cat "$cgdir/memory.usage_in_bytes"); cg_peak=$(cat "$cgdir/memory.max_usage_in_bytes")
  cg_stat=$(awk '$1 == "total_rss" || $1 == "total_cache" || $1 == "total_shmem" || $1 == "total_mapped_file" {printf "%s %.1f MiB, ", $1, $2/1048576}' "$cgdir/memory.stat")
elif [ -r "/sys/fs/cgroup$cg/memory.current" ]; then
  cg_now=$(cat "/sys/fs/cgroup$cg/memory.current"); cg_peak=$(cat "/sys/fs/cgroup$cg/memory.peak" 2>/dev/null || echo 0)
  cg_stat=""
else
  cg_now=0; cg_peak=0; cg_stat="(no memory cgroup found for the container)"
fi

echo "== the same binary outside the container, same repository and flags" >&2
mkdir -p "$sink/host"
hport=$(free_port)
"$BIN/sealsync" run --repo "$repo" --sink "dir:$sink/host" --identity "$key" --cache-dir "$work/host-cache" \
  --interval 1h --listen "127.0.0.1:$hport" --log-format json 2>"$work/host.log" &
host_pid=$!
wait_ready "$hport" "$host_pid" "$work/host.log"
sleep 1
[ "$(cat "$sink/host/$secret")" = "$expected" ] || { echo "the host agent wrote a wrong $secret" >&2; exit 1; }
read -r h_rss h_anon h_file < <(proc_memory "$host_pid")

machine_info
echo "image: $tag ($("${podman[@]}" image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.1f MB", $1/1e6}')), runtime base $base; $written Secrets synced into the mounted folder"
echo
echo "| after the first pass of $N Secrets | RSS MiB | RssAnon MiB | RssFile MiB |"
echo "| --- | --- | --- | --- |"
echo "| sealsync in the container | $(mib "$c_rss") | $(mib "$c_anon") | $(mib "$c_file") |"
echo "| the same binary on the host | $(mib "$h_rss") | $(mib "$h_anon") | $(mib "$h_file") |"
echo
echo "container memory cgroup: usage $(mib "$((cg_now / 1024))") MiB, peak $(mib "$((cg_peak / 1024))") MiB; ${cg_stat%, }"
echo "(the cgroup also counts the page cache of the files written into the mounted folder; RSS is the process)"
