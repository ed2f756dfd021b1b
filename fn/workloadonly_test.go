package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/yamlnode"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// TestWorkloadOnlyAdviceWorks follows the advice of spec.scrapeConfig.workloadOnly on
// the prometheus chart with server.configFromSecret: the jobs and rules the warning
// gives are pasted into the chart's prometheus.yml (what that Secret holds), as a
// user would, and the result passes promtool and Prometheus's own relabeling: every
// pod is scraped by exactly the job it should be.
func TestWorkloadOnlyAdviceWorks(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../testdata/prometheus-chart-config-from-secret/expected.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rl, err := yaml.Parse(string(b))
	if err != nil {
		t.Fatal(err)
	}
	var advice string
	results, _ := rl.Pipe(yaml.Lookup("results"))
	for _, r := range results.YNode().Content {
		if yamlnode.Value(yamlnode.Field(r, "field"), "path") == "spec.scrapeConfig.workloadOnly" {
			advice = yamlnode.Value(r, "message")
		}
	}
	_, rest, ok1 := strings.Cut(advice, "Add to scrape_configs:\n")
	jobs, rules, ok2 := strings.Cut(rest, "\nAnd into relabel_configs of each plain pod job, right after its rule keeping __meta_kubernetes_pod_annotation_prometheus_io_scrape:\n")
	if !ok1 || !ok2 {
		t.Fatalf("the warning does not give the jobs and the rules:\n%s", advice)
	}
	// The chart's config as it comes, before the function: the input's.
	in, err := os.ReadFile("../testdata/prometheus-chart-29.27.0/input.yaml")
	if err != nil {
		t.Fatal(err)
	}
	root, err := yaml.Parse(prometheusYAMLFrom(t, in))
	if err != nil {
		t.Fatal(err)
	}
	jobList, err := yaml.Parse(jobs)
	if err != nil {
		t.Fatalf("the jobs to add are not YAML: %v\n%s", err, jobs)
	}
	ruleList, err := yaml.Parse(rules)
	if err != nil {
		t.Fatalf("the rules to add are not YAML: %v\n%s", err, rules)
	}
	scrapeConfigs := yamlnode.Field(root.YNode(), "scrape_configs")
	for _, j := range scrapeConfigs.Content {
		if name := yamlnode.Value(j, "job_name"); name == plainJob || name == slowJob {
			rl := yamlnode.Field(j, "relabel_configs")
			at := 0
			for i, r := range rl.Content {
				if yamlnode.Value(r, "action") == "keep" && strings.Contains(yaml.NewRNode(r).MustString(), "prometheus_io_scrape") {
					at = i + 1
					break
				}
			}
			rl.Content = append(rl.Content[:at:at], append(ruleList.YNode().Content, rl.Content[at:]...)...)
		}
	}
	scrapeConfigs.Content = append(scrapeConfigs.Content, jobList.YNode().Content...)
	pasted := root.MustString()
	if _, err := root.Pipe(yaml.Clear("rule_files")); err != nil { // files of the chart's other keys
		t.Fatal(err)
	}

	checkTargets(t, loadJobs(t, pasted, secureJobName, plainJob, slowJob), chartTargets())
	dir := t.TempDir()
	file := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(file, []byte(withGeneratedFiles(t, root.MustString(), dir, true)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(tool(t, "promtool", promtoolInstall), "check", "config", file).CombinedOutput(); err != nil {
		t.Fatalf("promtool refused the config with the advice followed: %v\n%s", err, out)
	}
}
