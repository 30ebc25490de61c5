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

# Base images, as build arguments so that a mirror or an offline copy can stand in. Both are pinned by
# the digest of their multi-arch index, so a tag that moves (a rebuilt toolchain image, a distroless
# security update) changes nothing here until someone changes the pin on purpose. The builder's tag
# names the toolchain the figures were measured with (rustc 1.95.0).
#
# Where the pins come from: the machine this was written on reaches no image registry, so each digest is
# the one public Dockerfiles and manifests pin for exactly that tag; the builder's also appears in a
# BuildKit log resolving that tag (2026), the runtime's in a record dated 2026-10. Verify and refresh
# both with a registry client before a release, and review the change like a dependency bump:
#   crane digest docker.io/library/rust:1.95.0-bookworm              # or: docker buildx imagetools inspect
#   crane digest gcr.io/distroless/cc-debian12:nonroot                #      REF --format '{{.Manifest.Digest}}'
#   cosign verify gcr.io/distroless/cc-debian12:nonroot@sha256:... \
#     --certificate-identity keyless@distroless.iam.gserviceaccount.com \
#     --certificate-oidc-issuer https://accounts.google.com           # distroless images are signed
# A digest that no longer matches the tag is not an error: the tag moved. Take the new one only after
# reading what changed (for distroless, the Debian security updates it carries).
ARG BUILDER_IMAGE=docker.io/library/rust:1.95.0-bookworm@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1
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
