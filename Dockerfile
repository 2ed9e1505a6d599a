# syntax=docker/dockerfile:1
# The `xpyd` CLI as a static binary (musl) on a distroless base: no shell, no libc, no
# package manager. This is the image `xpyd plan --emit-job` pods run (its `--job-image`
# default is ghcr.io/xpyd/xpyd:<version>). Build and push (README, "Container images"):
#
#   docker build -t ghcr.io/OWNER/xpyd:0.1.0 .            # or: podman build ...
#   docker push ghcr.io/OWNER/xpyd:0.1.0
#
# Everything xpyd needs at run time (default scenario, GPU profiles, built-in traces,
# chart font) is compiled into the binary; it reads no files but the ones it is given.

ARG RUST_VERSION=1.95.0

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
# musl-tools: musl-gcc for the C in zstd-sys (parquet's zstd).
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
# --locked: the versions of Cargo.lock, as every other build of the project.
RUN cargo build --release --locked --target x86_64-unknown-linux-musl --bin xpyd \
 && cp target/x86_64-unknown-linux-musl/release/xpyd /xpyd \
 && /xpyd --version

# distroless/static: CA certificates, tzdata and a nonroot user (65532), nothing else.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /xpyd /usr/local/bin/xpyd
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/xpyd"]
CMD ["--help"]
