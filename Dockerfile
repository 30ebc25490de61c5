# syntax=docker/dockerfile:1
# The sealsync image: the agent (`sealsync`, the entrypoint) and the CLI (`sealctl`, handy for
# `kubectl exec ... /sealctl ...`), built by scripts/build-release.sh - the build every figure in
# docs/benchmarks.md measures - on distroless/cc, running as UID/GID 65532, the IDs the manifests in
# deploy/ pin. Build with BuildKit (Docker 23+ or buildx) or buildah:
#   docker build -t sealsync:dev .
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/sealsync:TAG --push .
#   scripts/image-smoke.sh      # offline: both base images made from Debian packages, built, run, measured
#
# glibc, not musl: the shipped build is the one that was measured. Its memory figures depend on glibc
# (the malloc arena limit and trim of src/agent/malloc.rs) and on GNU/Linux link options (build.rs: the
# agent's hot code first, packed relocations), none of which a musl build gets; and the musl target could
# not be installed where the benchmarks run. A glibc binary needs glibc and libgcc_s at run time, hence
# distroless/cc (distroless/static plus those libraries), of the same Debian release as the builder, so
# the binary needs no newer glibc than the image has.

# Base images, as build arguments so that a mirror or an offline copy can stand in. The runtime image is
# pinned by digest (the digest public Dockerfiles pin for this tag; it could not be checked against the
# registry from the machine this was written on: verify it, e.g. `crane digest
# gcr.io/distroless/cc-debian12:nonroot`, and refresh both pins in your release pipeline). The builder's
# tag names the toolchain the figures were measured with.
ARG BUILDER_IMAGE=docker.io/library/rust:1.95-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f
# Where the binaries come from: the builder stage below, or an image holding the output of
# scripts/build-release.sh in /out (scripts/image-smoke.sh, where no Rust image can be pulled).
ARG BINARIES=builder

# ---- build -------------------------------------------------------------------------------------
# The builder runs on the target platform (emulated under buildx for a foreign one): no cross
# toolchain, and build.rs applies the same link options as on a developer's machine.
FROM ${BUILDER_IMAGE} AS builder
ENV CARGO_TERM_COLOR=never
WORKDIR /src
# Only what the build reads: .dockerignore keeps everything else, private keys included, out of the
# build context.
COPY . .
# The cache mounts keep the registry and the target directory between builds; they are not part of
# any layer, so the binaries are copied out of target/ (by the script) in the same step. --locked
# (in the script): exactly the dependency versions reviewed in Cargo.lock.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    scripts/build-release.sh /out

FROM ${BINARIES} AS binaries

# ---- run ---------------------------------------------------------------------------------------
# distroless/cc: glibc, libgcc_s, CA certificates (HTTPS to git hosts, Vault, AWS), tzdata and an
# /etc/passwd with the user nonroot (65532); no shell, no package manager, no git or ssh binaries
# (the agent fetches with gix over HTTPS or git://).
FROM ${RUNTIME_IMAGE}

LABEL org.opencontainers.image.title="sealsync" \
      org.opencontainers.image.description="A secrets-aware GitOps agent for Kubernetes (sealsync) and its CLI (sealctl)" \
      org.opencontainers.image.licenses="Apache-2.0"

# Owned by root and not writable by the user that runs them.
COPY --from=binaries /out/sealsync /out/sealctl /

# Numeric, so that the kubelet can verify runAsNonRoot without reading /etc/passwd.
USER 65532:65532
# /metrics, /healthz, /readyz and the webhook, when started with --listen=0.0.0.0:8080.
EXPOSE 8080
ENTRYPOINT ["/sealsync"]
