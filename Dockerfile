# syntax=docker/dockerfile:1
# The svc image: one binary that is `svc api`, `svc worker` and the process manager.
#
#   docker build -t svc:0.1.0 .
#   docker run --rm -p 3000:3000 svc:0.1.0 api           # the API on :3000 (HOST=0.0.0.0 below)
#   docker run --rm svc:0.1.0 worker                     # the email worker
#
# Kubernetes runs the same image twice (deploy/kubernetes/: args ["api"] / ["worker"]), with its
# own probes (/health, /ready), so there is no HEALTHCHECK here. tests/deploy.rs checks this file
# against the manifests (binary path, user, port).

ARG RUST_VERSION=1.95

# ---- build: the release binary, with the registry and target folder cached between builds.
FROM rust:${RUST_VERSION}-slim-bookworm AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin svc \
    && install -D -m 0755 target/release/svc /out/svc \
    && install -d -m 0755 /out/data

# ---- runtime: glibc and libgcc only (distroless/cc, Debian 12 like the builder), no shell, no
# package manager; runs as the image's non-root user 65532 ("nonroot").
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=builder /out/svc /usr/local/bin/svc
# DATA_DIR for the embedded store (docker run without a database); Kubernetes mounts an emptyDir here.
COPY --from=builder --chown=65532:65532 /out/data /app/data
WORKDIR /app
USER 65532:65532
ENV HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/app/data
EXPOSE 3000
ENTRYPOINT ["/usr/local/bin/svc"]
CMD ["api"]
