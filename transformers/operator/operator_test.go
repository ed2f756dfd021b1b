package operator

import (
	"slices"
	"testing"

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
	want := []string{"PodMonitor monitoring/yes", "PodMonitor elsewhere/unlisted-ns"}
	if !slices.Equal(got, want) {
		t.Errorf("SelectedMonitors = %v, want %v", got, want)
	}
	// Those in the class, for ambient mode's warning.
	if got, want := SelectedMonitors(cr, items, true), []string{"PodMonitor apps/opted-in"}; !slices.Equal(got, want) {
		t.Errorf("SelectedMonitors in the class = %v, want %v", got, want)
	}
}
