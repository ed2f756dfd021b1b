package main

import (
	"encoding/base64"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/internal/checks"
	"github.com/kptdev/krm-functions-sdk/go/fn"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

const deploy = `apiVersion: apps/v1
kind: Deployment
metadata: {name: prom, namespace: mon}
spec:
  selector: {matchLabels: {app: prom}}
  template:
    metadata: {labels: {app: prom}}
    spec:
      containers:
      - name: prometheus
        image: prom/prometheus:v3.10.0
        args: [--config.file=/etc/prometheus/prometheus.yml]
        volumeMounts: [{name: config, mountPath: /etc/prometheus}]
      volumes:
      - {name: config, configMap: {name: prom-config}}
`

const configMap = `apiVersion: v1
kind: ConfigMap
metadata: {name: prom-config, namespace: mon}
data:
  prometheus.yml: |
    scrape_configs: []
`

// alloyDeploy is a Grafana Alloy DaemonSet, as its chart renders it, with the
// ConfigMap holding its config.alloy (config: the file's text, indented).
func alloyDeploy(config string) string {
	return `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: alloy, namespace: mon}
spec:
  selector: {matchLabels: {app: alloy}}
  template:
    metadata: {labels: {app: alloy}}
    spec:
      containers:
      - name: alloy
        image: docker.io/grafana/alloy:v1.18.1
        args: [run, /etc/alloy/config.alloy, --storage.path=/tmp/alloy]
        volumeMounts: [{name: config, mountPath: /etc/alloy}]
      volumes:
      - {name: config, configMap: {name: alloy}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: alloy, namespace: mon}
data:
  config.alloy: |
` + config
}

// otelDeploy is an OpenTelemetry Collector DaemonSet, as its chart renders it.
const otelDeploy = `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: otel, namespace: mon}
spec:
  selector: {matchLabels: {app: otel}}
  template:
    metadata: {labels: {app: otel}}
    spec:
      containers:
      - name: opentelemetry-collector
        image: otel/opentelemetry-collector-k8s:0.158.0
        args: [--config=/conf/relay.yaml]
        volumeMounts: [{name: config, mountPath: /conf}]
      volumes:
      - {name: config, configMap: {name: otel-config}}
`

// otelConfig is the collector's ConfigMap with the given receivers.
func otelConfig(receivers string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: otel-config, namespace: mon}\ndata:\n  relay.yaml: |\n    receivers:\n      " + receivers +
		"\n    exporters: {debug: {}}\n    service: {pipelines: {metrics: {receivers: [otlp], exporters: [debug]}}}\n"
}

// vmagentDeploy is deploy running vmagent, with arg (none when empty).
func vmagentDeploy(arg string) string {
	d := strings.Replace(strings.Replace(deploy, "name: prom, namespace", "name: vma, namespace", 1), "      - name: prometheus\n        image: prom/prometheus:v3.10.0\n", "      - name: vmagent\n        image: victoriametrics/vmagent:v1.150.0\n", 1)
	return strings.Replace(d, "args: [--config.file=/etc/prometheus/prometheus.yml]", "args: ["+arg+"]", 1)
}

// otelCR is an OpenTelemetryCollector with spec (one line per field).
func otelCR(spec string) string {
	return "apiVersion: opentelemetry.io/v1beta1\nkind: OpenTelemetryCollector\nmetadata: {name: otel, namespace: mon}\nspec:\n  " + spec + "\n"
}

// vmagentCR is a VMAgent with spec.
func vmagentCR(spec string) string {
	return "apiVersion: operator.victoriametrics.com/v1beta1\nkind: VMAgent\nmetadata: {name: vma, namespace: mon}\nspec:\n  " + spec + "\n"
}

func cfg(spec string) string {
	return "apiVersion: fn.istio-prometheus-mtls.dev/v1alpha1\nkind: PrometheusMTLS\nmetadata: {name: x}\nspec:\n" + spec
}

// TestBadInput: each case is an error result with the resource, field and message
// expected, a failed run, and the items exactly as they came in.
func TestBadInput(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, items, config string
		ref, field, msg     string
	}{
		{"wrong config kind", deploy + "---\n" + configMap, "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\n",
			"Secret/x", "kind", `must be "PrometheusMTLS" (or a v1 ConfigMap), got "Secret"`},
		{"wrong config apiVersion", deploy + "---\n" + configMap, "apiVersion: fn.istio-prometheus-mtls.dev/v2\nkind: PrometheusMTLS\nmetadata: {name: x}\n",
			"PrometheusMTLS/x", "apiVersion", `must be "fn.istio-prometheus-mtls.dev/v1alpha1" (or a v1 ConfigMap), got "fn.istio-prometheus-mtls.dev/v2"`},
		{"unknown config field", deploy + "---\n" + configMap, cfg("  istio:\n    verison: \"1.28\"\n"),
			"PrometheusMTLS/x", "spec.istio.verison", "unknown field (see `istio-prometheus-mtls --help` for the API)"},
		{"wrong type", deploy + "---\n" + configMap, cfg("  istio:\n    nativeSidecar: yes please\n"),
			"PrometheusMTLS/x", "spec.istio.nativeSidecar", "wrong type: got a string, want a boolean"},
		{"invalid resource quantity", deploy + "---\n" + configMap, cfg("  istio:\n    resources: {limits: {cpu: lots}}\n"),
			"PrometheusMTLS/x", "spec.istio.resources.limits.cpu", `quantity "lots" is not valid: quantities must match the regular expression`},
		{"unquoted version", deploy + "---\n" + configMap, cfg("  istio:\n    version: 1.30\n"),
			"PrometheusMTLS/x", "spec.istio.version", `must be a string: quote it ("1.30"), YAML reads an unquoted 1.30 as a number`},
		{"unknown Istio version", deploy + "---\n" + configMap, cfg("  istio:\n    version: \"1.4\"\n"),
			"PrometheusMTLS/x", "spec.istio.version", "Istio 1.4 is not supported (supported: 1.5, 1.6–1.13, 1.14–1.21, 1.22–1.27, 1.28, 1.29–1.31, and newer releases with the newest profile)"},
		{"Istio version that does not parse", deploy + "---\n" + configMap, cfg("  istio:\n    version: one.thirty\n"),
			"PrometheusMTLS/x", "spec.istio.version", `"one.thirty" is not an Istio version of the form 1.X or 1.X.Y`},
		{"invalid mode", deploy + "---\n" + configMap, cfg("  mode: magic\n"),
			"PrometheusMTLS/x", "spec.mode", `must be "sidecar", "injection" or "ambient", got "magic"`},
		{"unknown ConfigMap key", deploy + "---\n" + configMap, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  istio_version: \"1.28\"\n",
			"ConfigMap/c", "data.istio_version", "unknown key (known: "},
		{"no Prometheus", configMap, "",
			"", "spec.target", "no scraper workload found: the list holds no Deployment, StatefulSet, DaemonSet, Prometheus, PrometheusAgent, VMAgent, OpenTelemetryCollector"},
		{"two Prometheus", deploy + "---\n" + strings.Replace(deploy, "name: prom,", "name: prom2,", 1) + "---\n" + configMap, "",
			"", "spec.target", "2 scraper workloads match (Deployment mon/prom, Deployment mon/prom2); select one with spec.target"},
		{"selector matches nothing", deploy + "---\n" + configMap, cfg("  target:\n    name: nope\n"),
			"PrometheusMTLS/x", "spec.target", "no workload matches spec.target (name=nope) among the workloads considered (Deployment mon/prom)"},
		{"named container missing", deploy + "---\n" + configMap, cfg("  target:\n    container: server\n"),
			"Deployment/mon/prom", "spec.template.spec.containers", `no container named "server" (spec.target.container); containers: prometheus`},
		{"config.file outside mounts", strings.Replace(deploy, "/etc/prometheus/prometheus.yml", "/config/p.yml", 1) + "---\n" + configMap, "",
			"Deployment/mon/prom", "spec.template.spec.containers[0]", `container "prometheus" passes --config.file=/config/p.yml, but no volumeMount of that container contains /config/p.yml`},
		{"plain pod jobs of different scopes", deploy + "---\n" + strings.Replace(configMap, "scrape_configs: []", `scrape_configs:
    - job_name: a
      kubernetes_sd_configs: [{role: pod, namespaces: {names: [a]}}]
      relabel_configs: [{source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape], action: keep, regex: "true"}]
    - job_name: b
      kubernetes_sd_configs: [{role: pod, namespaces: {names: [b]}}]
      relabel_configs: [{source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape], action: keep, regex: "true"}]`, 1), "",
			"ConfigMap/mon/prom-config", "data.prometheus.yml", `scrape_configs[1].kubernetes_sd_configs: the plain pod jobs "a" and "b" discover pods in different scopes`},
		{"config file named by a variable from valueFrom", strings.Replace(strings.Replace(deploy, "/etc/prometheus/prometheus.yml", "$(CONFIG)", 1), "        volumeMounts:", "        env: [{name: CONFIG, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]\n        volumeMounts:", 1) + "---\n" + configMap, "",
			"Deployment/mon/prom", "spec.template.spec.containers[0]", `names its config file with $(CONFIG), whose value comes from env[0].valueFrom`},
		{"scrape_config_files in another directory", deploy + "---\n" + strings.Replace(configMap, "scrape_configs: []", "scrape_config_files: [/etc/jobs/*.yml]\n    scrape_configs: []", 1), "",
			"ConfigMap/mon/prom-config", "data.prometheus.yml", `scrape_config_files[0]: "/etc/jobs/*.yml" is not a file of the directory /etc/prometheus`},
		{"an Alloy config with no pod pipeline", alloyDeploy("    prometheus.remote_write \"mimir\" {\n      endpoint {\n        url = \"http://mimir/api/v1/push\"\n      }\n    }\n"), "",
			"ConfigMap/mon/alloy", "data.config.alloy", `has no prometheus.scrape of pods`},
		{"an Alloy pod scrape that forwards nowhere", alloyDeploy("    discovery.kubernetes \"pods\" {\n      role = \"pod\"\n    }\n    prometheus.scrape \"pods\" {\n      targets = discovery.kubernetes.pods.targets\n    }\n"), "",
			"ConfigMap/mon/alloy", "data.config.alloy", `prometheus.scrape.pods (line 4) has no forward_to`},
		{"an Alloy config that does not parse", alloyDeploy("    discovery.kubernetes \"pods\" {\n      role = \n    }\n"), "",
			"ConfigMap/mon/alloy", "data.config.alloy", `is not a valid Alloy configuration: config.alloy:3:1: expected expression, got }`},
		{"scrape ConfigMap missing", deploy, "",
			"Deployment/mon/prom", "spec.template.spec.volumes", `reads ConfigMap "prom-config"; it is not in the list of resources`},
		{"key missing", deploy + "---\n" + strings.Replace(configMap, "prometheus.yml:", "other.yml:", 1), "",
			"ConfigMap/mon/prom-config", "data", `which reads key "prometheus.yml" of this ConfigMap; the key is missing`},
		{"prometheus.yml not YAML", deploy + "---\n" + strings.Replace(configMap, "scrape_configs: []", "scrape_configs: [", 1), "",
			"ConfigMap/mon/prom-config", "data.prometheus.yml", "prometheus.yml is not valid YAML"},
		{"scrape_configs not a list", deploy + "---\n" + strings.Replace(configMap, "scrape_configs: []", "scrape_configs: {}", 1), "",
			"ConfigMap/mon/prom-config", "data.prometheus.yml", "scrape_configs: must be a list of jobs, got a mapping"},
		{"user job with our name", deploy + "---\n" + strings.Replace(configMap, "scrape_configs: []", "scrape_configs: [{job_name: kubernetes-pods-istio-secure}]", 1), "",
			"ConfigMap/mon/prom-config", "data.prometheus.yml", `a job named "kubernetes-pods-istio-secure" exists that this function did not write`},
		{"not a Prometheus config (an OpenTelemetry Collector's)", deploy + "---\n" + strings.Replace(configMap, "scrape_configs: []",
			"receivers:\n      prometheus:\n        config:\n          scrape_configs: []\n    exporters: {debug: {}}\n    service:\n      pipelines: {metrics: {receivers: [prometheus], exporters: [debug]}}", 1), "",
			"ConfigMap/mon/prom-config", "data.prometheus.yml", "is not a Prometheus configuration: its top-level keys receivers, exporters, service are not Prometheus's"},
		{"a vmagent with no -promscrape.config", vmagentDeploy("") + "---\n" + configMap, "",
			"Deployment/mon/vma", "spec.template.spec.containers", `container "vmagent" passes no --promscrape.config, so vmagent reads no scrape configuration; pass --promscrape.config=FILE`},
		{"a vmagent file with a key vmagent does not know", vmagentDeploy("-promscrape.config=/etc/prometheus/prometheus.yml") + "---\n" + strings.Replace(configMap, "scrape_configs: []", "scrape_configs: []\n    remote_write: [{url: http://x}]", 1), "",
			"ConfigMap/mon/prom-config", "data.prometheus.yml", "is not a vmagent configuration: its top-level keys remote_write are not vmagent's (global, scrape_configs, scrape_config_files)"},
		{"a collector with no prometheus receiver", otelDeploy + "---\n" + otelConfig("otlp: {}"), "",
			"ConfigMap/mon/otel-config", "data.relay.yaml", "has no prometheus receiver, so there is no scrape config to add the job to"},
		{"a collector with two prometheus receivers, none named", otelDeploy + "---\n" + otelConfig("prometheus: {config: {scrape_configs: []}}\n      prometheus/other: {config: {scrape_configs: []}}"), "",
			"ConfigMap/mon/otel-config", "data.relay.yaml", "has 2 prometheus receivers (prometheus, prometheus/other); name the one the job goes into with spec.scrapeConfig.receiver"},
		{"a collector's receiver named that it does not have", otelDeploy + "---\n" + otelConfig("prometheus: {config: {scrape_configs: []}}"), cfg("  scrapeConfig: {receiver: prometheus/nope}\n"),
			"ConfigMap/mon/otel-config", "data.relay.yaml", `has no receiver "prometheus/nope" (spec.scrapeConfig.receiver); its prometheus receivers: prometheus`},
		{"an OpenTelemetryCollector in sidecar mode", otelCR("mode: sidecar\n  config: {receivers: {prometheus: {config: {scrape_configs: []}}}}"), "",
			"OpenTelemetryCollector/mon/otel", "spec.mode", `"sidecar": the operator injects this collector into other pods`},
		{"an OpenTelemetryCollector with no config", otelCR("mode: deployment"), "",
			"OpenTelemetryCollector/mon/otel", "spec.config", "missing: the OpenTelemetry Collector has no config to put the scrape job in"},
		{"an OpenTelemetryCollector's target allocator and a receiver not named prometheus", otelCR("targetAllocator: {enabled: true}\n  config: {receivers: {prometheus/self: {config: {scrape_configs: []}}}}"), "",
			"OpenTelemetryCollector/mon/otel", "spec.config.receivers.prometheus/self", "the operator gives the target allocator the jobs of the receiver named prometheus only"},
		{"a VMAgent's additionalScrapeConfigs without a key", vmagentCR("additionalScrapeConfigs: {name: extra}"), "",
			"VMAgent/mon/vma", "spec.additionalScrapeConfigs", "needs both name and key"},
		{"a VMAgent and a Prometheus Deployment, none selected", vmagentCR("selectAllByDefault: true") + "---\n" + deploy + "---\n" + configMap, "",
			"", "spec.target", "2 scraper workloads match (VMAgent mon/vma, Deployment mon/prom)"},
		{"invalid base64", strings.Replace(deploy, "configMap: {name: prom-config}", "secret: {secretName: prom-config}", 1) + "---\napiVersion: v1\nkind: Secret\nmetadata: {name: prom-config, namespace: mon}\ndata:\n  prometheus.yml: '!!!'\n", "",
			"Secret/mon/prom-config", "data.prometheus.yml", "is not valid base64"},
		{"volume name collision", strings.Replace(deploy, "volumes:\n", "volumes:\n      - {name: istio-envoy, emptyDir: {}}\n", 1) + "---\n" + configMap, "",
			"Deployment/mon/prom", "spec.template.spec.volumes[0]", `name "istio-envoy" is already used by something this function did not add, with different content`},
		{"mount path collision", strings.Replace(deploy, "mountPath: /etc/prometheus}", "mountPath: /etc/prometheus}, {name: config, mountPath: /etc/istio-certs}", 1) + "---\n" + configMap, "",
			"Deployment/mon/prom", "spec.template.spec.containers[0].volumeMounts[1]", `already mounts volume "config" at /etc/istio-certs, which collides with the certificate mount path`},
		{"container name collision", strings.Replace(deploy, "      volumes:", "      - {name: istio-proxy, image: istio/proxyv2:1.20.0}\n      volumes:", 1) + "---\n" + configMap, cfg("  istio:\n    nativeSidecar: false\n"),
			"Deployment/mon/prom", "spec.template.spec.containers[1]", `name "istio-proxy" is already used by something this function did not add`},
		{"native sidecar (the default) collides with a container", strings.Replace(deploy, "      volumes:", "      - {name: istio-proxy, image: istio/proxyv2:1.20.0}\n      volumes:", 1) + "---\n" + configMap, "",
			"Deployment/mon/prom", "spec.template.spec.containers[1]", `a container named "istio-proxy" already exists; it collides with the initContainers this function adds`},
		{"no pod template", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: prom, namespace: mon}\nspec: {replicas: 1}\n---\n" + configMap, cfg("  target:\n    name: prom\n"),
			"Deployment/mon/prom", "spec.template", "missing: the workload has no pod template"},
		{"envoy false on 1.6 profile", deploy + "---\n" + configMap, cfg("  istio:\n    version: \"1.10\"\n    envoy: false\n"),
			"PrometheusMTLS/x", "spec.istio.envoy", "envoy: false needs an Istio version whose pilot-agent runs without Envoy"},
		{"envoy false with injection", deploy + "---\n" + configMap, cfg("  mode: injection\n  istio:\n    envoy: false\n"),
			"PrometheusMTLS/x", "spec.istio.envoy", "envoy: false cannot be used with mode injection: the injected istio-proxy's readiness and startup probes ask Envoy on port 15021"},
		{"duplicate resources", deploy + "---\n" + configMap + "---\n" + configMap, "",
			"", "", "the ResourceList is invalid: duplicate Resource(apiVersion=v1, kind=ConfigMap, Namespace=mon, Name=prom-config)"},
		{"empty job name", deploy + "---\n" + configMap, cfg("  scrapeJob:\n    name: \" \"\n"),
			"PrometheusMTLS/x", "spec.scrapeJob.name", "must be a non-empty single-line job name"},
		{"native sidecar collides with an init container", strings.Replace(deploy, "      containers:", "      initContainers:\n      - {name: istio-proxy, image: istio/proxyv2:1.28.0}\n      containers:", 1) + "---\n" + configMap, cfg("  istio:\n    nativeSidecar: true\n"),
			"Deployment/mon/prom", "spec.template.spec.initContainers[0]", `name "istio-proxy" is already used by something this function did not add`},
		{"sidecar collides with an init container", strings.Replace(deploy, "      containers:", "      initContainers:\n      - {name: istio-proxy, image: istio/proxyv2:1.28.0}\n      containers:", 1) + "---\n" + configMap, cfg("  istio:\n    nativeSidecar: false\n"),
			"Deployment/mon/prom", "spec.template.spec.initContainers[0]", `a container named "istio-proxy" already exists; it collides with the containers this function adds`},
		{"status annotation tampered", strings.Replace(deploy, "metadata: {labels: {app: prom}}", "metadata: {labels: {app: prom}, annotations: {istio-prometheus-mtls.dev/status: 'nope'}}", 1) + "---\n" + configMap, "",
			"Deployment/mon/prom", "spec.template.metadata.annotations.istio-prometheus-mtls.dev/status", "is not the JSON this function writes"},
		{"operator: additionalScrapeConfigs Secret not in the list", "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {name: k8s, namespace: monitoring}\nspec:\n  additionalScrapeConfigs: {name: extra, key: jobs.yaml}\n", "",
			"Prometheus/monitoring/k8s", "spec.scrapeConfigSelector", `is unset, so k8s selects no ScrapeConfig resource`},
		{"operator: external Secret, ScrapeConfigs selected by expressions", "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {name: k8s, namespace: monitoring}\nspec:\n  additionalScrapeConfigs: {name: extra, key: jobs.yaml}\n  scrapeConfigSelector: {matchExpressions: [{key: release, operator: Exists}]}\n", "",
			"Prometheus/monitoring/k8s", "spec.scrapeConfigSelector.matchExpressions", `cannot tell whether these expressions select it`},
		{"operator: foreign istio-mtls scrape class", "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {name: k8s, namespace: monitoring}\nspec:\n  scrapeClasses: [{name: istio-mtls, tlsConfig: {caFile: /x}}]\n", "",
			"Prometheus/monitoring/k8s", "spec.scrapeClasses[0]", `a scrape class named "istio-mtls" exists that this function did not write`},
		{"operator: a second default scrape class", "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {name: k8s, namespace: monitoring}\nspec:\n  scrapeClasses: [{name: mine, default: true}]\n", cfg("  scrapeJob:\n    defaultScrapeClass: true\n"),
			"Prometheus/monitoring/k8s", "spec.scrapeClasses[0]", `scrape class "mine" is already the default; only one may be`},
		{"operator: additional scrape configs not a list", "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {name: k8s, namespace: monitoring}\nspec:\n  additionalScrapeConfigs: {name: extra, key: jobs.yaml}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: extra, namespace: monitoring}\nstringData:\n  jobs.yaml: 'global: {}'\n", "",
			"Secret/monitoring/extra", "stringData.jobs.yaml", "the additional scrape configs must be a YAML list of jobs, got a mapping"},
		{"injection with a hand-written istio-proxy", strings.Replace(deploy, "      volumes:", "      - {name: istio-proxy, image: istio/proxyv2:1.20.0}\n      volumes:", 1) + "---\n" + configMap, cfg("  mode: injection\n"),
			"Deployment/mon/prom", "spec.template.spec.containers[1]", `the pod already has a container named "istio-proxy", and Istio's injector adds one of that name`},
		{"operator: a Prometheus name that is no Secret name", "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {name: 'x: {y', namespace: monitoring}\nspec: {}\n", "",
			"Prometheus/monitoring/x: {y", "metadata.name", `the function would create Secret "x: {y-istio-mtls-scrape" for spec.additionalScrapeConfigs, which is not a valid name`},
		{"scrapeConfig names a missing ConfigMap", deploy + "---\n" + configMap, cfg("  scrapeConfig:\n    kind: ConfigMap\n    name: other\n"),
			"PrometheusMTLS/x", "spec.scrapeConfig", `ConfigMap "other"`},
		{"metadata is a list", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n- name: prom\n---\n" + configMap, "",
			"", "metadata", "items[0] (Deployment): metadata must be a mapping, got a list"},
		{"pod template labels are a list", strings.Replace(deploy, "metadata: {labels: {app: prom}}", "metadata: {labels: [app]}", 1) + "---\n" + configMap, "",
			"", "spec.template.metadata.labels", "items[0] (Deployment prom): spec.template.metadata.labels must be a mapping, got a list"},
		{"mount path not absolute", deploy + "---\n" + configMap, cfg("  certificates:\n    mountPath: certs\n"),
			"PrometheusMTLS/x", "spec.certificates.mountPath", `must be an absolute path other than /, got "certs"`},
	}
	exact := readExactMessages(t)
	got := map[string]string{}
	defer func() { writeExactMessages(t, got) }()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := resourceList(t, []byte(c.items), []byte(c.config))
			out, err := runFn(in)
			if err == nil {
				t.Fatalf("no error; output:\n%s", out)
			}
			rl, perr := fn.ParseResourceList(out)
			if perr != nil {
				t.Fatal(perr)
			}
			if len(rl.Results) != 1 {
				t.Fatalf("want one result, got %v", rl.Results)
			}
			r := rl.Results[0]
			if r.Severity != fn.Error {
				t.Errorf("severity %s", r.Severity)
			}
			got[c.name] = r.String()
			if want, ok := exact[c.name]; !*update && (!ok || want != r.String()) {
				t.Errorf("result:\n got %s\nwant %s\n(testdata/bad-input-results.txt; go test ./fn -run TestBadInput -update to rewrite, then review)", r.String(), want)
			}
			if !strings.Contains(r.Message, c.msg) {
				t.Errorf("message:\n got %q\nwant it to contain %q", r.Message, c.msg)
			}
			ref := ""
			if r.ResourceRef != nil {
				ref = r.ResourceRef.Kind + "/" + r.ResourceRef.Name
				if r.ResourceRef.Namespace != "" {
					ref = r.ResourceRef.Kind + "/" + r.ResourceRef.Namespace + "/" + r.ResourceRef.Name
				}
			}
			if ref != c.ref {
				t.Errorf("resourceRef %q, want %q", ref, c.ref)
			}
			field := ""
			if r.Field != nil {
				field = r.Field.Path
			}
			if field != c.field {
				t.Errorf("field %q, want %q", field, c.field)
			}
			assertInputUntouched(t, in, out)

			// The binary: exit 1, the same ResourceList, a one-line summary on stderr.
			stdout, stderr, code := runBinary(t, in)
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if stdout != string(out) {
				t.Errorf("the binary wrote another ResourceList than the processor")
			}
			if strings.Count(strings.TrimRight(stderr, "\n"), "\n") != 0 || !strings.Contains(stderr, "[error]") {
				t.Errorf("stderr is not a one-line error summary: %q", stderr)
			}
		})
	}
}

// TestUnreadableInput: input that is no ResourceList gets no output at all (no
// partial list), exit 1 and the reason on stderr.
func TestUnreadableInput(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct{ in, msg string }{
		"malformed YAML":         {"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: [\n", "the input is not valid YAML: yaml: line 3"},
		"not a ResourceList":     {deploy, `the input's kind is "Deployment", not ResourceList`},
		"empty input":            {"", "the input is empty"},
		"items is not a list":    {"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: {a: b}\n", "the ResourceList's items must be a list, got a mapping"},
		"an item is a scalar":    {"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: [1]\n", "the ResourceList's items[0] must be a mapping"},
		"config is a scalar":     {"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nfunctionConfig: 1\n", "the ResourceList's functionConfig must be a mapping, got a scalar"},
		"ResourceList, no items": {"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n", "no scraper workload found"},
	} {
		t.Run(name, func(t *testing.T) {
			stdout, stderr, code := runBinary(t, []byte(c.in))
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if !strings.Contains(stderr, c.msg) || strings.Count(strings.TrimRight(stderr, "\n"), "\n") != 0 {
				t.Errorf("stderr %q, want one line with %q", stderr, c.msg)
			}
			if strings.Contains(c.msg, "no scraper") {
				if !strings.Contains(stdout, "severity: error") {
					t.Errorf("a readable ResourceList gets its results back:\n%s", stdout)
				}
			} else if stdout != "" {
				t.Errorf("wrote output for unreadable input:\n%s", stdout)
			}
		})
	}
}

const exactMessagesFile = "../testdata/bad-input-results.txt"

// readExactMessages reads the exact result of every bad-input case: one line per
// case, "name<TAB>result".
func readExactMessages(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	b, err := os.ReadFile(exactMessagesFile)
	if err != nil {
		if *update {
			return out
		}
		t.Fatalf("%v (go test ./fn -run TestBadInput -update)", err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		name, result, ok := strings.Cut(l, "\t")
		if ok {
			out[name] = strings.ReplaceAll(result, `\n`, "\n")
		}
	}
	return out
}

func writeExactMessages(t *testing.T, got map[string]string) {
	if !*update {
		return
	}
	names := make([]string, 0, len(got))
	for n := range got {
		names = append(names, n)
	}
	sort.Strings(names)
	var sb strings.Builder
	for _, n := range names {
		sb.WriteString(n + "\t" + strings.ReplaceAll(got[n], "\n", `\n`) + "\n")
	}
	if err := os.WriteFile(exactMessagesFile, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestEveryUnknownFieldReported: a config with several unknown fields gets one
// error result for each, at its full path, and the items come back untouched.
func TestEveryUnknownFieldReported(t *testing.T) {
	t.Parallel()
	in := resourceList(t, []byte(deploy+"---\n"+configMap), []byte(cfg("  istio:\n    verison: \"1.28\"\n  certificates:\n    mountPth: /x\n  scrapejob: {}\n")))
	out, err := runFn(in)
	if err == nil {
		t.Fatalf("no error; output:\n%s", out)
	}
	rl, perr := fn.ParseResourceList(out)
	if perr != nil {
		t.Fatal(perr)
	}
	var fields []string
	for _, r := range rl.Results {
		if r.Severity != fn.Error || r.ResourceRef == nil || r.ResourceRef.Kind != "PrometheusMTLS" || !strings.HasPrefix(r.Message, "unknown field") {
			t.Errorf("unexpected result %s", r)
		}
		if r.Field != nil {
			fields = append(fields, r.Field.Path)
		}
	}
	sort.Strings(fields)
	if want := "spec.certificates.mountPth spec.istio.verison spec.scrapejob"; strings.Join(fields, " ") != want {
		t.Errorf("fields %v, want %s", fields, want)
	}
	assertInputUntouched(t, in, out)
}

// hostile are names, keys and paths that YAML reads as something else when they are
// formatted into YAML text (": ", "{", quotes, "#", newlines). Each must give an
// error result or a correct output, never a panic. They are fuzz seeds too.
const hostile = `x: {y "q" #z` + "\n" + `w`

func hostileCases() []struct{ name, items, config string } {
	prom := func(name string) string {
		return "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {name: " + strconv.Quote(name) + ", namespace: monitoring}\nspec: {}\n"
	}
	weirdFlag := strings.NewReplacer("[--config.file=/etc/prometheus/prometheus.yml]", `['--config.file=/etc/prometheus/p: {x} "#y".yml']`, "prometheus.yml:", `'p: {x} "#y".yml':`)
	return []struct{ name, items, config string }{
		{"Prometheus named x: {y, no additionalScrapeConfigs", prom("x: {y"), ""},
		{"hostile Prometheus name", prom(hostile), ""},
		{"hostile mount path, Prometheus", prom("k8s"), cfg("  certificates:\n    mountPath: " + strconv.Quote("/etc/"+hostile) + "\n")},
		{"hostile mount path, Deployment", deploy + "---\n" + configMap, cfg("  certificates:\n    mountPath: " + strconv.Quote("/etc/"+hostile) + "\n")},
		{"hostile job name", deploy + "---\n" + configMap, cfg("  scrapeJob:\n    name: " + strconv.Quote(hostile) + "\n")},
		{"hostile one-line job name", deploy + "---\n" + configMap, cfg("  scrapeJob:\n    name: " + strconv.Quote(strings.Split(hostile, "\n")[0]) + "\n")},
		{"hostile container name", deploy + "---\n" + configMap, cfg("  target:\n    container: " + strconv.Quote(hostile) + "\n")},
		{"hostile target name", deploy + "---\n" + configMap, cfg("  target:\n    name: " + strconv.Quote(hostile) + "\n")},
		{"hostile volume name", deploy + "---\n" + configMap, cfg("  certificates:\n    volumeName: " + strconv.Quote(hostile) + "\n")},
		{"hostile revision", deploy + "---\n" + configMap, cfg("  mode: injection\n  istio:\n    revision: " + strconv.Quote(hostile) + "\n")},
		{"hostile namespace", deploy + "---\n" + configMap, cfg("  istio:\n    controlPlaneNamespace: " + strconv.Quote(hostile) + "\n")},
		{"hostile discovery address and network", deploy + "---\n" + configMap, cfg("  istio:\n    discoveryAddress: " + strconv.Quote(hostile) + "\n    network: " + strconv.Quote(hostile) + "\n    trustDomain: " + strconv.Quote(hostile) + "\n")},
		{"hostile config key", weirdFlag.Replace(deploy) + "---\n" + weirdFlag.Replace(configMap), ""},
		{"hostile proxy config annotation", strings.Replace(deploy, "metadata: {labels: {app: prom}}", "metadata: {labels: {app: prom}, annotations: {proxy.istio.io/config: "+strconv.Quote(hostile)+"}}", 1) + "---\n" + configMap, cfg("  mode: injection\n")},
	}
}

// TestHostileValues: every hostile shape ends in an error result naming a field,
// with the items untouched, or in an output that decodes strictly, holds the
// value exactly where it was put, and is stable under a second run.
func TestHostileValues(t *testing.T) {
	t.Parallel()
	for _, c := range hostileCases() {
		t.Run(c.name, func(t *testing.T) {
			in := resourceList(t, []byte(c.items), []byte(c.config))
			out, err := runFn(in)
			rl, perr := fn.ParseResourceList(out)
			if perr != nil {
				t.Fatalf("not a ResourceList: %v\n%s", perr, out)
			}
			if err != nil {
				if len(rl.Results) == 0 || rl.Results[0].Severity != fn.Error || rl.Results[0].Field == nil {
					t.Fatalf("failed without an error result naming a field: %v", rl.Results)
				}
				t.Logf("error result: %s", rl.Results[0])
				assertInputUntouched(t, in, out)
				return
			}
			items, ierr := checks.Items(out)
			if ierr != nil {
				t.Fatal(ierr)
			}
			if err := checks.Workloads(items); err != nil {
				t.Error(err)
			}
			if err := checks.OperatorResources(items); err != nil {
				t.Error(err)
			}
			if strings.Contains(c.config, "mountPath") {
				want := "/etc/" + hostile + "/root-cert.pem"
				if !containsValue(t, out, want) {
					t.Errorf("the output does not hold the CA file %q", want)
				}
			}
			rl.Results = nil
			again, _ := rl.ToYAML()
			out2, err := runFn(again)
			if err != nil {
				t.Fatalf("the second run failed: %v\n%s", err, out2)
			}
			if a, b := itemsOnly(t, out), itemsOnly(t, out2); a != b {
				t.Errorf("a second run changed the output:\n%s", lineDiff(a, b))
			}
		})
	}
}

// containsValue tells whether some scalar of the output, or of a YAML document
// held in a ConfigMap or Secret value, is exactly want.
func containsValue(t *testing.T, out []byte, want string) bool {
	items, err := checks.Items(out)
	if err != nil {
		t.Fatal(err)
	}
	var walk func(n *yaml.Node) bool
	walk = func(n *yaml.Node) bool {
		if n.Kind == yaml.ScalarNode {
			if n.Value == want {
				return true
			}
			if strings.Contains(n.Value, "\n") || strings.HasPrefix(n.Value, "- ") {
				if doc, err := yaml.Parse(n.Value); err == nil && walk(doc.YNode()) {
					return true
				}
			}
			if b, err := base64.StdEncoding.DecodeString(n.Value); err == nil && len(b) > 0 {
				if doc, err := yaml.Parse(string(b)); err == nil && walk(doc.YNode()) {
					return true
				}
			}
		}
		for _, c := range n.Content {
			if walk(c) {
				return true
			}
		}
		return false
	}
	for _, it := range items {
		if walk(it.YNode()) {
			return true
		}
	}
	return false
}
