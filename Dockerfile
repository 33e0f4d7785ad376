# The one image of every part of the service: ECS runs `catalog <subcommand>` (write-api,
# read-api, relay, process-images, project, notify, resync, rebuild, ...), see infra-cdk/: the
# task definitions' entry point is `catalog`, on x86_64 Linux.
#
#   docker build -t photo-catalog:$(git rev-parse --short HEAD) .
#
# The dependencies are built in a layer of their own (cargo-chef): the planner reduces the
# workspace to its manifests and lock file (recipe.json), and the cook builds every dependency
# from that alone, the C libraries the -sys crates compile (libjpeg-turbo, libaom, libavif)
# included. That layer is reused for as long as no manifest or Cargo.lock changes, so a change
# of the service's own code rebuilds only the workspace's crates. The deploy pipeline
# (.github/workflows/deploy.yml) keeps the layers in the GitHub Actions cache between runs.

# Rust 1.95 on Debian bookworm, as the runtime stage below: the same glibc and libheif.
FROM lukemathwalker/cargo-chef:latest-rust-1.95-bookworm AS chef
# libjpeg-turbo, libaom and libavif are built from source by their -sys crates (cmake, nasm);
# Little CMS and libheif are linked.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake nasm pkg-config liblcms2-dev libheif-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json --bin catalog

FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
# The dependency layer: rebuilt only when recipe.json (the manifests, Cargo.lock) changes.
RUN cargo chef cook --profile container --locked --bin catalog --recipe-path recipe.json
COPY . .
RUN cargo build --profile container --locked --bin catalog

FROM debian:bookworm-slim
# CA certificates for AWS endpoints and sellers' https webhooks; Little CMS and libheif (with
# its HEVC decoder, libde265) at run time.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates liblcms2-2 libheif1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home catalog
COPY --from=build /src/target/container/catalog /usr/local/bin/catalog
USER catalog
ENTRYPOINT ["catalog"]
