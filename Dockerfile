# syntax=docker/dockerfile:1
# The pacer binary in a small image: built with the Rust toolchain (librdkafka is compiled from source by
# rdkafka-sys), then copied onto Debian slim with only what it links against.

FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin pacer \
 && cp target/release/pacer /usr/local/bin/pacer

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates zlib1g \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/pacer /usr/local/bin/pacer
# No root at run time.
USER 65532:65532
ENTRYPOINT ["pacer"]
CMD ["--help"]
