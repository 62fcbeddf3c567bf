# One image for both processes: `intake serve` and `intake-worker`.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --workspace

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home /var/lib/intake intake \
    && mkdir -p /var/lib/intake/blobs && chown -R intake /var/lib/intake
COPY --from=build /src/target/release/intake /src/target/release/intake-worker /usr/local/bin/
COPY samples /usr/share/intake/samples
USER intake
WORKDIR /var/lib/intake
ENV INTAKE_BLOB_DIR=/var/lib/intake/blobs
EXPOSE 8080
CMD ["intake", "serve"]
