package scrapeconfig

import (
	"strings"
	"testing"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/scrapers"
)

func collectorRow(t *testing.T) scrapers.Scraper {
	t.Helper()
	for _, s := range scrapers.Table {
		if s.Receivers {
			return s
		}
	}
	t.Fatal("no collector row")
	return scrapers.Scraper{}
}

// TestCollector: the job goes into the prometheus receiver with every $ of it
// written $$, the user's ${env:…} and $$ text stays byte for byte, and a
// second run changes nothing.
func TestCollector(t *testing.T) {
	const doc = `receivers:
  otlp: {}
  prometheus:
    config:
      scrape_configs:
      - job_name: self
        static_configs: [{targets: ['${env:MY_POD_IP}:8888']}]
        metric_relabel_configs:
        - {action: labelmap, regex: label_(.+), replacement: $$1}
exporters: {debug: {}}
service:
  pipelines: {metrics: {receivers: [prometheus], exporters: [debug]}}
`
	o := Options{JobName: "kubernetes-pods-istio-secure", CertsDir: "/etc/istio-certs", Scraper: collectorRow(t)}
	out, rep, err := Edit(doc, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Jobs) != 1 {
		t.Fatalf("jobs %v", rep.Jobs)
	}
	for _, l := range strings.Split(doc, "\n") {
		if !strings.Contains(out, l) {
			t.Errorf("the user's line %q is gone:\n%s", l, out)
		}
	}
	ours := out[strings.Index(out, "- job_name: kubernetes-pods-istio-secure"):]
	if !strings.Contains(ours, "$$") || strings.Contains(strings.ReplaceAll(ours, "$$", ""), "$") {
		t.Errorf("a lone $ in the job:\n%s", ours)
	}
	if !strings.HasPrefix(strings.SplitAfter(out, "scrape_configs:")[0], "receivers:") || strings.Count(out, "scrape_configs:") != 1 {
		t.Errorf("the job is not in the receiver's scrape_configs:\n%s", out)
	}
	again, _, err := Edit(out, owning(o, rep))
	if err != nil || again != out {
		t.Errorf("a second run changed the file (err %v):\n%s", err, again)
	}
}
