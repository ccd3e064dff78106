# The Mosaic image: mosaic (tablet, gate), mosaicctl and mosaic-operator,
# with MariaDB 10.11 (mariadbd, mariadb-install-db, mariadb-backup) from
# Debian bookworm. Build it with `make image`; docs/kubernetes.md says how
# the operator uses it.
FROM golang:1.26-bookworm AS build
ENV GOTOOLCHAIN=local CGO_ENABLED=0
WORKDIR /src
COPY go.mod go.sum ./
COPY operator/go.mod operator/go.sum ./operator/
RUN go mod download && cd operator && go mod download
COPY . .
RUN go build -trimpath -ldflags='-s -w' -o /out/ ./cmd/mosaic ./cmd/mosaicctl \
 && cd operator && go build -trimpath -ldflags='-s -w' -o /out/ ./cmd/mosaic-operator

FROM debian:bookworm-slim
# The mosaic user comes first so that it gets uid 999, which the
# operator's pods run as (runAsUser, fsGroup).
RUN groupadd --system --gid 999 mosaic \
 && useradd --system --uid 999 --gid 999 --home-dir /data --no-create-home mosaic \
 && apt-get update \
 && apt-get install -y --no-install-recommends mariadb-server mariadb-backup ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/lib/mysql/* \
 && mkdir -p /data && chown mosaic:mosaic /data
COPY --from=build /out/ /usr/local/bin/
USER 999:999
WORKDIR /data
ENTRYPOINT ["mosaic"]
