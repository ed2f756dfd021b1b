package meta

import (
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

var (
	labels      = []string{"metadata", "labels"}
	annotations = []string{"metadata", "annotations"}
)

// TestSetKeepsTheUsersText: an unchanged value keeps its quoting, a new string is
// plain unless it reads as JSON, a null map becomes a map, labels come first.
func TestSetKeepsTheUsersText(t *testing.T) {
	n := yaml.MustParse("metadata:\n  annotations:\n    a: 'x'   # mine\n  labels:\n")
	for _, kv := range [][3]string{{"annotations", "a", "x"}, {"annotations", "j", `{"k":1}`}, {"labels", "b", "false"}} {
		if err := Set(n, []string{"metadata", kv[0]}, kv[1], kv[2]); err != nil {
			t.Fatal(err)
		}
	}
	want := "metadata:\n  annotations:\n    a: 'x' # mine\n    j: '{\"k\":1}'\n  labels:\n    b: \"false\"\n"
	if got := n.MustString(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	m := yaml.MustParse("metadata:\n  annotations: {a: b}\n")
	if err := Set(m, labels, "l", "v"); err != nil {
		t.Fatal(err)
	}
	if got := m.MustString(); got != "metadata:\n  labels:\n    l: v\n  annotations: {a: b}\n" {
		t.Errorf("labels not created before annotations:\n%s", got)
	}
	if v, ok := Get(m, labels, "l"); !ok || v != "v" {
		t.Errorf("Get = %q, %v", v, ok)
	}
	if err := Delete(m, annotations, "a"); err != nil {
		t.Fatal(err)
	}
	if _, ok := Get(m, annotations, "a"); ok {
		t.Error("Delete left the key")
	}
}
