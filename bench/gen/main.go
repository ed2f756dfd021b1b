// Command gen writes a ResourceList of N items for the benchmark: Deployments,
// Services and ConfigMaps in equal parts, one of the Deployments a Prometheus
// server with its ConfigMap (prometheus.yml with J pod jobs).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
)

func main() {
	n := flag.Int("n", 1000, "items")
	jobs := flag.Int("jobs", 10, "scrape jobs in prometheus.yml")
	flag.Parse()
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	fmt.Fprint(w, "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n")
	fmt.Fprint(w, prometheus(*jobs))
	for i := 2; i < *n; i++ {
		ns := fmt.Sprintf("team-%d", i%50)
		switch i % 3 {
		case 0:
			fmt.Fprintf(w, deployment, i, ns, i, i, i, i)
		case 1:
			fmt.Fprintf(w, service, i, ns, i)
		default:
			fmt.Fprintf(w, configMap, i, ns, i, i)
		}
	}
}

const deployment = `- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: app-%d
    namespace: %s
    labels: {app: app-%d}
  spec:
    replicas: 2
    selector:
      matchLabels: {app: app-%d}
    template:
      metadata:
        labels: {app: app-%d}
        annotations:
          prometheus.io/scrape: "true"
          prometheus.io/port: "8080"
      spec:
        containers:
        - name: app
          image: registry.example.com/app:%d
          ports:
          - containerPort: 8080
          resources:
            requests: {cpu: 10m, memory: 32Mi}
`

const service = `- apiVersion: v1
  kind: Service
  metadata:
    name: app-%d
    namespace: %s
  spec:
    selector: {app: app-%d}
    ports:
    - port: 80
      targetPort: 8080
`

const configMap = `- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: settings-%d
    namespace: %s
  data:
    LOG_LEVEL: info
    FEATURE: "%d"
    settings.yaml: |
      replicas: %d
      cache: true
`

func prometheus(jobs int) string {
	s := `- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: prometheus
    namespace: monitoring
  spec:
    selector:
      matchLabels: {app: prometheus}
    template:
      metadata:
        labels: {app: prometheus}
      spec:
        containers:
        - name: prometheus
          image: quay.io/prometheus/prometheus:v3.10.0
          args: [--config.file=/etc/prometheus/prometheus.yml]
          volumeMounts:
          - {name: config, mountPath: /etc/prometheus}
        volumes:
        - name: config
          configMap: {name: prometheus-config}
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: prometheus-config
    namespace: monitoring
  data:
    prometheus.yml: |
      scrape_configs:
`
	for j := 0; j < jobs; j++ {
		s += fmt.Sprintf(`      - job_name: pods-%d
        kubernetes_sd_configs:
        - role: pod
          namespaces: {names: [team-%d]}
        relabel_configs:
        - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
          action: keep
          regex: "true"
`, j, j)
	}
	return s
}
