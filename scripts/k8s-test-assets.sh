#!/usr/bin/env bash
# k8s-test-assets.sh builds the control-plane binaries that the operator's
# envtest tests run against (kube-apiserver and etcd) from the Go module
# proxy, into a cache outside the repository, and prints the folder that
# holds them (the value for KUBEBUILDER_ASSETS).
#
# A cold build takes about 15 minutes and 2.4 GB of module and build cache on
# two cores; it runs once per machine. Concurrent runs wait on a lock and
# build once. The binaries are built with the machine's Go toolchain:
#   - kube-apiserver from k8s.io/kubernetes, through a wrapper module whose
#     replace lines pin every staging module (k8s.io/api, k8s.io/apiserver, ...)
#     to its published v0.x release (k8s.io/kubernetes's own go.mod points
#     them at ./staging, which a module download does not hold);
#   - etcd from go.etcd.io/etcd/server/v3, through a wrapper whose main calls
#     etcdmain.Main.
#
# Environment: MOSAIC_TEST_CACHE (default ~/.cache/mosaic-test).
set -euo pipefail

K8S_VERSION=v1.37.2
STAGING_VERSION=v0.37.2
ETCD_VERSION=v3.7.3
CACHE=${MOSAIC_TEST_CACHE:-$HOME/.cache/mosaic-test}
DEST=$CACHE/k8s-$K8S_VERSION

have() { [[ -x $DEST/kube-apiserver && -x $DEST/etcd ]]; }

if have; then
	echo "$DEST"
	exit 0
fi

mkdir -p "$CACHE"
exec 9>"$DEST.lock"
echo "k8s-test-assets: waiting for the build lock $DEST.lock" >&2
flock 9
if have; then
	echo "$DEST"
	exit 0
fi

GO=${GO:-go}
export GOFLAGS=-mod=mod
export GOTOOLCHAIN=local
work=$(mktemp -d "$CACHE/k8s-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$DEST.partial"

echo "k8s-test-assets: building etcd $ETCD_VERSION (once per machine)" >&2
mkdir -p "$work/etcd"
cat >"$work/etcd/main.go" <<'GO'
// Command etcd is etcd's own server, built for the operator's tests.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
(
	cd "$work/etcd"
	"$GO" mod init mosaic.test/etcd >/dev/null 2>&1
	"$GO" get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
	"$GO" mod tidy >&2
	"$GO" build -trimpath -ldflags='-s -w' -o "$DEST.partial/etcd" .
)

echo "k8s-test-assets: building kube-apiserver $K8S_VERSION (once per machine, ~15 min)" >&2
mkdir -p "$work/apiserver"
(
	cd "$work/apiserver"
	"$GO" mod init mosaic.test/apiserver >/dev/null 2>&1
	# k8s.io/kubernetes's go.mod names its staging modules with replace lines
	# into ./staging; pin each to its published release instead.
	modfile=$("$GO" mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
	[[ -f $modfile ]] || { echo "k8s-test-assets: no go.mod for k8s.io/kubernetes@$K8S_VERSION" >&2; exit 1; }
	n=0
	while read -r mod; do
		case $mod in k8s.io/sample-*) continue ;; esac
		"$GO" mod edit -replace "$mod=$mod@$STAGING_VERSION"
		n=$((n + 1))
	done < <(sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/.*#\1#p' "$modfile")
	echo "k8s-test-assets: pinned $n staging modules to $STAGING_VERSION" >&2
	"$GO" get "k8s.io/kubernetes@$K8S_VERSION" >&2
	"$GO" get -tool k8s.io/kubernetes/cmd/kube-apiserver >&2
	"$GO" build -trimpath -ldflags='-s -w' -o "$DEST.partial/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
)

rm -rf "$DEST"
mv "$DEST.partial" "$DEST"
echo "$DEST"
