#!/usr/bin/env bash
# Builds SeaweedFS's `weed` (the S3-compatible server the backup tests start)
# from the Go module proxy, once per machine, into a cache outside the repo:
#   scripts/weed.sh          builds it when missing, prints its path
#   scripts/weed.sh --path   prints where it is (or would be) without building
#
# A cold build takes a quarter of an hour or more and about 2 GB of module
# cache, so the binary is kept in $MOSAIC_TEST_CACHE (default
# ~/.cache/mosaic-test) and later runs only check that it is there. A lock
# makes concurrent runs (two `make test`s, two worktrees) build it once.
# The version must match tablet/backupstore/s3test WeedVersion.
set -euo pipefail

WEED_MODULE=github.com/seaweedfs/seaweedfs
WEED_VERSION=v0.0.0-20261109003541-7506e5f91cd6
cache="${MOSAIC_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mosaic-test}"
dir="$cache/weed-$WEED_VERSION"
bin="$dir/weed"

if [ "${1:-}" = "--path" ]; then
  echo "$bin"
  exit 0
fi
[ -x "$bin" ] && { echo "$bin"; exit 0; }

mkdir -p "$cache"
exec 9>"$cache/weed-$WEED_VERSION.lock"
echo "waiting for the weed build lock $cache/weed-$WEED_VERSION.lock" >&2
flock 9
[ -x "$bin" ] && { echo "$bin"; exit 0; }

work="$(mktemp -d "$cache/weed-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work"
GOVERSION="$(go env GOVERSION)"
# A wrapper module whose one tool is weed, with the one replace line
# SeaweedFS's own go.mod has (replace directives of a dependency are ignored,
# so the wrapper repeats it).
cat >go.mod <<EOF
module mosaic.test/weedbuild

go ${GOVERSION#go}

tool $WEED_MODULE/weed

require $WEED_MODULE $WEED_VERSION

replace github.com/tyler-smith/go-bip39 => github.com/cosmos/go-bip39 v1.0.0
EOF
echo "building weed $WEED_VERSION into $dir (cold: about 15 minutes, 2 GB of modules)" >&2
export GOFLAGS=-mod=mod CGO_ENABLED=0
go mod tidy >&2
go build -buildvcs=false -trimpath -o "$work/weed" "$WEED_MODULE/weed" >&2
mkdir -p "$dir"
mv "$work/weed" "$bin.tmp"
mv "$bin.tmp" "$bin"
echo "$bin"
