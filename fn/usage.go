package main

import (
	"fmt"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/config"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/kinds"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/profiles"
)

func usage() string {
	var b strings.Builder
	fmt.Fprintf(&b, `istio-prometheus-mtls %s — KRM function

Reads a ResourceList on stdin and writes it to stdout with the Prometheus workload
given a cert-only istio-proxy sidecar, the certificates mounted into Prometheus and
an https scrape job (tls_config with the Istio workload certificates) in its
prometheus.yml.

Usage:
  istio-prometheus-mtls < resourcelist.yaml      KRM function (kpt, kustomize, Argo CD)
  istio-prometheus-mtls post-render [--config FILE | key=value ...] < stream.yaml
                                                 Helm post-renderer: YAML stream in and out
  istio-prometheus-mtls --help | --version

Function config (all fields optional):

apiVersion: %s
kind: %s
metadata: {name: prometheus-mtls}
spec:
  target:                  # none: the single scraper workload in the list, whatever its kind
    kind: Deployment       # %s
    name: prometheus       # current or previous (kustomize) name
    namespace: istio-system
    matchLabels: {}        # workload or pod template labels
    container: ""          # default: the container running a scraper image or its config flag
  mode: sidecar            # sidecar: our istio-proxy container; injection: steer Istio's injector;
                           # ambient: enrol in Istio's ambient mode, remove what the others added
  istio:
    version: "%s"          # a string: set it to your control plane's version; unset: the
                           # newest release this table knows, with an info result saying so;
                           # profile chosen from the table below; a release newer than the
                           # table runs with the newest profile and a warning;
                           # older than 1.5, or not 1.X / 1.X.Y: an error
    proxyImage: ""         # default %s:<version>.0 (or the full version given)
    imagePullPolicy: IfNotPresent
    controlPlaneNamespace: %s
    revision: ""           # istiod-<revision>
    discoveryAddress: ""   # default istio-pilot.<ns>.svc:15012 (1.5), istiod[-<revision>].<ns>.svc:15012
    trustDomain: %s
    meshID: ""             # default: trustDomain
    clusterID: %s
    network: ""
    nativeSidecar: null    # null: native (first initContainer, restartPolicy Always) from 1.27 on,
                           # as Istio's injector does; false for nodes older than Kubernetes 1.29;
                           # injection mode: null leaves the choice to the injector
    envoy: false           # unset: agent only (DISABLE_ENVOY) from 1.14, Envoy before; true: Envoy
    resources: {}          # default requests 10m/64Mi, limits 500m/256Mi
  certificates:
    volumeName: %s
    mountPath: %s   # where Prometheus reads root-cert.pem, cert-chain.pem, key.pem
  scrapeJob:
    name: %s
    excludeFrom: null      # null: every role-pod job keeping prometheus_io_scrape*; []: none
    takeOver: false        # replace a job of that name that this function did not write
    securePortJob: false   # add Istio's secure metrics port jobs (Istio >= 1.31)
    defaultScrapeClass: false  # prometheus-operator: istio-mtls scrape class as the default
  scrapeConfig:            # unset (the default): follow the scraper's config flag
    kind: ConfigMap        # ConfigMap | Secret
    name: prometheus       # the object holding prometheus.yml
    namespace: ""          # default: the workload's
    key: ""                # default: prometheus.yml or prometheus.yaml
    receiver: ""           # OpenTelemetry Collector: prometheus[/NAME]; default: the only one (may be set alone)
    workloadOnly: false    # edit the workload alone; the jobs to add to the config are printed (config not in the list)
  takeOver: false          # adopt a hand-written setup: replace what carries our names

A v1 ConfigMap works too, with flat keys (kpt fn eval ... -- istio-version=1.28):
  %s

Istio profiles:
`, version, config.APIVersion, config.Kind, strings.Join(kinds.Selectable(), " | "),
		config.DefaultIstioVersion(), config.DefaultProxyImageRepo, config.DefaultControlPlaneNamespace,
		config.DefaultTrustDomain, config.DefaultClusterID, config.DefaultCertVolumeName,
		config.DefaultCertMountPath, config.DefaultScrapeJobName, strings.Join(config.FlatKeys(), ", "))
	writeProfiles(&b)
	return b.String()
}

// writeProfiles lists the profile table for --help.
func writeProfiles(b *strings.Builder) {
	for _, p := range profiles.Table {
		fmt.Fprintf(b, "  %-5s (1.%d–1.%d): %s\n", p.Name, p.MinMinor, p.MaxMinor, p.Notes)
	}
	n := profiles.Newest()
	fmt.Fprintf(b, "  newer releases (1.%d and later) run with profile %s, following Istio 1.%d's injector, and a warning result\n",
		n.MaxMinor+1, n.Name, n.MaxMinor)
}
