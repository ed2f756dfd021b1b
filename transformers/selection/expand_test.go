package selection

import (
	"fmt"
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
		got, err := ix.expandVars(in, "mon", "spec.containers[0]", "--config.file", c)
		if err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ix.expandVars("$(POD_IP)", "mon", "spec.containers[0]", "--config.file", c); err == nil || !strings.Contains(err.Error(), "valueFrom") || !strings.Contains(err.Error(), "spec.scrapeConfig") {
		t.Errorf("a variable from valueFrom: %v", err)
	}
}

// TestExpandVarsAsTheKubelet: env values are expanded when they are defined,
// against the variables before them (envFrom, then earlier env entries); a
// later definition does not reach back; expansions that double at each step are
// refused past the bound instead of built.
func TestExpandVarsAsTheKubelet(t *testing.T) {
	ix, err := NewIndex(nil)
	if err != nil {
		t.Fatal(err)
	}
	env := func(kv ...string) []corev1.EnvVar {
		var out []corev1.EnvVar
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, corev1.EnvVar{Name: kv[i], Value: kv[i+1]})
		}
		return out
	}
	for _, c := range []struct {
		env       []corev1.EnvVar
		arg, want string
	}{
		{env("DIR", "/etc/prometheus", "CFG", "$(DIR)/prometheus.yml"), "$(CFG)", "/etc/prometheus/prometheus.yml"},
		{env("CFG", "$(DIR)/prometheus.yml", "DIR", "/etc/prometheus"), "$(CFG)", "$(DIR)/prometheus.yml"},
		{env("A", "x", "A", "$(A)y"), "$(A)", "xy"},
		{env("A", "$$(B)", "B", "b"), "$(A)", "$(B)"},
		{env("A", "a$"), "$(A)$", "a$$"},
		{env("A", "$x"), "$(A)", "$x"},
	} {
		got, err := ix.expandVars(c.arg, "mon", "spec.containers[0]", "--config.file", corev1.Container{Name: "p", Env: c.env})
		if err != nil || got != c.want {
			t.Errorf("%v %s: %q, %v; want %q", c.env, c.arg, got, err, c.want)
		}
	}
	kv := []string{"V0", strings.Repeat("x", 1000)}
	for i := 1; i <= 60; i++ {
		kv = append(kv, fmt.Sprintf("V%d", i), fmt.Sprintf("$(V%d)$(V%d)", i-1, i-1))
	}
	_, err = ix.expandVars("$(V60)", "mon", "spec.containers[0]", "--config.file", corev1.Container{Name: "p", Env: env(kv...)})
	if err == nil || !strings.Contains(err.Error(), "spec.containers[0]") || len(err.Error()) > 1000 {
		t.Errorf("a doubling expansion: %v", err)
	}
}
