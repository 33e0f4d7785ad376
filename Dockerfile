# The one image of every part of the service: ECS runs `catalog <subcommand>` (write-api,
# read-api, relay, process-images, project, notify, resync), see infra-cdk/.
#
#   docker build -t photo-catalog:$(git rev-parse --short HEAD) .

FROM rust:1.95-bookworm AS build
# libjpeg-turbo, libaom and libavif are built from source by their -sys crates (cmake, nasm);
# Little CMS and libheif are linked.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake nasm pkg-config liblcms2-dev libheif-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
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
