package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

const vmagentInstall = "go install github.com/VictoriaMetrics/VictoriaMetrics/app/vmagent@v1.151.0"

// TestVMAgentDryRun runs vmagent's own check (`-dryRun -promscrape.config`,
// which parses strictly and knows its relabel actions, such as the chart's
// keep_if_equal, that promtool lacks) on the edited scrape config of every
// vmagent golden case; a control shows that it refuses a field it does not know.
func TestVMAgentDryRun(t *testing.T) {
	vmagent := tool(t, "vmagent", vmagentInstall)
	check := func(t *testing.T, doc string, ours bool) (string, error) {
		dir := t.TempDir()
		doc = withGeneratedFiles(t, doc, dir, ours)
		file := filepath.Join(dir, "scrape.yml")
		if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(vmagent, "-dryRun", "-promscrape.config="+file).CombinedOutput()
		return string(out), err
	}
	n := 0
	for _, c := range goldenCases(t) {
		if c.scraper() != "vmagent" {
			continue
		}
		n++
		cfg, _ := os.ReadFile(filepath.Join(c.dir, "config.yaml"))
		ours := !strings.Contains(string(cfg), "mode: ambient") // ambient leaves no job of ours
		t.Run(c.name, func(t *testing.T) {
			doc := scrapeConfigOf(t, c.name)
			out, err := check(t, doc, ours)
			if err != nil || !strings.Contains(out, "all the configs are ok") {
				t.Fatalf("vmagent -dryRun refused the edited config: %v\n%s", err, out)
			}
			if _, err := check(t, doc+"bogus_top_level_field: 1\n", ours); err == nil {
				t.Fatal("vmagent -dryRun accepted an unknown field: the check proves nothing")
			}
		})
	}
	if n == 0 {
		t.Fatal("no vmagent golden case")
	}
}

// scrapeConfigOf is the ConfigMap value holding scrape_configs in a golden
// case's expected output.
func scrapeConfigOf(t *testing.T, caseName string) string {
	t.Helper()
	for _, it := range expectedItems(t, caseName) {
		if it.GetKind() != "ConfigMap" {
			continue
		}
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
	t.Fatalf("%s: no ConfigMap holds a scrape config", caseName)
	return ""
}
