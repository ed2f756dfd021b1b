#!/usr/bin/env bash
# make dist: the release files in dist/, reproducible (two runs give the same bytes):
#   istio-prometheus-mtls-OS-ARCH[.exe]   static binaries (-trimpath, no build id, no VCS
#                                         stamp; version from the git tag, or dev)
#   istio-prometheus-mtls-V-OS-ARCH.tgz   the Helm 4 plugin (hack/helm-plugin.sh)
#   prometheusmtls.schema.json            the function config's JSON Schema
#   SHA256SUMS                            of all of the above
set -euo pipefail
cd "$(dirname "$0")/.."
export VERSION="${VERSION:-$(git describe --tags --exact-match 2>/dev/null || echo dev)}"
export DIST="${DIST:-dist}"
export PLATFORMS="${PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64}"
rm -rf "$DIST" && mkdir -p "$DIST"
# One build per platform, as many side by side as there are cores (linking is
# single-threaded); the Go build cache is safe to share.
build() {
  local os="${1%/*}" arch="${1#*/}"
  local exe="istio-prometheus-mtls-$os-$arch"
  [ "$os" = windows ] && exe+=.exe
  CGO_ENABLED=0 GOOS="$os" GOARCH="$arch" go build -trimpath -buildvcs=false \
    -ldflags "-s -w -buildid= -X main.version=$VERSION" -o "$DIST/$exe" ./fn
}
export -f build
printf '%s\n' $PLATFORMS | xargs -P "$(nproc)" -I{} bash -c 'build "$1"' _ {}
BUILT=1 hack/helm-plugin.sh >/dev/null # the plugins carry the binaries just built
rm -rf "$DIST/helm-plugin" # the directories: make helm-plugin keeps them, a release ships the archives
cp schema/prometheusmtls.schema.json "$DIST/"
(cd "$DIST" && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%f\n' | LC_ALL=C sort | xargs sha256sum > SHA256SUMS)
cat "$DIST/SHA256SUMS"
