package stream

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

func join(docs []Doc) []byte {
	var b bytes.Buffer
	for _, d := range docs {
		b.Write(d.Prefix)
		b.Write(d.Body)
	}
	return b.Bytes()
}

func TestSplitKeepsEveryByte(t *testing.T) {
	for name, in := range map[string]string{
		"helm":             "---\n# Source: a/templates/x.yaml\napiVersion: v1\nkind: ConfigMap\n---\n# Source: a/templates/empty.yaml\n---\n# Source: a/templates/y.yaml\nkind: Secret\n",
		"no leading ---":   "kind: A\n---\nkind: B\n",
		"no final newline": "kind: A\n---\nkind: B",
		"block scalar":     "kind: A\ndata:\n  x: |\n    ---not a marker\n    --- neither\n---\nkind: B\n",
		"marker comment":   "--- # first\nkind: A\n--- \t\nkind: B\n...\n",
		"marker content":   "--- {kind: A}\n--- !!map\nkind: B\n",
		"crlf":             "---\r\nkind: A\r\n---\r\nkind: B\r\n",
		"empty":            "",
	} {
		docs := Split([]byte(in))
		if got := string(join(docs)); got != in {
			t.Errorf("%s: joined %q, want %q", name, got, in)
		}
	}
	docs := Split([]byte("---\n# Source: a/templates/x.yaml\napiVersion: v1\nkind: ConfigMap\n---\n# Source: a/templates/empty.yaml\n---\n# Source: y\nkind: Secret\n"))
	if len(docs) != 3 || !docs[1].Empty() || docs[0].Empty() || string(docs[2].Prefix) != "---\n# Source: y\n" || string(docs[2].Body) != "kind: Secret\n" {
		t.Errorf("docs: %q", docs)
	}
	// A block scalar's content is never a marker; "--- {kind: A}" stays in a body.
	if docs := Split([]byte("--- {kind: A}\n---\nkind: B\n")); len(docs) != 2 || string(docs[0].Body) != "--- {kind: A}\n" {
		t.Errorf("content on the marker line: %q", docs)
	}
}

func TestTopLevelAndName(t *testing.T) {
	for body, want := range map[string][2]string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  labels: {a: b}\n":          {"ConfigMap", "cm"},
		"kind: \"Secret\" # c\nmetadata:\n    labels:\n      name: no\n    name: 's-1'\n":     {"Secret", "s-1"},
		"metadata:\n  labels:\n    x: y\nkind: Deployment\nspec:\n  kind: nope\n":             {"Deployment", "?"},
		"{kind: A, metadata: {name: b}}\n":                                                    {"?", "?"},
		"kind: A\nkind: B\n":                                                                  {"?", "?"},
		"kind: &k A\nmetadata: {name: x}\n":                                                   {"?", "?"},
		"kind: 'a\\b'\nmetadata:\n  # comment\n\n  name: \"esc\\\"aped\"\n":                   {"?", "?"},
		"kind: Pod\nmetadata:\n  namespace: n\nspec: {}\n":                                    {"Pod", "?"},
		"kind:    Service   \nmetadata:\n  name: svc # trailing\n  namespace: x\n":            {"Service", "svc"},
		"kind: Prometheus\nmetadata:\n  name: x: {y\n":                                        {"Prometheus", "?"},
		"kind: Pod\nmetadata:\n- name: x\n":                                                   {"Pod", "?"},
		"kind: \"Deploy\"ment\"\nmetadata:\n  name: \"\n":                                     {"?", "?"},
		"kind: !!str Deployment\nmetadata:\n  name: a\n":                                      {"?", "a"},
		"kind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  kind: x\n  metadata: |\n    name\n": {"ConfigMap", "cm"},
	} {
		d := Doc{Body: []byte(body)}
		kind, ok := d.TopLevel("kind")
		if !ok {
			kind = "?"
		}
		name, ok := d.MetadataName()
		if !ok {
			name = "?"
		}
		if kind != want[0] || name != want[1] {
			t.Errorf("%q: kind %q name %q, want %q", body, kind, name, want)
		}
	}
}

// TestTextReadsAgreeWithTheParser: on the shared fixtures, every kind and name read
// from the text is what a YAML parser reads.
func TestTextReadsAgreeWithTheParser(t *testing.T) {
	for _, f := range []string{"kube-prometheus-stack.yaml", "helm-prometheus.yaml", "istio-addon-prometheus.yaml", "kube-prometheus-prometheus.yaml"} {
		in, err := os.ReadFile("../../../shared/fixtures/" + f)
		if err != nil {
			t.Fatalf("%v (the tests expect ../shared beside the checkout)", err)
		}
		docs := Split(in)
		if !bytes.Equal(join(docs), in) {
			t.Fatalf("%s: split and join lost bytes", f)
		}
		read := 0
		for _, d := range docs {
			if d.Empty() {
				continue
			}
			n, err := yaml.Parse(string(d.Body))
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if kind, ok := d.TopLevel("kind"); ok {
				read++
				if kind != n.GetKind() {
					t.Errorf("%s: kind %q, parser %q", f, kind, n.GetKind())
				}
			}
			if name, ok := d.MetadataName(); ok && name != n.GetName() {
				t.Errorf("%s: name %q, parser %q", f, name, n.GetName())
			}
		}
		if read == 0 || strings.Count(string(in), "\nkind: ") < read {
			t.Errorf("%s: %d kinds read from the text", f, read)
		}
	}
}
