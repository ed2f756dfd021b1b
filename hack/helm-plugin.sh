#!/usr/bin/env bash
# make helm-plugin: the Helm 4 post-renderer plugin for each platform, as a directory
# (dist/helm-plugin/OS-ARCH/istio-prometheus-mtls) and a reproducible archive
# (dist/istio-prometheus-mtls-VERSION-OS-ARCH.tgz, holding istio-prometheus-mtls/: the
# name-version layout Helm's installer expects) that `helm plugin install` takes offline.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="${VERSION:-dev}"
DIST="${DIST:-dist}"
PLATFORMS="${PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64}"
# plugin.yaml's version: the release's semantic version, or the file's own.
semver="${VERSION#v}"
# One platform: the binary (make dist's, when it built it already), plugin.yaml
# and the archive. Platforms run side by side, as many as there are cores.
plugin() {
  local os="${1%/*}" arch="${1#*/}"
  local dir="$DIST/helm-plugin/$os-$arch/istio-prometheus-mtls"
  rm -rf "$dir" && mkdir -p "$dir"
  local exe=istio-prometheus-mtls ext=
  [ "$os" = windows ] && ext=.exe
  exe+=$ext
  if [ -n "${BUILT:-}" ] && [ -f "$DIST/istio-prometheus-mtls-$os-$arch$ext" ]; then
    cp "$DIST/istio-prometheus-mtls-$os-$arch$ext" "$dir/$exe"
  else
    CGO_ENABLED=0 GOOS="$os" GOARCH="$arch" go build -trimpath -buildvcs=false \
      -ldflags "-s -w -buildid= -X main.version=$VERSION" -o "$dir/$exe" ./fn
  fi
  if [[ "$semver" =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]]; then
    sed "s/^version: .*/version: $semver/" examples/helm/plugin/plugin.yaml > "$dir/plugin.yaml"
  else
    cp examples/helm/plugin/plugin.yaml "$dir/plugin.yaml"
  fi
  local pv
  pv="$(sed -n 's/^version: //p' "$dir/plugin.yaml")"
  touch -d @0 "$dir" "$dir"/*
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=u+rwX,go+rX,go-w \
    -C "$(dirname "$dir")" -cf - istio-prometheus-mtls | gzip -6n > "$DIST/istio-prometheus-mtls-$pv-$os-$arch.tgz"
  echo "$DIST/istio-prometheus-mtls-$pv-$os-$arch.tgz"
}
export -f plugin
export VERSION DIST semver
printf '%s\n' $PLATFORMS | xargs -P "$(nproc)" -I{} bash -c 'plugin "$1"' _ {}
