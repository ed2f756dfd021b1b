package e2e

import (
	"bufio"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
)

const (
	otelImage    = "istio-prometheus-mtls-e2e/otelcol:test"
	otelIdentity = "spiffe://cluster.local/ns/monitoring/sa/otel-opentelemetry-collector"
)

// collectorInput is the opentelemetry-collector chart's render with what a
// user of the chart adds through its values (config: and clusterRole:): a
// plain pod job in the prometheus receiver, written with $$ as the receiver
// requires; the prometheus exporter in the metrics pipeline, which the test
// reads; and the RBAC kubernetes_sd needs (the chart's clusterRole.create).
func collectorInput(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../../shared/fixtures/otel-collector-chart.yaml")
	if err != nil {
		t.Fatalf("%v (the tests expect ../shared beside the checkout)", err)
	}
	s := string(b)
	for _, r := range []struct{ at, add string }{
		{"      prometheus:\n        config:\n          scrape_configs:\n", `          - job_name: kubernetes-pods
            scrape_interval: 5s
            kubernetes_sd_configs:
            - role: pod
            relabel_configs:
            - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
              action: keep
              regex: "true"
            - source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]
              action: replace
              regex: ([^:]+)(?::\d+)?;(\d+)
              replacement: $$1:$$2
              target_label: __address__
`},
		{"    exporters:\n      debug: {}\n", `      prometheus:
        endpoint: ${env:MY_POD_IP}:8889
        resource_constant_labels:
          included: [url.scheme]
`},
		{"        metrics:\n          exporters:\n          - debug\n", "          - prometheus\n"},
	} {
		if strings.Count(s, r.at) != 1 {
			t.Fatalf("the collector chart's render changed: %q is not in it once", r.at)
		}
		s = strings.Replace(s, r.at, r.at+r.add, 1)
	}
	return []byte(s + `---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: otel-opentelemetry-collector
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: otel-opentelemetry-collector
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: otel-opentelemetry-collector
subjects:
- kind: ServiceAccount
  name: otel-opentelemetry-collector
  namespace: monitoring
`)
}

// series is one exported sample: its labels and value.
type series struct {
	labels map[string]string
	value  float64
}

// exported reads the collector's prometheus exporter: the samples of metric
// name (text format; label values here hold no quotes or commas).
func exported(web, name string) []series {
	resp, err := http.Get("http://" + web + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var out []series
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name+"{")
		if !ok {
			continue
		}
		ls, val, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		s := series{labels: map[string]string{}}
		for _, kv := range strings.Split(ls, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				s.labels[k] = strings.Trim(v, `"`)
			}
		}
		if f := strings.Fields(val); len(f) > 0 {
			s.value, _ = strconv.ParseFloat(f[0], 64)
		}
		out = append(out, s)
	}
	return out
}

// of are the samples of ss for instance (and job, unless "").
func of(ss []series, job, instance string) []series {
	var out []series
	for _, s := range ss {
		if s.labels["instance"] == instance && (job == "" || s.labels["job"] == job) {
			out = append(out, s)
		}
	}
	return out
}
