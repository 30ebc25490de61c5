# syntax=docker/dockerfile:1
# The sealsync image: the agent (`sealsync`, the entrypoint) and the CLI (`sealctl`, handy for
# `kubectl exec ... /sealctl ...`), each one fully static binary on distroless/static, running as
# UID/GID 65532 - the IDs the manifests in deploy/ pin. Build with BuildKit (Docker 23+ or buildx):
#   docker build -t sealsync:dev .
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/sealsync:TAG --push .
# Pin both base images by digest in your release pipeline; the tags below move.

# ---- build -------------------------------------------------------------------------------------
# musl, not glibc: a static glibc binary still loads NSS modules at run time (name resolution), which
# distroless/static does not have. The builder runs on the target platform (emulated under buildx
# for a foreign one), so `uname -m` names the right musl target and no cross toolchain is needed.
FROM rust:1-bookworm AS builder

# musl-gcc, for the C parts of dependencies (ring and the like) when targeting musl.
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/*
RUN rustup target add "$(uname -m)-unknown-linux-musl"

# Smaller binaries; Cargo.toml's release profile is left as developers use it.
ENV CARGO_PROFILE_RELEASE_STRIP=symbols \
    CARGO_TERM_COLOR=never

WORKDIR /src
# Only what the build reads (.dockerignore keeps everything else, private keys included, out of the
# build context).
COPY Cargo.toml Cargo.lock build.rs ./
# linker/sealsync.order: read by build.rs for GNU/Linux builds only; this musl build keeps the default layout.
COPY linker ./linker
COPY src ./src
COPY crates ./crates
# Named by Cargo.toml (the gen_repo example target, and the test API server: a workspace member and dev-dependency);
# cargo reads their manifests, the release build compiles neither.
COPY benches/gen_repo.rs ./benches/
COPY tests/kube-api-server/Cargo.toml ./tests/kube-api-server/
COPY tests/kube-api-server/src ./tests/kube-api-server/src

# The cache mounts keep the registry and the target directory between builds; they are not part of
# any layer, so the binaries are copied out of target/ in the same step. --locked: exactly the
# dependency versions reviewed in Cargo.lock. The last line refuses a dynamically linked result
# (one with an ELF interpreter), which would not start on distroless/static.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    set -eux; \
    target="$(uname -m)-unknown-linux-musl"; \
    cargo build --release --locked --target "$target" --bin sealsync --bin sealctl; \
    mkdir -p /out; \
    cp "target/$target/release/sealsync" "target/$target/release/sealctl" /out/; \
    for bin in /out/sealsync /out/sealctl; do \
      if readelf -l "$bin" | grep -q INTERP; then echo "$bin is not static" >&2; exit 1; fi; \
    done

# ---- run ---------------------------------------------------------------------------------------
# distroless/static: CA certificates (HTTPS to git hosts, Vault, AWS), tzdata and an /etc/passwd with
# the user nonroot (65532); no shell, no package manager, no git or ssh binaries (the agent fetches
# with gix over HTTPS).
FROM gcr.io/distroless/static-debian12:nonroot

LABEL org.opencontainers.image.title="sealsync" \
      org.opencontainers.image.description="A secrets-aware GitOps agent for Kubernetes (sealsync) and its CLI (sealctl)" \
      org.opencontainers.image.licenses="Apache-2.0"

# Owned by root and not writable by the user that runs them.
COPY --from=builder /out/sealsync /out/sealctl /

# Numeric, so that the kubelet can verify runAsNonRoot without reading /etc/passwd.
USER 65532:65532
# /metrics, /healthz, /readyz and the webhook, when started with --listen=0.0.0.0:8080.
EXPOSE 8080
ENTRYPOINT ["/sealsync"]
