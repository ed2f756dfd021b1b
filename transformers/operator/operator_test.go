package operator

import (
	"slices"
	"testing"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/scrapers"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// TestSelectedMonitors: label selectors are evaluated as prometheus-operator
// does (matchLabels and matchExpressions; no selector selects nothing), and
// monitors already in the istio-mtls class are not named.
func TestSelectedMonitors(t *testing.T) {
	cr := yaml.MustParse(`apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k8s, namespace: monitoring}
spec:
  podMonitorSelector:
    matchLabels: {release: kps}
    matchExpressions:
    - {key: tier, operator: NotIn, values: [legacy]}
    - {key: team, operator: Exists}
  podMonitorNamespaceSelector:
    matchExpressions:
    - {key: kubernetes.io/metadata.name, operator: In, values: [monitoring, apps]}
`)
	mon := func(name, ns, labels string, extra string) *yaml.RNode {
		return yaml.MustParse("apiVersion: monitoring.coreos.com/v1\nkind: PodMonitor\nmetadata: {name: " + name + ", namespace: " + ns + ", labels: " + labels + "}\nspec: {" + extra + "}\n")
	}
	ns := func(name string) *yaml.RNode {
		return yaml.MustParse("apiVersion: v1\nkind: Namespace\nmetadata: {name: " + name + ", labels: {kubernetes.io/metadata.name: " + name + "}}\n")
	}
	items := []*yaml.RNode{
		cr, ns("monitoring"), ns("apps"), ns("other"),
		mon("yes", "monitoring", "{release: kps, team: a}", ""),
		mon("legacy", "monitoring", "{release: kps, team: a, tier: legacy}", ""),
		mon("no-team", "monitoring", "{release: kps}", ""),
		mon("other-release", "apps", "{release: x, team: a}", ""),
		mon("other-ns", "other", "{release: kps, team: a}", ""),
		mon("unlisted-ns", "elsewhere", "{release: kps, team: a}", ""),
		mon("opted-in", "apps", "{release: kps, team: a}", "scrapeClass: istio-mtls"),
		yaml.MustParse("apiVersion: monitoring.coreos.com/v1alpha1\nkind: ScrapeConfig\nmetadata: {name: sc, namespace: monitoring, labels: {release: kps}}\n"),
	}
	got := SelectedMonitors(cr, items, false)
	want := []string{"PodMonitor elsewhere/unlisted-ns", "PodMonitor monitoring/yes"} // sorted
	if !slices.Equal(got, want) {
		t.Errorf("SelectedMonitors = %v, want %v", got, want)
	}
	// Those in the class, for ambient mode's warning.
	if got, want := SelectedMonitors(cr, items, true), []string{"PodMonitor apps/opted-in"}; !slices.Equal(got, want) {
		t.Errorf("SelectedMonitors in the class = %v, want %v", got, want)
	}
}

// TestSelectedVMMonitors: a VMAgent with selectAllByDefault selects every
// monitor of its group in every namespace; without it, an unset selector
// selects none; monitors of another group are not its.
func TestSelectedVMMonitors(t *testing.T) {
	vm := func(spec string) *yaml.RNode {
		return yaml.MustParse("apiVersion: operator.victoriametrics.com/v1beta1\nkind: VMAgent\nmetadata: {name: a, namespace: vm}\nspec: {" + spec + "}\n")
	}
	items := []*yaml.RNode{
		yaml.MustParse("apiVersion: operator.victoriametrics.com/v1beta1\nkind: VMServiceScrape\nmetadata: {name: s, namespace: apps}\nspec: {}\n"),
		yaml.MustParse("apiVersion: operator.victoriametrics.com/v1beta1\nkind: VMPodScrape\nmetadata: {name: p, namespace: vm, labels: {team: a}}\nspec: {scrapeClass: istio-mtls}\n"),
		yaml.MustParse("apiVersion: monitoring.coreos.com/v1\nkind: PodMonitor\nmetadata: {name: pm, namespace: vm}\nspec: {}\n"),
	}
	if got, want := SelectedMonitors(vm("selectAllByDefault: true"), items, false), []string{"VMServiceScrape apps/s"}; !slices.Equal(got, want) {
		t.Errorf("selectAllByDefault: %v, want %v", got, want)
	}
	if got := SelectedMonitors(vm(""), items, false); len(got) != 0 {
		t.Errorf("no selectors, no selectAllByDefault: %v, want none", got)
	}
	if got, want := SelectedMonitors(vm("podScrapeSelector: {matchLabels: {team: a}}"), items, true), []string{"VMPodScrape vm/p"}; !slices.Equal(got, want) {
		t.Errorf("in the class, by selector: %v, want %v", got, want)
	}
}

// TestCollectorView: the OpenTelemetryCollector's view has the pod spec's
// names, and Sync puts edits back under the resource's: containers into
// spec.additionalContainers (in place), labels into metadata.labels, and
// annotations into a spec.podAnnotations it creates; fields left empty that
// it did not have are not written.
func TestCollectorView(t *testing.T) {
	cr := yaml.MustParse(`apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: c}
spec:
  mode: daemonset
  additionalContainers: [{name: helper, image: h}]
  config: {}
`)
	_, res, _ := scrapers.ResourceOf("opentelemetry.io", "OpenTelemetryCollector")
	v, err := Template(cr, res)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Node.Pipe(yaml.Lookup("spec", "containers", "[name=helper]")); err != nil {
		t.Fatal(err)
	}
	if err := v.Node.PipeE(yaml.Lookup("spec", "containers"), yaml.Append(yaml.MustParse("{name: istio-proxy, image: p}").YNode())); err != nil {
		t.Fatal(err)
	}
	if err := v.Node.PipeE(yaml.LookupCreate(yaml.MappingNode, "metadata", "annotations"), yaml.SetField("a", yaml.NewStringRNode("1"))); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Node.Pipe(yaml.LookupCreate(yaml.MappingNode, "metadata", "labels")); err != nil { // created, left empty
		t.Fatal(err)
	}
	if err := v.Sync(); err != nil {
		t.Fatal(err)
	}
	want := `apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
metadata: {name: c}
spec:
  mode: daemonset
  additionalContainers: [{name: helper, image: h}, {name: istio-proxy, image: p}]
  config: {}
  podAnnotations:
    a: "1"
`
	if got := cr.MustString(); got != want {
		t.Errorf("synced:\n%s\nwant:\n%s", got, want)
	}
	if f := v.Field("spec.containers[1].image"); f != "spec.additionalContainers[1].image" {
		t.Errorf("Field: %s", f)
	}
	if f := v.Field("metadata.annotations.a"); f != "spec.podAnnotations.a" {
		t.Errorf("Field: %s", f)
	}
}
