#!/usr/bin/env bash
# Builds (once; cached by version) the real components the end-to-end test runs:
# Istio's pilot-agent and pilot-discovery, Prometheus, vmagent, the collector, kube-apiserver,
# kube-controller-manager, kube-scheduler, the kubelet, prometheus-operator and its config
# reloader, and installs Debian's etcd, containerd, runc and CNI plugins. BIN (default ~/.cache/istio-prometheus-mtls-e2e/<versions>) is where
# the binaries go; it is printed last.
set -euo pipefail
cd "$(dirname "$0")"
ISTIO=v0.0.0-20260827124520-eed52ebb66ad   # Istio master, 2026-08-27 (1.31.0-rc era)
PROMETHEUS=v0.316.0
KUBERNETES=v1.37.2
VMAGENT=v1.151.0
OPERATOR=$(awk '$1 == "require" && $2 == "github.com/prometheus-operator/prometheus-operator" {print $3}' operator/go.mod)
BIN="${BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/istio-prometheus-mtls-e2e/istio-$ISTIO-prometheus-$PROMETHEUS-kubernetes-$KUBERNETES}"
mkdir -p "$BIN"
export CGO_ENABLED=0 # static: the agent and Prometheus run in FROM scratch images
# Debian's packages first, in the background: the node's runtime (containerd 1.6 with its CRI
# plugin, runc), its pod network (the CNI bridge, host-local and loopback plugins), etcd.
debs=""
command -v etcd >/dev/null || debs="$debs etcd-server"
command -v containerd >/dev/null || debs="$debs containerd"
command -v runc >/dev/null || debs="$debs runc"
[ -x /usr/lib/cni/bridge ] || debs="$debs containernetworking-plugins"
apt_pid=""
if [ -n "$debs" ]; then
  if [ "$(id -u)" = 0 ]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $debs; } >&2 &
    apt_pid=$!
  else
    echo "e2e: missing Debian packages:$debs (apt-get install$debs)" >&2; exit 1
  fi
fi
for cmd in pilot-agent pilot-discovery; do
  [ -x "$BIN/$cmd" ] || GOBIN="$BIN" go install "istio.io/istio/pilot/cmd/$cmd@$ISTIO" >&2
done
# Only the service discovery the test uses (kubernetes), as Prometheus documents.
[ -x "$BIN/prometheus" ] || GOBIN="$BIN" go install -tags remove_all_sd,enable_kubernetes_sd \
  "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS" >&2
# kube-apiserver, kube-controller-manager, kube-scheduler and the kubelet from this module
# (go.mod replaces k8s.io/kubernetes's staging modules), in one go build: they share most
# packages. Stamped with their version, which kubectl and clients parse.
k8s=""
for cmd in kube-apiserver kube-controller-manager kube-scheduler kubelet; do
  [ -x "$BIN/$cmd" ] || k8s="$k8s k8s.io/kubernetes/cmd/$cmd"
done
if [ -n "$k8s" ]; then
  minor="${KUBERNETES#v1.}"; minor="${minor%%.*}"
  rm -rf "$BIN/k8s.tmp" && mkdir -p "$BIN/k8s.tmp"
  go build -o "$BIN/k8s.tmp/" -ldflags "-X k8s.io/component-base/version.gitVersion=$KUBERNETES \
    -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" $k8s >&2
  mv "$BIN"/k8s.tmp/* "$BIN/" && rmdir "$BIN/k8s.tmp"
fi
# prometheus-operator and its config reloader from the wrapper module ./operator (the main
# module's replace directives make `go install` refuse it).
if [ ! -x "$BIN/prometheus-operator-$OPERATOR" ] || [ ! -x "$BIN/prometheus-config-reloader-$OPERATOR" ]; then
  (cd operator && go build -o "$BIN/prometheus-operator-$OPERATOR" github.com/prometheus-operator/prometheus-operator/cmd/operator &&
    go build -o "$BIN/prometheus-config-reloader-$OPERATOR" github.com/prometheus-operator/prometheus-operator/cmd/prometheus-config-reloader) >&2
fi
ln -sfn "prometheus-operator-$OPERATOR" "$BIN/prometheus-operator"
ln -sfn "prometheus-config-reloader-$OPERATOR" "$BIN/prometheus-config-reloader"
if [ -n "$apt_pid" ] && ! wait "$apt_pid"; then
  echo "e2e: installing$debs failed" >&2; exit 1
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
