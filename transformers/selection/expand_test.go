package selection

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// TestExpandVars: $(VAR) in the config flag is expanded as the kubelet expands
// args, from env values and from a ConfigMap of envFrom in the list; $$ is a
// literal $; a variable the manifests cannot give is an error.
func TestExpandVars(t *testing.T) {
	cm, err := yaml.Parse("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: paths, namespace: mon}\ndata: {CFG_DIR: /etc/from-cm}\n")
	if err != nil {
		t.Fatal(err)
	}
	ix, err := NewIndex([]*yaml.RNode{cm})
	if err != nil {
		t.Fatal(err)
	}
	c := corev1.Container{Name: "prometheus",
		Env:     []corev1.EnvVar{{Name: "CONFIG", Value: "/etc/config/prometheus.yml"}, {Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}},
		EnvFrom: []corev1.EnvFromSource{{Prefix: "P_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "paths"}}}},
	}
	for in, want := range map[string]string{
		"$(CONFIG)":             "/etc/config/prometheus.yml",
		"$(P_CFG_DIR)/prom.yml": "/etc/from-cm/prom.yml",
		"$$(CONFIG)":            "$(CONFIG)",
		"$(UNDEFINED)/p.yml":    "$(UNDEFINED)/p.yml",
		"/plain/$":              "/plain/$",
		"$(unclosed":            "$(unclosed",
	} {
		got, err := ix.expandVars(in, "mon", c)
		if err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ix.expandVars("$(POD_IP)", "mon", c); err == nil || !strings.Contains(err.Error(), "valueFrom") || !strings.Contains(err.Error(), "spec.scrapeConfig") {
		t.Errorf("a variable from valueFrom: %v", err)
	}
}
