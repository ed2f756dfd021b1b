package scrapeconfig

import (
	"strings"
	"testing"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/yamlnode"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// secureOf parses doc and returns the secure job.
func secureOf(t *testing.T, doc string, path ...string) *yaml.Node {
	t.Helper()
	root, err := yaml.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := root.Pipe(yaml.Lookup(append(path, "scrape_configs")...))
	if err != nil || jobs == nil {
		t.Fatalf("no scrape_configs: %v\n%s", err, doc)
	}
	for _, j := range jobs.YNode().Content {
		if yamlnode.GetValue(j, "job_name") == "secure" {
			return j
		}
	}
	t.Fatalf("no secure job in\n%s", doc)
	return nil
}

// TestSecureJobTakesThePlainScope: the secure job discovers pods where the plain
// pod jobs do (namespaces, selectors), not in the whole cluster; plain jobs of
// different scopes are refused with advice.
func TestSecureJobTakesThePlainScope(t *testing.T) {
	doc := `scrape_configs:
- job_name: pods
  kubernetes_sd_configs:
  - role: pod
    namespaces: {names: [apps]}
    selectors: [{role: pod, field: "spec.nodeName=$(NODE)"}]
  relabel_configs:
  - {source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape], action: keep, regex: "true"}
- job_name: pods-slow
  kubernetes_sd_configs:
  - role: pod
    namespaces: {names: [apps]}
    selectors: [{role: pod, field: "spec.nodeName=$(NODE)"}]
  relabel_configs:
  - {source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape_slow], action: keep, regex: "true"}
`
	out, rep, err := Edit(doc, opts())
	if err != nil {
		t.Fatal(err)
	}
	sd := yamlnode.Get(secureOf(t, out), "kubernetes_sd_configs")
	names := yamlnode.Get(yamlnode.Get(sd.Content[0], "namespaces"), "names")
	if !rep.Scope || len(sd.Content) != 1 || names == nil || len(names.Content) != 1 || names.Content[0].Value != "apps" ||
		!strings.Contains(out, "field: \"spec.nodeName=$(NODE)\"") {
		t.Errorf("the secure job's discovery is not the plain jobs':\n%s", out)
	}
	again, _, err := Edit(out, owning(opts(), rep))
	if err != nil || again != out {
		t.Errorf("a re-run changed it: %v\n%s", err, again)
	}

	other := strings.Replace(doc, "names: [apps]}\n    selectors: [{role: pod, field: \"spec.nodeName=$(NODE)\"}]\n  relabel_configs:\n  - {source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape_slow]",
		"names: [web]}\n  relabel_configs:\n  - {source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape_slow]", 1)
	_, _, err = Edit(other, opts())
	if err == nil || !strings.Contains(err.Error(), `"pods" and "pods-slow" discover pods in different scopes`) || !strings.Contains(err.Error(), "[1].kubernetes_sd_configs") {
		t.Errorf("different scopes: %v", err)
	}
}

// TestCollectorScopeKeepsItsVariables: the collector's ${env:VAR} in a plain job's
// selectors is copied as written, not escaped as the function's own $ are.
func TestCollectorScopeKeepsItsVariables(t *testing.T) {
	doc := `receivers:
  prometheus:
    config:
      scrape_configs:
      - job_name: kubernetes-pods
        kubernetes_sd_configs:
        - role: pod
          selectors:
          - role: pod
            field: spec.nodeName=${env:OTEL_K8S_NODE_NAME}
        relabel_configs:
        - {source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape], action: keep, regex: true}
        - {source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape_slow], action: drop, regex: true}
service: {}
`
	o := opts()
	o.Scraper = collectorRow(t)
	out, _, err := Edit(doc, o)
	if err != nil {
		t.Fatal(err)
	}
	job := secureOf(t, out, "receivers", "prometheus", "config")
	text, _ := yaml.NewRNode(job).String()
	if !strings.Contains(text, "field: spec.nodeName=${env:OTEL_K8S_NODE_NAME}") || !strings.Contains(text, "replacement: '[$$2]:$$1'") {
		t.Errorf("the scope's variable or the function's $$:\n%s", text)
	}
	// The plain job keeps prometheus.io/scrape pods and drops scrape_slow ones: so does the secure job.
	rules := yamlnode.Get(job, "relabel_configs").Content
	if yamlnode.GetValue(rules[0], "action") != "keep" || yamlnode.Get(rules[0], "source_labels").Content[0].Value != lblScrape ||
		yamlnode.GetValue(rules[1], "action") != "drop" || yamlnode.Get(rules[1], "source_labels").Content[0].Value != lblScrapeSlow {
		t.Errorf("the secure job keeps other pods than the plain job:\n%s", text)
	}
}

// TestAliases: a prometheus.yml with anchors, aliases and merge keys (promtool
// accepts them) is edited; only the list the edit changes is made the job's own,
// the rest keeps its text, and a re-run changes nothing.
func TestAliases(t *testing.T) {
	doc := `scrape_configs:
- job_name: base
  static_configs: [{targets: ["localhost:9090"]}]
  relabel_configs: &common
  - {source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape], action: keep, regex: "true"}
- &podjob
  job_name: pods
  honor_labels: true
  kubernetes_sd_configs: [{role: pod}]
  relabel_configs: *common
- <<: *podjob
  job_name: pods-again
  scrape_interval: 5m
`
	out, rep, err := Edit(doc, opts())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rep.Excluded, ",") != "pods,pods-again" {
		t.Errorf("the plain pod jobs (one through a merge key): %v", rep.Excluded)
	}
	if !strings.Contains(out, "relabel_configs: &common\n  - {source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape], action: keep, regex: \"true\"}\n- &podjob") {
		t.Errorf("the anchored list of a job the edit leaves alone changed:\n%s", out)
	}
	if strings.Join(rep.Carried, ",") != "honor_labels" || len(rep.Differ) != 1 || rep.Differ[0].Job != "pods-again" || strings.Join(rep.Differ[0].Keys, ",") != "scrape_interval" {
		t.Errorf("settings: carried %v, differ %+v", rep.Carried, rep.Differ)
	}
	root, err := yaml.Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range yamlnode.Get(root.YNode(), "scrape_configs").Content {
		name := yamlnode.GetValue(j, "job_name")
		rules := yamlnode.Get(j, "relabel_configs")
		drops := 0
		for _, r := range rules.Content {
			if isOurDropRule(r) {
				drops++
			}
		}
		if want := map[string]int{"base": 0, "pods": 4 - 1, "pods-again": 3, "secure": 0}[name]; drops != want {
			t.Errorf("job %s has %d drop rules, want %d:\n%s", name, drops, want, out)
		}
	}
	again, _, err := Edit(out, owning(opts(), rep))
	if err != nil || again != out {
		t.Errorf("a re-run changed it: %v\n%s\n---\n%s", err, out, again)
	}
}
