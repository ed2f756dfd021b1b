#!/usr/bin/env bash
# Builds (once; cached by version) the real components the end-to-end test runs:
# Istio's pilot-agent and pilot-discovery, Prometheus, vmagent, the collector, kube-apiserver, and
# installs Debian's etcd. BIN (default ~/.cache/istio-prometheus-mtls-e2e/<versions>) is where
# the binaries go; it is printed last.
set -euo pipefail
cd "$(dirname "$0")"
ISTIO=v0.0.0-20260827124520-eed52ebb66ad   # Istio master, 2026-08-27 (1.31.0-rc era)
PROMETHEUS=v0.316.0
KUBERNETES=v1.37.2
VMAGENT=v1.151.0
BIN="${BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/istio-prometheus-mtls-e2e/istio-$ISTIO-prometheus-$PROMETHEUS-kubernetes-$KUBERNETES}"
mkdir -p "$BIN"
export CGO_ENABLED=0 # static: the agent and Prometheus run in FROM scratch images
for cmd in pilot-agent pilot-discovery; do
  [ -x "$BIN/$cmd" ] || GOBIN="$BIN" go install "istio.io/istio/pilot/cmd/$cmd@$ISTIO" >&2
done
# Only the service discovery the test uses (kubernetes), as Prometheus documents.
[ -x "$BIN/prometheus" ] || GOBIN="$BIN" go install -tags remove_all_sd,enable_kubernetes_sd \
  "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS" >&2
# kube-apiserver from this module (go.mod replaces k8s.io/kubernetes's staging
# modules); stamped with its version, which kubectl and clients parse.
if [ ! -x "$BIN/kube-apiserver" ]; then
  minor="${KUBERNETES#v1.}"; minor="${minor%%.*}"
  go build -o "$BIN/kube-apiserver" -ldflags "-X k8s.io/component-base/version.gitVersion=$KUBERNETES \
    -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
    k8s.io/kubernetes/cmd/kube-apiserver >&2
fi
if ! command -v etcd >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server; } >&2
  else
    echo "e2e: etcd is missing (apt-get install etcd-server)" >&2; exit 1
  fi
fi
# vmagent and the collector last: `make tools` builds the same two into GOBIN,
# alongside (.ci/run), so by now they are usually there to copy instead of
# building them twice. vmagent is cached under its version (the directory's
# name predates it), the collector of ./otelcol (its own module: the contrib
# prometheus receiver and the matching core) under a digest of that module.
GOBIN_DIR="${GOBIN:-$(go env GOPATH)/bin}"
if [ ! -x "$BIN/vmagent-$VMAGENT" ]; then
  if go version -m "$GOBIN_DIR/vmagent" 2>/dev/null | grep -qE "mod[[:space:]]+github.com/VictoriaMetrics/VictoriaMetrics[[:space:]]+$VMAGENT"; then
    cp "$GOBIN_DIR/vmagent" "$BIN/vmagent-$VMAGENT"
  else
    GOBIN="$BIN/vmagent.tmp" go install "github.com/VictoriaMetrics/VictoriaMetrics/app/vmagent@$VMAGENT" >&2 &&
      mv "$BIN/vmagent.tmp/vmagent" "$BIN/vmagent-$VMAGENT" && rmdir "$BIN/vmagent.tmp"
  fi
fi
OTELCOL="otelcol-$(cat otelcol/go.mod otelcol/go.sum otelcol/main.go | sha256sum | cut -c1-12)"
if [ ! -x "$BIN/$OTELCOL" ]; then
  # make tools' copy is of this module when it is newer than each of its files.
  if [ -x "$GOBIN_DIR/otelcol" ] && [ -z "$(find otelcol/go.mod otelcol/go.sum otelcol/main.go -newer "$GOBIN_DIR/otelcol")" ]; then
    cp "$GOBIN_DIR/otelcol" "$BIN/$OTELCOL"
  else
    (cd otelcol && go build -o "$BIN/$OTELCOL.tmp" . && mv "$BIN/$OTELCOL.tmp" "$BIN/$OTELCOL") >&2
  fi
fi
ln -sfn "$OTELCOL" "$BIN/otelcol" # the name the test runs
echo "$BIN"
