package yamlnode

import (
	"fmt"
	"strings"
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

// TestMergeFanOut: merges that name one mapping twice, chained 60 deep (2^60
// paths), are read in linear time, each mapping once.
func TestMergeFanOut(t *testing.T) {
	var b strings.Builder
	b.WriteString("- &j0 {a: 1}\n")
	for i := 1; i < 60; i++ {
		fmt.Fprintf(&b, "- &j%d {<<: [*j%d, *j%d], k%d: x}\n", i, i-1, i-1, i)
	}
	n, err := yaml.Parse(b.String())
	if err != nil {
		t.Fatal(err)
	}
	last := n.YNode().Content[59]
	if got := GetValue(last, "a"); got != "1" {
		t.Errorf("a = %q, want 1", got)
	}
	if Get(last, "missing") != nil {
		t.Error("found a key that is not there")
	}
	if got := len(Keys(last)); got != 60 {
		t.Errorf("%d keys, want 60", got)
	}
}

func TestDuplicateKey(t *testing.T) {
	many := "a: 1\n"
	for i := range 20 {
		many += fmt.Sprintf("k%d: x\n", i)
	}
	for doc, want := range map[string]string{
		"a: 1\nb: {c: 1, d: 2}\n":                   "",
		"a: 1\na: 2\n":                              "a",
		"s:\n  t: [{x: 1}, {y: 1, y: 2}]\n":         "s.t[1].y",
		"data:\n  p.yml: a\n  q: b\n  p.yml: c\n":   "data.p.yml",
		"b: &b {x: 1}\nc: {<<: *b, <<: *b, y: 1}\n": "",
		many + "k7: again\n":                        "k7",
	} {
		if got := DuplicateKey(yaml.MustParse(doc).YNode()); got != want {
			t.Errorf("DuplicateKey(%q) = %q, want %q", doc, got, want)
		}
	}
}
