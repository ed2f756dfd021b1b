package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grafana/alloy/syntax/parser"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// alloyConfigs are the Alloy configurations of a golden case's expected output:
// every .alloy (or Grafana Agent's .river) key of a ConfigMap, and an Alloy
// resource's inline content.
func alloyConfigs(t *testing.T, caseName string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, it := range expectedItems(t, caseName) {
		for k, v := range it.GetDataMap() {
			if strings.HasSuffix(k, ".alloy") || strings.HasSuffix(k, ".river") {
				out[it.GetName()+"/"+k] = v
			}
		}
		if n, _ := it.Pipe(yaml.Lookup("spec", "alloy", "configMap", "content")); n != nil && yaml.GetValue(n) != "" {
			out[it.GetName()+"/spec.alloy.configMap.content"] = yaml.GetValue(n)
		}
	}
	return out
}

// TestAlloyParses: Grafana's own parser (github.com/grafana/alloy/syntax, what
// `alloy run` and `alloy fmt` parse with) accepts every edited Alloy configuration
// of the golden cases, each of which holds the function's secure pipeline; a control
// shows it refuses a broken one. Alloy's binary is not built here (docs/scrapers.md).
func TestAlloyParses(t *testing.T) {
	t.Parallel()
	n := 0
	for _, c := range goldenCases(t) {
		if c.scraper() != "Alloy" {
			continue
		}
		if _, err := os.Stat(filepath.Join(c.dir, "error")); err == nil {
			continue
		}
		n++
		cfg, _ := os.ReadFile(filepath.Join(c.dir, "config.yaml"))
		ambient := strings.Contains(string(cfg), "mode: ambient")
		configs := alloyConfigs(t, c.name)
		if len(configs) == 0 {
			t.Errorf("%s: no Alloy configuration in the output", c.name)
		}
		for name, text := range configs {
			if _, err := parser.ParseFile(name, []byte(text)); err != nil {
				t.Errorf("%s: %s does not parse: %v", c.name, name, err)
			}
			if has := strings.Contains(text, `prometheus.scrape "istio_mtls_`); has == ambient && strings.Contains(text, "prometheus.scrape") {
				t.Errorf("%s: %s: the secure pipeline is there: %v, in ambient mode: %v", c.name, name, has, ambient)
			}
		}
	}
	if n == 0 {
		t.Fatal("no Alloy golden case")
	}
	if _, err := parser.ParseFile("broken", []byte("prometheus.scrape \"x\" {\n\ttargets = \n}\n")); err == nil {
		t.Error("the parser accepted a broken configuration: the check proves nothing")
	}
}

// TestAlloyModeSwitches: the mode switches of every scraper (assertModeSwitches) on
// the grafana/alloy chart, the k8s-monitoring chart and the grafana-agent chart (flow mode).
func TestAlloyModeSwitches(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"alloy-chart-1.11.1", "k8s-monitoring-2.1.4", "grafana-agent-chart-0.44.2"} {
		t.Run(name, func(t *testing.T) {
			c := goldenCase{name, "../testdata/" + name}
			assertModeSwitches(t, resourceList(t, c.input(t), nil))
		})
	}
}
