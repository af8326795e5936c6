# dc-gateway container image: a release build in the Rust image, then only the binary, the
# templates and the demo zone on a distroless base (glibc, CA certificates, no shell), running
# as the unprivileged user 65532 on a read-only root filesystem.
#
#   docker build -t dc-gateway .     (or: buildah bud -t dc-gateway .)
#   docker run --read-only --tmpfs /var/lib/dc-gateway -p 8080:8080 dc-gateway
#
# Mount your own configuration (for example at /etc/dc-gateway/config.toml, with
# DCGW_CONFIG=/etc/dc-gateway/config.toml) and your templates over /etc/dc-gateway/templates. State (SQLite, zone files of
# the zonefile backend) lives in /var/lib/dc-gateway: a volume, or nothing at all with
# PostgreSQL and a network backend.

FROM docker.io/library/rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so a change to the sources does not rebuild them.
COPY Cargo.toml Cargo.lock ./
COPY adapters adapters
COPY benches benches
COPY src src
COPY config config
COPY migrations migrations
RUN cargo build --release --locked --bin dc-gateway \
 && install -D -m 0755 target/release/dc-gateway /out/usr/local/bin/dc-gateway

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="dc-gateway" \
      org.opencontainers.image.description="Domain Connect gateway: the DNS-Provider side of Domain Connect on pluggable DNS backends" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
COPY --from=build /out/ /
COPY templates /etc/dc-gateway/templates
# The embedded default seeds its demo zone from config/example.com.zone (relative to WORKDIR).
COPY config/example.com.zone /etc/dc-gateway/config/example.com.zone
WORKDIR /etc/dc-gateway
ENV DCGW__SERVER__LISTEN=0.0.0.0:8080 \
    DCGW__SERVER__DATA_DIR=/var/lib/dc-gateway \
    DCGW__TEMPLATES__DIR=/etc/dc-gateway/templates \
    DCGW__TELEMETRY__LOG_FORMAT=json
USER 65532:65532
VOLUME ["/var/lib/dc-gateway"]
EXPOSE 8080 9100
ENTRYPOINT ["/usr/local/bin/dc-gateway"]
CMD ["serve"]
