package selection

import (
	"strings"
	"testing"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/config"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/podtemplate"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/scrapers"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

func items(t testing.TB, s string) []*yaml.RNode {
	t.Helper()
	n, err := (&kio.ByteReader{Reader: strings.NewReader(s), OmitReaderAnnotations: true}).Read()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestIsPrometheusServer(t *testing.T) {
	for image, want := range map[string]bool{
		"prom/prometheus:v3.10.0":                                        true,
		"quay.io/prometheus/prometheus@sha256:abc":                       true,
		"registry:5000/prometheus":                                       true,
		"ghcr.io/prometheus-operator/prometheus-config-reloader:v0.89.0": false,
		"quay.io/prometheus/alertmanager:v0.28.0":                        false,
		"quay.io/prometheus/node-exporter":                               false,
		"jimmidyson/configmap-reload":                                    false,
	} {
		c := corev1.Container{Image: image, Args: []string{"--config.file=/etc/x.yml"}}
		if got := ok(scraperOf(c)); got != want {
			t.Errorf("%s: %v, want %v", image, got, want)
		}
	}
	if !ok(scraperOf(corev1.Container{Image: "mycorp/metrics-server:1", Command: []string{"/bin/prom", "--config.file", "/x"}})) {
		t.Error("--config.file in command not detected")
	}
}

const stack = `apiVersion: apps/v1
kind: Deployment
metadata: {name: prom, namespace: mon, labels: {app: prom}}
spec:
  template:
    metadata: {labels: {app: prom}}
    spec:
      containers:
      - {name: reload, image: prometheus-config-reloader, args: [--config-file=/x]}
      - name: server
        image: prom/prometheus
        workingDir: /prometheus
        args: [--config.file, conf/prometheus.yml]
        volumeMounts:
        - {name: cfg, mountPath: /prometheus/conf/prometheus.yml, subPath: prom.yml}
      volumes:
      - {name: cfg, configMap: {name: app-config}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: mon}
spec:
  template:
    spec:
      containers: [{name: web, image: nginx}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: pre-app-config
  namespace: mon
  annotations: {internal.config.kubernetes.io/previousNames: app-config}
data:
  prom.yml: "scrape_configs: []"
`

func TestSelectAndFind(t *testing.T) {
	ix := mustIndex(t, items(t, stack))
	w, err := ix.SelectWorkload(config.Target{})
	if err != nil {
		t.Fatal(err)
	}
	if ix.Items[w.Item].GetName() != "prom" || w.Container.Name != "server" {
		t.Fatalf("selected %+v", w)
	}
	tpl, _, _ := podtemplate.Template(ix.Items[w.Item])
	src, err := ix.ScrapeConfig(ix.Items[w.Item], tpl, w.Container, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ix.Items[src.Item].GetName() != "pre-app-config" || src.Key != "prom.yml" || !strings.Contains(src.Via, "--config.file=conf/prometheus.yml") {
		t.Errorf("source %+v", src)
	}
	// By matchLabels, previous name, and explicit reference.
	if _, err := ix.SelectWorkload(config.Target{MatchLabels: map[string]string{"app": "prom"}, Kind: "Deployment"}); err != nil {
		t.Error(err)
	}
	if _, err := ix.SelectWorkload(config.Target{Name: "web"}); err == nil || !strings.Contains(err.Error(), "no scraper container among web") {
		t.Errorf("web: %v", err)
	}
	src, err = ix.ScrapeConfig(ix.Items[w.Item], tpl, w.Container, &config.ScrapeConfigRef{Kind: "ConfigMap", Name: "app-config", Key: "prom.yml"})
	if err != nil || src.Key != "prom.yml" {
		t.Errorf("explicit: %+v %v", src, err)
	}
	if _, err := ix.ScrapeConfig(ix.Items[w.Item], tpl, w.Container, &config.ScrapeConfigRef{Kind: "Secret", Name: "app-config"}); err == nil || !strings.Contains(err.Error(), "not in the list") {
		t.Errorf("missing explicit: %v", err)
	}
}

func TestFallbackWithoutFlag(t *testing.T) {
	ix := mustIndex(t, items(t, `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: p}
spec:
  template:
    spec:
      containers:
      - name: prometheus
        image: prom/prometheus
        volumeMounts: [{name: a, mountPath: /a}, {name: b, mountPath: /etc/prometheus}]
      volumes:
      - {name: a, emptyDir: {}}
      - {name: b, configMap: {name: cfg}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {prometheus.yaml: "{}"}
`))
	w, err := ix.SelectWorkload(config.Target{Kind: "StatefulSet"})
	if err != nil {
		t.Fatal(err)
	}
	tpl, _, _ := podtemplate.Template(ix.Items[w.Item])
	src, err := ix.ScrapeConfig(ix.Items[w.Item], tpl, w.Container, nil)
	if err != nil || src.Key != "prometheus.yaml" {
		t.Errorf("%+v %v", src, err)
	}
}

func TestEmptyDirConfigIsAnError(t *testing.T) {
	ix := mustIndex(t, items(t, `apiVersion: apps/v1
kind: Deployment
metadata: {name: p}
spec:
  template:
    spec:
      containers:
      - name: prometheus
        image: prom/prometheus
        args: [--config.file=/etc/prometheus/config_out/prometheus.env.yaml]
        volumeMounts: [{name: out, mountPath: /etc/prometheus/config_out}]
      volumes:
      - {name: out, emptyDir: {}}
`))
	w, _ := ix.SelectWorkload(config.Target{})
	tpl, _, _ := podtemplate.Template(ix.Items[w.Item])
	_, err := ix.ScrapeConfig(ix.Items[w.Item], tpl, w.Container, nil)
	if err == nil || !strings.Contains(err.Error(), `volume "out" is not a ConfigMap, Secret or projected volume`) {
		t.Errorf("err = %v", err)
	}
}

func TestLookupNamespaceFallback(t *testing.T) {
	ix := mustIndex(t, items(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: d, namespace: other}\ndata: {}\n"))
	if i, err := ix.Lookup("ConfigMap", "mon", "c"); err != nil || i != 0 {
		t.Errorf("a ConfigMap without namespace: %d %v", i, err)
	}
	if i, _ := ix.Lookup("ConfigMap", "mon", "d"); i != -1 {
		t.Error("a ConfigMap of another namespace matched")
	}
}

func mustIndex(t testing.TB, items []*yaml.RNode) *Index {
	t.Helper()
	ix, err := NewIndex(items)
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func ok(_ scrapers.Scraper, found bool) bool { return found }
