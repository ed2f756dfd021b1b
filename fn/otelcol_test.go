package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const otelcolInstall = "make tools (builds the collector of e2e/otelcol)"

// TestCollectorValidate runs the collector's own check (`otelcol validate
// --config`, e2e/otelcol: the chart's components and the contrib prometheus
// receiver v0.165.1) on the edited config of every collector golden case. Like
// promtool it stats the TLS files, so they are generated; the chart's
// ${env:MY_POD_IP} is set. A control shows that it refuses what it does not
// know.
func TestCollectorValidate(t *testing.T) {
	otelcol := tool(t, "otelcol", otelcolInstall)
	check := func(t *testing.T, doc string, ours bool) (string, error) {
		dir := t.TempDir()
		doc = withGeneratedFiles(t, doc, dir, ours)
		file := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(otelcol, "validate", "--config="+file)
		cmd.Env = append(os.Environ(), "MY_POD_IP=127.0.0.1")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	n := 0
	for _, c := range goldenCases(t) {
		if c.scraper() != "OpenTelemetry Collector" {
			continue
		}
		n++
		cfg, _ := os.ReadFile(filepath.Join(c.dir, "config.yaml"))
		ours := !strings.Contains(string(cfg), "mode: ambient")
		t.Run(c.name, func(t *testing.T) {
			doc := scrapeConfigOf(t, c.name)
			if out, err := check(t, doc, ours); err != nil {
				t.Fatalf("otelcol validate refused the edited config: %v\n%s", err, out)
			}
			if _, err := check(t, doc+"bogus_top_level_field: 1\n", ours); err == nil {
				t.Fatal("otelcol validate accepted an unknown field: the check proves nothing")
			}
		})
	}
	if n == 0 {
		t.Fatal("no collector golden case")
	}
}
