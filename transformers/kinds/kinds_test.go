package kinds

import (
	"slices"
	"testing"
)

func TestTable(t *testing.T) {
	if got, want := Selectable(), []string{"Deployment", "StatefulSet", "DaemonSet", "Prometheus", "PrometheusAgent", "VMAgent", "OpenTelemetryCollector", "Alloy"}; !slices.Equal(got, want) {
		t.Errorf("Selectable() = %v, want %v", got, want)
	}
	for _, k := range all {
		p, ok := TemplatePath(k.Name)
		if ok == k.Operator {
			t.Errorf("%s: a pod template path exactly when not an operator kind (ok %v)", k.Name, ok)
		}
		if ok {
			p[0] = "changed" // a copy: the table stays as it is
			if q, _ := TemplatePath(k.Name); q[0] != "spec" {
				t.Errorf("%s: TemplatePath hands out the table's slice", k.Name)
			}
		}
	}
	if _, ok := TemplatePath("CronJob"); ok {
		t.Error("CronJob: a kind the function never edits has a template path")
	}
	for _, c := range []struct {
		apiVersion, kind string
		want             bool
	}{
		{"monitoring.coreos.com/v1", "Prometheus", true},
		{"monitoring.coreos.com/v1alpha1", "PrometheusAgent", true},
		{"example.com/v1", "Prometheus", false},
		{"monitoring.coreos.com/v1", "ServiceMonitor", false},
		{"operator.victoriametrics.com/v1beta1", "VMAgent", true},
		{"monitoring.coreos.com/v1", "VMAgent", false},
		{"opentelemetry.io/v1beta1", "OpenTelemetryCollector", true},
		{"operator.victoriametrics.com/v1beta1", "Prometheus", false},
	} {
		if got := IsOperatorResource(c.apiVersion, c.kind); got != c.want {
			t.Errorf("IsOperatorResource(%s, %s) = %v", c.apiVersion, c.kind, got)
		}
	}
	if IsSelectable("Job") || !IsSelectable("DaemonSet") || IsSelectable("Pod") {
		t.Error("IsSelectable")
	}
}
