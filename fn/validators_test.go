package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/scrapers"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// checkGoldensWith runs the scraper's own validator (its table row names it) on
// the edited config of every golden case of that scraper: validate runs it on
// a file, accepted reads its answer. A control shows that it refuses a field
// it does not know, so the check can fail (once: the tool is the same for
// every case). The TLS files the config names are
// generated (the validators stat them); ambient cases have no job of ours.
func checkGoldensWith(t *testing.T, scraper string, validate func(file string) (string, error), accepted func(out string, err error) bool) {
	t.Helper()
	var row scrapers.Scraper
	for _, s := range scrapers.Table {
		if s.Name == scraper {
			row = s
		}
	}
	if row.Name == "" {
		t.Fatalf("no scraper %q in the table", scraper)
	}
	check := func(t *testing.T, doc string, ours bool) (string, error) {
		dir := t.TempDir()
		doc = withGeneratedFiles(t, doc, dir, ours)
		file := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return validate(file)
	}
	n := 0
	for _, c := range goldenCases(t) {
		if c.scraper() != scraper {
			continue
		}
		n++
		cfg, _ := os.ReadFile(filepath.Join(c.dir, "config.yaml"))
		ours := !strings.Contains(string(cfg), "mode: ambient")
		control := n == 1 // once: it shows the tool refuses what it does not know
		t.Run(c.name, func(t *testing.T) {
			doc := scrapeConfigOf(t, c.name)
			if _, err := os.Stat(filepath.Join(c.dir, "validate-receivers-only")); err == nil {
				doc = prometheusReceiversOnly(t, doc)
			}
			if out, err := check(t, doc, ours); !accepted(out, err) {
				t.Fatalf("%s refused the edited config: %v\n%s", scraper+"'s own check", err, out)
			}
			if !control {
				return
			}
			if out, err := check(t, doc+"bogus_top_level_field: 1\n", ours); accepted(out, err) {
				t.Fatalf("%s accepted an unknown field: the check proves nothing\n%s", scraper+"'s own check", out)
			}
		})
	}
	if n == 0 {
		t.Fatalf("no %s golden case", scraper)
	}
}

// scrapeConfigOf is the edited scrape config of a golden case's expected
// output, as its scraper reads it: the ConfigMap value holding scrape_configs;
// a VMAgent's inlineScrapeConfig as the operator appends it to the config it
// generates; an OpenTelemetryCollector's spec.config.
func scrapeConfigOf(t *testing.T, caseName string) string {
	t.Helper()
	for _, it := range expectedItems(t, caseName) {
		switch it.GetKind() {
		case "VMAgent":
			n, _ := it.Pipe(yaml.Lookup("spec", "inlineScrapeConfig"))
			if n == nil {
				return "scrape_configs: []\n"
			}
			return "scrape_configs:\n" + indent(yaml.GetValue(n))
		case "OpenTelemetryCollector":
			n, _ := it.Pipe(yaml.Lookup("spec", "config"))
			if n == nil {
				t.Fatalf("%s: the collector has no spec.config", caseName)
			}
			return n.MustString()
		case "ConfigMap":
			data, _ := it.Pipe(yaml.Lookup("data"))
			if data == nil {
				continue
			}
			for _, v := range data.YNode().Content {
				if strings.Contains(v.Value, "scrape_configs:") {
					return v.Value
				}
			}
		}
	}
	t.Fatalf("%s: no ConfigMap or scraper resource holds a scrape config", caseName)
	return ""
}

// prometheusReceiversOnly is a collector config cut down to its prometheus
// receivers, each in a metrics pipeline to the debug exporter: for a chart whose
// other components (filelog, k8sattributes, …) the collector of e2e/otelcol is
// not built with (a case's file validate-receivers-only says so). The receivers
// are what the function edits, and they are checked as written.
func prometheusReceiversOnly(t *testing.T, doc string) string {
	t.Helper()
	root, err := yaml.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	recv := yaml.NewMapRNode(nil)
	var names []string
	if r, _ := root.Pipe(yaml.Lookup("receivers")); r != nil {
		for i := 0; i+1 < len(r.YNode().Content); i += 2 {
			if k := r.YNode().Content[i].Value; k == "prometheus" || strings.HasPrefix(k, "prometheus/") {
				names = append(names, k)
				if err := recv.PipeE(yaml.SetField(k, yaml.NewRNode(r.YNode().Content[i+1]))); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if len(names) == 0 {
		t.Fatal("the collector config has no prometheus receiver")
	}
	out := yaml.NewMapRNode(nil)
	pipeline := yaml.NewMapRNode(nil)
	for k, v := range map[string]*yaml.RNode{"receivers": yaml.NewListRNode(names...), "exporters": yaml.NewListRNode("debug")} {
		if err := pipeline.PipeE(yaml.SetField(k, v)); err != nil {
			t.Fatal(err)
		}
	}
	exporters, _ := yaml.Parse("debug: {}")
	pipelines := yaml.NewMapRNode(nil)
	service := yaml.NewMapRNode(nil)
	for _, set := range []struct {
		n *yaml.RNode
		k string
		v *yaml.RNode
	}{{pipelines, "metrics", pipeline}, {service, "pipelines", pipelines}, {out, "receivers", recv}, {out, "exporters", exporters}, {out, "service", service}} {
		if err := set.n.PipeE(yaml.SetField(set.k, set.v)); err != nil {
			t.Fatal(err)
		}
	}
	return out.MustString()
}

func indent(s string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "  " + l
		}
	}
	return strings.Join(lines, "")
}
