# syntax=docker/dockerfile:1.7
# The weft image: the `weft` binary (every subcommand: run, registry serve, topics, schemas, console)
# with the Avro schemas (avro/) and topic specs (topics/) it reads at run time, on a minimal
# non-root base. Used by the Helm chart (helm/weft):
#
#   docker build -t registry.example.com/platform/weft:0.1.0 .
#   docker push registry.example.com/platform/weft:0.1.0
#   helm install weft helm/weft --set image.repository=registry.example.com/platform/weft ...
#
# Stage 1 builds a release binary (librdkafka is compiled from source by rdkafka-sys, with OpenSSL
# and zlib); stage 2 is distroless/cc (glibc, libgcc, OpenSSL, CA certificates, no shell, no package
# manager) running as uid 65532. The image's tag is the weft version (Cargo.toml), the chart's
# appVersion.

ARG RUST_VERSION=1.95
ARG DEBIAN=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config libssl-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin weft \
 && mkdir -p /out/lib \
 && cp target/release/weft /out/weft \
 && strip /out/weft
# The runtime base has glibc, libgcc and OpenSSL but not zlib: copy it, into the multiarch
# directory of this architecture. Any other shared library the binary needs fails the build here
# instead of at the first start.
RUN triplet="$(gcc -dumpmachine)" \
 && mkdir -p "/out/lib/${triplet}" \
 && cp -L "/usr/lib/${triplet}/libz.so.1" "/out/lib/${triplet}/" \
 && unexpected="$(ldd /out/weft | awk '{print $1}' \
      | grep -Ev '^(linux-vdso\.so\.1|/lib64/ld-linux.*|/lib/ld-linux.*|libz\.so\.1|libssl\.so\.3|libcrypto\.so\.3|libgcc_s\.so\.1|libm\.so\.6|libc\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1)$' || true)" \
 && if [ -n "$unexpected" ]; then echo "weft needs shared libraries the runtime image lacks: $unexpected" >&2; exit 1; fi

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="weft" \
      org.opencontainers.image.description="Kafka-native stream processing for ERP event systems: processors, schema registry, topic provisioning, console" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/lib/ /usr/lib/
COPY --from=build /out/weft /usr/local/bin/weft
COPY --from=build /src/avro /usr/share/weft/avro
COPY --from=build /src/topics /usr/share/weft/topics
ENV WEFT_AVRO_DIR=/usr/share/weft/avro \
    WEFT_TOPICS_DIR=/usr/share/weft/topics \
    WEFT_SINK_DIR=/var/lib/weft/sinks
WORKDIR /usr/share/weft
# distroless' nonroot user; the chart's securityContext runs as the same uid/gid.
USER 65532:65532
# /health/*, /metrics of `weft run`; the registry's HTTP port.
EXPOSE 9464 8081
ENTRYPOINT ["/usr/local/bin/weft"]
CMD ["--help"]
