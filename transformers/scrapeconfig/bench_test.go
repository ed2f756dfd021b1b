package scrapeconfig

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkEdit edits a prometheus.yml of 200 pod jobs.
func BenchmarkEdit(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("global:\n  scrape_interval: 30s\nscrape_configs:\n")
	for j := 0; j < 200; j++ {
		fmt.Fprintf(&sb, "- job_name: pods-%d\n  kubernetes_sd_configs:\n  - role: pod\n    namespaces: {names: [team-%d]}\n  relabel_configs:\n  - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]\n    action: keep\n    regex: \"true\"\n  - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path]\n    action: replace\n    target_label: __metrics_path__\n    regex: (.+)\n", j, j)
	}
	doc := sb.String()
	b.SetBytes(int64(len(doc)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := Edit(doc, opts()); err != nil {
			b.Fatal(err)
		}
	}
}
