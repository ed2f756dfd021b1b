package yamlnode

import (
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// TestComparisons: each comparison counts exactly what its name says.
func TestComparisons(t *testing.T) {
	for _, c := range []struct {
		name, a, b                  string
		identical, content, decoded bool
	}{
		{"same text", "a: 1\nb: [x]\n", "a: 1\nb: [x]\n", true, true, true},
		{"comment", "a: 1 # one\n", "a: 1\n", false, true, true},
		{"style", "a: 'x'\n", "a: x\n", false, true, true},
		{"flow list", "b: [x]\n", "b:\n- x\n", false, true, true},
		{"key order", "a: 1\nb: 2\n", "b: 2\na: 1\n", false, false, true},
		{"alias followed", "x: &v 1\ny: *v\n", "x: &v 1\ny: 1\n", false, false, true},
		{"tag", "a: '1'\n", "a: 1\n", false, false, false},
		{"value", "a: 1\n", "a: 2\n", false, false, false},
		{"list order", "- a\n- b\n", "- b\n- a\n", false, false, false},
	} {
		a, b := yaml.MustParse(c.a).YNode(), yaml.MustParse(c.b).YNode()
		if got := Identical(a, b); got != c.identical {
			t.Errorf("%s: Identical = %v", c.name, got)
		}
		if got := SameContent(a, b); got != c.content {
			t.Errorf("%s: SameContent = %v", c.name, got)
		}
		if got := SameDecoded(a, b); got != c.decoded {
			t.Errorf("%s: SameDecoded = %v", c.name, got)
		}
	}
}

// TestSameDecodedBudget: nested aliases that expand exponentially end the
// comparison (as different) instead of hanging it.
func TestSameDecodedBudget(t *testing.T) {
	doc := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g"} {
		doc += n + ": &" + n + " [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n"
		prev = n
	}
	n := yaml.MustParse(doc).YNode()
	if SameDecoded(n, n) {
		t.Error("a 10^7-node expansion compared as equal: the budget did not stop it")
	}
}
