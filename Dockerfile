# syntax=docker/dockerfile:1
# soc2-operator image: the operator (entrypoint) and soc2ctl, on distroless, as UID 65532.
#   docker build -t ghcr.io/soc2-operator/soc2-operator:0.1.0 .
# Needs BuildKit (the default builder) for the cache mounts.

FROM rust:1.95-bookworm AS builder
WORKDIR /src
# The whole crate (Cargo.toml declares the tests and e2e targets, so their files must exist); .dockerignore keeps
# target/, .git/ and everything that is not Rust out of the context.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin soc2-operator --bin soc2ctl \
    && mkdir -p /out \
    && cp target/release/soc2-operator target/release/soc2ctl /out/

# cc: glibc and libgcc (Rust binaries link them dynamically); nonroot: UID/GID 65532, no shell.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="soc2-operator" \
      org.opencontainers.image.description="Kubernetes operator that turns SOC 2 controls into continuously checked, auditor-ready evidence" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0"
COPY --from=builder /out/soc2-operator /out/soc2ctl /usr/local/bin/
USER 65532:65532
# Admin server: /metrics, /healthz, /readyz.
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/soc2-operator"]
