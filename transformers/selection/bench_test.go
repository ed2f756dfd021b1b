package selection

import (
	"fmt"
	"strings"
	"testing"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/config"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/podtemplate"
)

// BenchmarkSelect indexes a 10,000-item list and finds the workload and its
// prometheus.yml, as one run of the function does.
func BenchmarkSelect(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(stack)
	for i := 0; i < 10000; i++ {
		switch i % 3 {
		case 0:
			fmt.Fprintf(&sb, "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app-%d, namespace: ns-%d}\nspec:\n  template:\n    spec:\n      containers: [{name: app, image: nginx}]\n", i, i%50)
		case 1:
			fmt.Fprintf(&sb, "---\napiVersion: v1\nkind: Service\nmetadata: {name: app-%d, namespace: ns-%d}\nspec: {ports: [{port: 80}]}\n", i, i%50)
		default:
			fmt.Fprintf(&sb, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%d, namespace: ns-%d}\ndata: {a: b}\n", i, i%50)
		}
	}
	nodes := items(b, sb.String())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ix, _ := NewIndex(nodes)
		w, err := ix.SelectWorkload(config.Target{})
		if err != nil {
			b.Fatal(err)
		}
		tpl, _, _ := podtemplate.Template(ix.Items[w.Item])
		if _, err := ix.ScrapeConfig(ix.Items[w.Item], tpl, w.Container, nil); err != nil {
			b.Fatal(err)
		}
	}
}
