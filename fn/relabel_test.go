package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/internal/checks"
	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/scrape"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// prometheusYAML returns the edited prometheus.yml of a golden case.
func prometheusYAML(t *testing.T, caseName string) string {
	t.Helper()
	doc, ok := findPrometheusYAML(t, caseName)
	if !ok {
		t.Fatalf("%s: no prometheus.yml in the output", caseName)
	}
	return doc
}

// expectedItems are the items of a golden case's expected output.
func expectedItems(t *testing.T, caseName string) []*yaml.RNode {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../testdata", caseName, "expected.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	items, err := checks.Items(b)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

// findPrometheusYAML returns the edited prometheus.yml of a golden case, if its
// output has one (a Prometheus resource in ambient mode may be left with none).
func findPrometheusYAML(t *testing.T, caseName string) (string, bool) {
	t.Helper()
	for _, it := range expectedItems(t, caseName) {
		for _, field := range []string{"data", "stringData"} {
			for _, key := range []string{"prometheus.yml", "prometheus.yaml", "main.yml", "additional-scrape-configs.yaml"} {
				n, _ := it.Pipe(yaml.Lookup(field, key))
				if n == nil {
					continue
				}
				v := yaml.GetValue(n)
				if it.GetKind() == "Secret" && field == "data" {
					d, err := base64.StdEncoding.DecodeString(v)
					if err != nil {
						t.Fatal(err)
					}
					v = string(d)
				}
				if strings.Contains(v, "scrape_configs") {
					return v, true
				}
				if key == "additional-scrape-configs.yaml" {
					// prometheus-operator's list form, wrapped in a config as the
					// operator does.
					return "scrape_configs:\n" + v, true
				}
			}
		}
	}
	return "", false
}

type podTarget struct {
	name   string
	labels model.LabelSet
	// want: job name -> "scheme://address/path"; absent jobs must drop the target.
	want map[string]string
}

func pod(ip, port string, ann map[string]string) model.LabelSet {
	ls := model.LabelSet{
		"__meta_kubernetes_namespace":           "apps",
		"__meta_kubernetes_pod_name":            "web-0",
		"__meta_kubernetes_pod_ip":              model.LabelValue(ip),
		"__meta_kubernetes_pod_phase":           "Running",
		"__meta_kubernetes_pod_label_app":       "web",
		"__meta_kubernetes_pod_node_name":       "node-1",
		"__meta_kubernetes_pod_ready":           "true",
		"__meta_kubernetes_pod_host_ip":         "10.0.0.1",
		"__meta_kubernetes_pod_uid":             "uid",
		"__meta_kubernetes_pod_controller_kind": "ReplicaSet",
	}
	addr := ip
	if strings.Contains(ip, ":") {
		addr = "[" + ip + "]"
	}
	if port != "" {
		addr += ":" + port
		ls["__meta_kubernetes_pod_container_port_number"] = model.LabelValue(port)
	}
	ls[model.AddressLabel] = model.LabelValue(addr)
	for k, v := range ann {
		ls[model.LabelName("__meta_kubernetes_pod_annotation_"+sanitize(k))] = model.LabelValue(v)
		ls[model.LabelName("__meta_kubernetes_pod_annotationpresent_"+sanitize(k))] = "true"
	}
	return ls
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

const sidecarStatus = `{"initContainers":["istio-init"],"containers":["istio-proxy"],"volumes":["istio-envoy"],"imagePullSecrets":null,"revision":"default"}`

// TestRelabeling feeds pod targets through Prometheus's own target population and
// relabel engine, for the secure job and the edited plain jobs: every target is
// scraped by exactly the jobs expected, over the right scheme, address and path.
func TestRelabeling(t *testing.T) {
	for _, c := range []string{"helm-1.28", "istio-addon-1.28", "istio-addon-1.5"} {
		t.Run(c, func(t *testing.T) {
			checkTargets(t, loadJobs(t, prometheusYAML(t, c), secureJobName, plainJob, slowJob), chartTargets())
		})
	}
}

// The prometheus chart's plain pod jobs, and the function's secure job.
const secureJobName, plainJob, slowJob = "kubernetes-pods-istio-secure", "kubernetes-pods", "kubernetes-pods-slow"

// chartTargets are pods of every shape, and the jobs of the prometheus chart's
// config (edited by the function) that must scrape each, at which URL.
func chartTargets() []podTarget {
	const secure, plain, slow = secureJobName, plainJob, slowJob
	return []podTarget{
		{"sidecar pod", pod("10.1.0.5", "8080", map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "8080", "sidecar.istio.io/status": sidecarStatus}),
			map[string]string{secure: "https://10.1.0.5:8080/metrics"}},
		{"sidecar pod, Envoy stats container port", pod("10.1.0.5", "15090", map[string]string{"prometheus.io/scrape": "true", "sidecar.istio.io/status": sidecarStatus}),
			map[string]string{}},
		{"sidecar pod, container port without annotation", pod("10.1.0.5", "9090", map[string]string{"prometheus.io/scrape": "true", "sidecar.istio.io/status": sidecarStatus}),
			map[string]string{secure: "https://10.1.0.5:9090/metrics"}},
		{"metrics-merged pod on 15020", pod("10.1.0.6", "8080", map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "15020", "prometheus.io/path": "/stats/prometheus", "sidecar.istio.io/status": sidecarStatus}),
			map[string]string{plain: "http://10.1.0.6:15020/stats/prometheus"}},
		{"plain pod", pod("10.1.0.7", "8080", map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "8080"}),
			map[string]string{plain: "http://10.1.0.7:8080/metrics"}},
		{"sidecar pod without any port", pod("10.1.0.8", "", map[string]string{"prometheus.io/scrape": "true", "sidecar.istio.io/status": sidecarStatus}),
			map[string]string{}},
		{"opt-in pod without sidecar", pod("10.1.0.9", "9100", map[string]string{"prometheus.io/scrape": "true", "istio.mtls": "true"}),
			map[string]string{secure: "https://10.1.0.9:9100/metrics"}},
		{"custom path and port", pod("10.1.0.10", "80", map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "9000", "prometheus.io/path": "/custom/metrics", "sidecar.istio.io/status": sidecarStatus}),
			map[string]string{secure: "https://10.1.0.10:9000/custom/metrics"}},
		{"IPv6 sidecar pod", pod("fd00::1:5", "8080", map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "8080", "sidecar.istio.io/status": sidecarStatus}),
			map[string]string{secure: "https://[fd00::1:5]:8080/metrics"}},
		{"not annotated sidecar pod", pod("10.1.0.11", "8080", map[string]string{"sidecar.istio.io/status": sidecarStatus}),
			map[string]string{}},
		{"slow plain pod", pod("10.1.0.12", "8080", map[string]string{"prometheus.io/scrape_slow": "true", "prometheus.io/port": "8080"}),
			map[string]string{slow: "http://10.1.0.12:8080/metrics"}},
		{"slow sidecar pod", pod("10.1.0.13", "8080", map[string]string{"prometheus.io/scrape_slow": "true", "prometheus.io/port": "8080", "sidecar.istio.io/status": sidecarStatus}),
			map[string]string{secure: "https://10.1.0.13:8080/metrics"}},
		{"pending sidecar pod", func() model.LabelSet {
			ls := pod("10.1.0.14", "8080", map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "8080", "sidecar.istio.io/status": sidecarStatus})
			ls["__meta_kubernetes_pod_phase"] = "Pending"
			return ls
		}(), map[string]string{}},
	}
}

// loadJobs loads a prometheus.yml with Prometheus's own config loader and returns
// the named jobs (each must be there).
func loadJobs(t *testing.T, doc string, names ...string) []*promconfig.ScrapeConfig {
	t.Helper()
	cfg, err := promconfig.Load(withoutSD(t, doc), nil)
	if err != nil {
		t.Fatalf("Prometheus cannot load the config: %v", err)
	}
	var jobs []*promconfig.ScrapeConfig
	for _, name := range names {
		i := slices.IndexFunc(cfg.ScrapeConfigs, func(sc *promconfig.ScrapeConfig) bool { return sc.JobName == name })
		if i < 0 {
			t.Fatalf("job %q missing", name)
		}
		jobs = append(jobs, cfg.ScrapeConfigs[i])
	}
	return jobs
}

// checkTargets feeds each target through each job with Prometheus's target
// population and relabeling: exactly the jobs it wants scrape it, at its URLs.
func checkTargets(t *testing.T, jobs []*promconfig.ScrapeConfig, targets []podTarget) {
	t.Helper()
	for _, tg := range targets {
		got := map[string]string{}
		for _, job := range jobs {
			res, err := scrape.PopulateLabels(labels.NewBuilder(labels.EmptyLabels()), job, tg.labels, nil)
			if err != nil {
				t.Errorf("%s: job %s: %v", tg.name, job.JobName, err)
				continue
			}
			if !res.IsEmpty() {
				got[job.JobName] = res.Get(model.SchemeLabel) + "://" + res.Get(model.AddressLabel) + res.Get(model.MetricsPathLabel)
			}
		}
		if len(got) != len(tg.want) {
			t.Errorf("%s: scraped by %v, want %v", tg.name, got, tg.want)
			continue
		}
		for job, url := range tg.want {
			if got[job] != url {
				t.Errorf("%s: job %s scrapes %q, want %q", tg.name, job, got[job], url)
			}
		}
	}
}

// withoutSD removes kubernetes_sd_configs: this test needs the jobs' relabeling,
// not service discovery (whose package would pull in client-go); promtool checks
// the whole config, SD included, in TestPromtool.
func withoutSD(t *testing.T, doc string) string {
	t.Helper()
	root, err := yaml.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := root.Pipe(yaml.Lookup("scrape_configs"))
	if err != nil || jobs == nil {
		t.Fatalf("no scrape_configs: %v", err)
	}
	for _, j := range jobs.YNode().Content {
		if _, err := yaml.NewRNode(j).Pipe(yaml.Clear("kubernetes_sd_configs")); err != nil {
			t.Fatal(err)
		}
	}
	return root.MustString()
}

// TestRelabelingAmbient: after the switch to ambient mode the plain jobs scrape
// sidecar pods again, over http (ztunnel carries it over mTLS), and no job keeps
// an https scrape of them; checked with Prometheus's own target population.
func TestRelabelingAmbient(t *testing.T) {
	const plain, slow = "kubernetes-pods", "kubernetes-pods-slow"
	targets := []podTarget{
		{"sidecar pod", pod("10.1.0.5", "8080", map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "8080", "sidecar.istio.io/status": sidecarStatus}),
			map[string]string{plain: "http://10.1.0.5:8080/metrics"}},
		{"slow sidecar pod", pod("10.1.0.13", "8080", map[string]string{"prometheus.io/scrape_slow": "true", "prometheus.io/port": "8080", "sidecar.istio.io/status": sidecarStatus}),
			map[string]string{slow: "http://10.1.0.13:8080/metrics"}},
		{"ambient pod", pod("10.1.0.7", "8080", map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "8080", "ambient.istio.io/redirection": "enabled"}),
			map[string]string{plain: "http://10.1.0.7:8080/metrics"}},
		{"opt-in pod", pod("10.1.0.9", "9100", map[string]string{"prometheus.io/scrape": "true", "istio.mtls": "true"}),
			map[string]string{plain: "http://10.1.0.9:9100/metrics"}},
	}
	for _, c := range []string{"istio-addon-sidecar-to-ambient", "istio-addon-ambient", "helm-ambient"} {
		t.Run(c, func(t *testing.T) {
			doc := prometheusYAML(t, c)
			// Pod targets come only from role-pod discovery: every such job.
			checkTargets(t, loadJobs(t, doc, rolePodJobs(t, doc)...), targets)
		})
	}
}

// rolePodJobs names the jobs of doc that discover pods (kubernetes_sd role pod).
func rolePodJobs(t *testing.T, doc string) []string {
	t.Helper()
	root, err := yaml.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	jobs, _ := root.Pipe(yaml.Lookup("scrape_configs"))
	var out []string
	for _, j := range jobs.YNode().Content {
		sds, _ := yaml.NewRNode(j).Pipe(yaml.Lookup("kubernetes_sd_configs"))
		if sds == nil {
			continue
		}
		for _, sd := range sds.YNode().Content {
			if r, _ := yaml.NewRNode(sd).Pipe(yaml.Lookup("role")); r != nil && yaml.GetValue(r) == "pod" {
				n, _ := yaml.NewRNode(j).Pipe(yaml.Lookup("job_name"))
				out = append(out, yaml.GetValue(n))
			}
		}
	}
	return out
}

// TestRelabelingSecurePorts: with securePortJob, a pod with Istio's secure metrics
// port is scraped by istio-secure-merged-metrics only (not by the plain job that
// excludes sidecar pods, nor by the secure job), and the plain rules still keep a
// metrics-merged pod and drop a sidecar pod; Prometheus's own relabeling decides.
func TestRelabelingSecurePorts(t *testing.T) {
	const secure, merged, plain = "kubernetes-pods-istio-secure", "istio-secure-merged-metrics", "kubernetes-pods"
	withPort := map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "15020", "prometheus.io/path": "/stats/prometheus",
		"prometheus.istio.io/secure-port": "15014", "sidecar.istio.io/status": sidecarStatus}
	targets := []podTarget{
		{"secure metrics port", pod("10.1.0.20", "8080", withPort), map[string]string{merged: "https://10.1.0.20:15014/stats/prometheus"}},
		{"metrics-merged pod on 15020", pod("10.1.0.6", "8080", map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "15020", "prometheus.io/path": "/stats/prometheus", "sidecar.istio.io/status": sidecarStatus}),
			map[string]string{plain: "http://10.1.0.6:15020/stats/prometheus"}},
		{"sidecar pod", pod("10.1.0.5", "8080", map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "8080", "sidecar.istio.io/status": sidecarStatus}),
			map[string]string{secure: "https://10.1.0.5:8080/metrics"}},
		{"plain pod", pod("10.1.0.7", "8080", map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "8080"}),
			map[string]string{plain: "http://10.1.0.7:8080/metrics"}},
	}
	checkTargets(t, loadJobs(t, prometheusYAML(t, "istio-addon-revision"), secure, merged, plain), targets)
}

// scrapeConfigCR returns the ScrapeConfig resource in a golden case's output, if
// there is one.
func scrapeConfigCR(t *testing.T, caseName string) *yaml.RNode {
	t.Helper()
	for _, it := range expectedItems(t, caseName) {
		if it.GetKind() == "ScrapeConfig" {
			return it
		}
	}
	return nil
}

func hasScrapeConfigCR(t *testing.T, caseName string) bool { return scrapeConfigCR(t, caseName) != nil }

// TestRelabelingScrapeConfigCR: the ScrapeConfig resource the function writes for
// a Prometheus whose additionalScrapeConfigs Secret is external, its relabelings
// turned into a job as prometheus-operator does (camelCase fields to Prometheus's,
// the scheme lower-cased), scrapes exactly the sidecar pods over https, as the
// secure job of a prometheus.yml does; its TLS comes from the istio-mtls class.
func TestRelabelingScrapeConfigCR(t *testing.T) {
	sc := scrapeConfigCR(t, "kube-prometheus-stack-external-secret")
	if sc == nil {
		t.Fatal("no ScrapeConfig in the output")
	}
	if class, _ := sc.Pipe(yaml.Lookup("spec", "scrapeClass")); class == nil || yaml.GetValue(class) != "istio-mtls" {
		t.Errorf("scrapeClass %v, want istio-mtls", class)
	}
	rules, err := sc.Pipe(yaml.Lookup("spec", "relabelings"))
	if err != nil || rules == nil {
		t.Fatalf("no relabelings: %v", err)
	}
	text := rules.MustString()
	for from, to := range map[string]string{"sourceLabels:": "source_labels:", "targetLabel:": "target_label:"} {
		text = strings.ReplaceAll(text, from, to)
	}
	job := "scrape_configs:\n- job_name: scrapeConfig/monitoring/" + sc.GetName() + "\n  scheme: https\n  relabel_configs:\n" +
		"  " + strings.ReplaceAll(strings.TrimSuffix(text, "\n"), "\n", "\n  ") + "\n"
	jobs := loadJobs(t, job, "scrapeConfig/monitoring/"+sc.GetName())
	name := jobs[0].JobName
	checkTargets(t, jobs, []podTarget{
		{"sidecar pod", pod("10.1.0.5", "8080", map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "8080", "sidecar.istio.io/status": sidecarStatus}),
			map[string]string{name: "https://10.1.0.5:8080/metrics"}},
		{"metrics-merged pod", pod("10.1.0.6", "8080", map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "15020", "sidecar.istio.io/status": sidecarStatus}),
			map[string]string{}},
		{"plain pod", pod("10.1.0.7", "8080", map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "8080"}),
			map[string]string{}},
	})
}

// TestRelabelingServiceEndpoints: the prometheus chart's kubernetes-service-endpoints
// job (role endpointslice, kept by the Service's prometheus.io/scrape) leaves a sidecar
// pod the secure job scrapes (it is annotated itself), and keeps the others: a pod is
// scraped by one job only, and none is dropped that no job takes.
func TestRelabelingServiceEndpoints(t *testing.T) {
	const service = "kubernetes-service-endpoints"
	behindService := func(ann map[string]string) model.LabelSet {
		ls := pod("10.1.0.5", "8080", ann)
		extra := model.LabelSet{
			"__meta_kubernetes_service_annotation_prometheus_io_scrape": "true",
			"__meta_kubernetes_service_name":                            "web",
			"__meta_kubernetes_endpointslice_port_name":                 "http",
			"__meta_kubernetes_endpointslice_endpoint_conditions_ready": "true",
		}
		for k, v := range extra {
			ls[k] = v
		}
		return ls
	}
	targets := []podTarget{
		{"annotated sidecar pod behind an annotated Service", behindService(map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "8080", "sidecar.istio.io/status": sidecarStatus}),
			map[string]string{secureJobName: "https://10.1.0.5:8080/metrics"}},
		{"sidecar pod behind an annotated Service, not annotated itself", behindService(map[string]string{"sidecar.istio.io/status": sidecarStatus}),
			map[string]string{service: "http://10.1.0.5:8080/metrics"}},
		{"plain pod behind an annotated Service", behindService(map[string]string{}),
			map[string]string{service: "http://10.1.0.5:8080/metrics"}},
		{"annotated plain pod behind an annotated Service", behindService(map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "8080"}),
			map[string]string{service: "http://10.1.0.5:8080/metrics", plainJob: "http://10.1.0.5:8080/metrics"}},
	}
	checkTargets(t, loadJobs(t, prometheusYAML(t, "prometheus-chart-29.27.0"), secureJobName, plainJob, service), targets)
}
