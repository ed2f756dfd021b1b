package yamlnode

import (
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

func TestFieldAndValue(t *testing.T) {
	m := yaml.MustParse("a: x\nb: null\nc: [1]\nd:\n").YNode()
	if f := Field(m, "c"); f == nil || f.Kind != yaml.SequenceNode {
		t.Errorf("Field(c) = %v", f)
	}
	for key, want := range map[string]string{"a": "x", "b": "", "c": "", "d": "", "missing": ""} {
		if got := Value(m, key); got != want {
			t.Errorf("Value(%s) = %q, want %q", key, got, want)
		}
	}
	if Field(Field(m, "c"), "a") != nil || Field(nil, "a") != nil {
		t.Error("a list or nil has no fields")
	}
}

func TestKindWord(t *testing.T) {
	n := yaml.MustParse("a: x\nb: ~\nc: [1]\nd: {}\ne: &x 1\nf: *x\n").YNode()
	for key, want := range map[string]string{"a": "scalar", "b": "null", "c": "list", "d": "mapping", "f": "alias"} {
		if got := KindWord(Field(n, key)); got != want {
			t.Errorf("KindWord(%s) = %q, want %q", key, got, want)
		}
	}
}
