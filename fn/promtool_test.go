package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

const promtoolInstall = "go install github.com/prometheus/prometheus/cmd/promtool@v0.316.0"

// TestPromtool runs `promtool check config` (Prometheus 3) on the prometheus.yml of
// every golden case. promtool stats cert_file and key_file, so the certificate
// directory is pointed at generated files; the user's rule_files are not ours to
// check and are left out.
func TestPromtool(t *testing.T) {
	t.Parallel() // a subprocess does the work: it overlaps with the others
	promtool := tool(t, "promtool", promtoolInstall)
	for _, c := range goldenCases(t) {
		if _, err := os.Stat(filepath.Join(c.dir, "error")); err == nil || c.scraper() != "Prometheus" {
			continue // an error case, or another scraper's file (its own tool checks it)
		}
		cfg, _ := os.ReadFile(filepath.Join(c.dir, "config.yaml"))
		if strings.Contains(string(cfg), "workloadOnly: true") {
			continue // no config is edited: TestWorkloadOnlyAdviceWorks checks the advice
		}
		ambient := strings.Contains(string(cfg), "mode: ambient")
		doc, ok := findPrometheusYAML(t, c.name)
		if !ok && (ambient || hasScrapeConfigCR(t, c.name)) {
			// A Prometheus resource in ambient mode (the Secret the function had
			// created is gone with its jobs), or one whose job went into a
			// ScrapeConfig resource (TestRelabelingScrapeConfigCR runs it): no
			// scrape config file is left to check.
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if !ok {
				t.Fatalf("%s: no prometheus.yml in the output", c.name)
			}
			dir := t.TempDir()
			doc = withGeneratedFiles(t, doc, dir, !ambient)
			root, err := yaml.Parse(doc)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := root.Pipe(yaml.Clear("rule_files")); err != nil {
				t.Fatal(err)
			}
			// Files it includes with scrape_config_files: the other keys of its
			// ConfigMap, beside it as the volume puts them.
			for _, it := range expectedItems(t, c.name) {
				if data := it.GetDataMap(); it.GetKind() == "ConfigMap" && strings.Contains(data["prometheus.yml"], "scrape_config_files") {
					for k, v := range data {
						if k != "prometheus.yml" {
							if err := os.WriteFile(filepath.Join(dir, k), []byte(withGeneratedFiles(t, v, dir, false)), 0o644); err != nil {
								t.Fatal(err)
							}
						}
					}
				}
			}
			file := filepath.Join(dir, "prometheus.yml")
			if err := os.WriteFile(file, []byte(root.MustString()), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(promtool, "check", "config", file).CombinedOutput()
			if err != nil {
				t.Fatalf("promtool check config failed: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "SUCCESS") {
				t.Fatalf("promtool did not report SUCCESS:\n%s", out)
			}
		})
	}
}

var fileKeyRE = regexp.MustCompile(`(?m)^(\s*-?\s*\w+_file:\s*)(/\S+)`)

// withGeneratedFiles points every *_file path of the config (our certificates,
// the user's in-cluster token and CA) at a generated file under dir; ours says
// that the config must hold our certificate files (all modes but ambient).
func withGeneratedFiles(t *testing.T, doc, dir string, ours bool) string {
	t.Helper()
	n := 0
	out := fileKeyRE.ReplaceAllStringFunc(doc, func(m string) string {
		parts := fileKeyRE.FindStringSubmatch(m)
		p := filepath.Join(dir, "files", parts[2])
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("placeholder\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		n++
		return parts[1] + p
	})
	if ours && (!strings.Contains(out, "/root-cert.pem") || n < 3) {
		t.Fatal("the config has no ca_file/cert_file/key_file of ours")
	}
	return out
}
