package workload

import (
	"strings"
	"testing"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/config"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/ownership"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/plan"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/selection"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: prometheus, namespace: monitoring}
spec:
  template:
    metadata: {labels: {app: prometheus}}
    spec:
      containers:
      - name: prometheus
        image: prom/prometheus
        args: [--config.file=/etc/config/prometheus.yml]
        volumeMounts: [{name: config, mountPath: /etc/config}]
      volumes:
      - {name: config, configMap: {name: prometheus}}
`

const configMap = `apiVersion: v1
kind: ConfigMap
metadata: {name: prometheus, namespace: monitoring}
data:
  prometheus.yml: |
    scrape_configs: []
`

const prometheusCR = `apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k8s, namespace: monitoring}
spec:
  replicas: 1
`

// run selects, plans and applies as the function does.
func run(t *testing.T, spec string, docs ...string) ([]*yaml.RNode, Outcome, error) {
	t.Helper()
	var items []*yaml.RNode
	for _, d := range docs {
		items = append(items, yaml.MustParse(d))
	}
	cfg, _, err := config.Parse(yaml.MustParse("apiVersion: fn.istio-prometheus-mtls.dev/v1alpha1\nkind: PrometheusMTLS\nmetadata: {name: c}\nspec:\n" + spec))
	if err != nil {
		t.Fatal(err)
	}
	ix, err := selection.NewIndex(items)
	if err != nil {
		t.Fatal(err)
	}
	sel, err := ix.SelectWorkload(cfg.Spec.Target)
	if err != nil {
		t.Fatal(err)
	}
	a, err := For(ix, sel, cfg.Spec.ScrapeConfig)
	if err != nil {
		return items, Outcome{}, err
	}
	p, err := plan.New(cfg, a.Target())
	if err != nil {
		t.Fatal(err)
	}
	out, err := a.Apply(p)
	return items, out, err
}

// TestPodController: the workload and its ConfigMap come back edited as copies,
// with the record written once, and the input items untouched.
func TestPodController(t *testing.T) {
	items, out, err := run(t, "  certificates: {mountPath: /etc/mesh}\n", deployment, configMap)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Edits) != 2 || out.Edits[0].Index != 0 || out.Edits[1].Index != 1 {
		t.Fatalf("edits %+v", out.Edits)
	}
	if items[0].MustString() != yaml.MustParse(deployment).MustString() || items[1].MustString() != yaml.MustParse(configMap).MustString() {
		t.Error("an input item was edited in place")
	}
	w := out.Edits[0].Node.MustString()
	if strings.Count(w, ownership.Annotation) != 1 || !strings.Contains(w, "mountPath: /etc/mesh") {
		t.Errorf("workload:\n%s", w)
	}
	if cm := out.Edits[1].Node.MustString(); !strings.Contains(cm, "ca_file: /etc/mesh/root-cert.pem") {
		t.Errorf("config map:\n%s", cm)
	}
	if len(out.Notes) != 2 || out.Notes[0].Field != "spec.template" || out.Notes[1].Field != "data.prometheus.yml" {
		t.Errorf("notes %+v", out.Notes)
	}
}

// TestOperatorResource: with no additionalScrapeConfigs, a Secret is created
// (index -1) and referenced; the scrape class uses the same mount path.
func TestOperatorResource(t *testing.T) {
	_, out, err := run(t, "  certificates: {mountPath: /etc/mesh}\n", prometheusCR)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Edits) != 2 || out.Edits[1].Index != -1 || out.Edits[1].Node.GetKind() != "Secret" {
		t.Fatalf("edits %+v", out.Edits)
	}
	cr := out.Edits[0].Node.MustString()
	for _, want := range []string{"caFile: /etc/mesh/root-cert.pem", "mountPath: /etc/mesh", "name: k8s-istio-mtls-scrape", `"scrapeClass":"istio-mtls"`} {
		if !strings.Contains(cr, want) {
			t.Errorf("resource lacks %q:\n%s", want, cr)
		}
	}
	if n := out.Notes[len(out.Notes)-1]; n.Field != "data.additional-scrape-configs.yaml" || !strings.HasPrefix(n.Message, "created, referenced by spec.additionalScrapeConfigs") {
		t.Errorf("note %+v", n)
	}
}

// TestBlame: an error in the pod-template view is reported at the resource's
// own field.
func TestBlame(t *testing.T) {
	cr := strings.Replace(prometheusCR, "replicas: 1", "replicas: 1\n  podMetadata:\n    annotations:\n      istio-prometheus-mtls.dev/status: '{'", 1)
	_, _, err := run(t, "", cr)
	if err == nil || !strings.HasPrefix(err.Error(), "Prometheus monitoring/k8s: spec.podMetadata.annotations."+ownership.Annotation+": is not the JSON") {
		t.Errorf("err = %v", err)
	}
	dep := strings.Replace(deployment, "labels: {app: prometheus}", "labels: {app: prometheus}, annotations: {istio-prometheus-mtls.dev/status: '{'}", 1)
	_, _, err = run(t, "", dep, configMap)
	if err == nil || !strings.HasPrefix(err.Error(), "Deployment monitoring/prometheus: spec.template.metadata.annotations."+ownership.Annotation) {
		t.Errorf("err = %v", err)
	}
}
