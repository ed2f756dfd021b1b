package splice

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/internal/checks"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/yamlnode"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// A Deployment as Helm charts write it: wide list indentation, quoted images,
// a blank line between containers, trailing spaces, comments.
const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: prometheus-server # the server
  labels:
    app: prometheus
spec:
  replicas: 1
  template:
    metadata:
      labels:
        app: prometheus
    spec:
      containers:
        - name: reloader
          image: "reloader:v1"
          args:
            - --watched-dir=/etc/config

        # the server itself
        - name: prometheus-server
          image: "prom/prometheus:v3"
          logLevel:  "info"
          volumeMounts:
            - name: config-volume
              mountPath: /etc/config
      volumes:   
        - name: config-volume
          configMap:
            name: prometheus-server
`

// edit parses text twice: the tree to keep and a copy for f to edit.
func edit(t *testing.T, text string, f func(*yaml.RNode)) (before, after *yaml.Node) {
	t.Helper()
	b, err := yaml.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	a := b.Copy()
	f(a)
	return b.YNode(), a.YNode()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// changedLines is the lines of a that are not kept in b, and the lines of b
// that are new: a plain longest common subsequence of lines.
func changedLines(a, b string) (removed, added []string) {
	for _, l := range checks.DiffLines(strings.Split(a, "\n"), strings.Split(b, "\n")) {
		switch l.Op {
		case '-':
			removed = append(removed, l.Text)
		case '+':
			added = append(added, l.Text)
		}
	}
	return removed, added
}

func TestPatch(t *testing.T) {
	for name, c := range map[string]struct {
		text           string
		edit           func(t *testing.T, n *yaml.RNode)
		removed, added []string
		renderedAgain  bool // Patch declines
	}{
		"a container, a mount, a volume, an annotation": {
			text: deployment,
			edit: func(t *testing.T, n *yaml.RNode) {
				spec, err := n.Pipe(yaml.Lookup("spec", "template", "spec"))
				must(t, err)
				must(t, spec.PipeE(yaml.LookupCreate(yaml.SequenceNode, "initContainers"), yaml.Append(yaml.MustParse("name: istio-proxy\nimage: proxyv2:1.31.0\nrestartPolicy: Always\n").YNode())))
				c, err := spec.Pipe(yaml.Lookup("containers", "[name=prometheus-server]", "volumeMounts"))
				must(t, err)
				must(t, c.PipeE(yaml.Append(yaml.MustParse("name: istio-certs\nmountPath: /etc/istio-certs\n").YNode())))
				v, err := spec.Pipe(yaml.Lookup("volumes"))
				must(t, err)
				must(t, v.PipeE(yaml.Append(yaml.MustParse("name: istio-certs\nemptyDir:\n  medium: Memory\n").YNode())))
				must(t, n.PipeE(yaml.Lookup("spec", "template", "metadata"), yaml.SetField("annotations", yaml.MustParse("sidecar.istio.io/inject: \"false\"\n"))))
			},
			added: []string{
				"      annotations:",
				`        sidecar.istio.io/inject: "false"`,
				"            - name: istio-certs",
				"              mountPath: /etc/istio-certs",
				"        - name: istio-certs",
				"          emptyDir:",
				"            medium: Memory",
				"      initContainers:",
				"        - name: istio-proxy",
				"          image: proxyv2:1.31.0",
				"          restartPolicy: Always",
			},
		},
		"a list and a mapping the edit empties are written [] and {}, the rest stays": {
			text: "spec:   \n  extra:\n  - name: istio-certs\n    mountPath: /etc/istio-certs\n  labels:\n    a: b\n  keep: 1 # kept\n",
			edit: func(t *testing.T, n *yaml.RNode) {
				spec, err := n.Pipe(yaml.Lookup("spec"))
				must(t, err)
				// Emptied in place, as a filter that removes its own elements leaves them.
				extra, err := spec.Pipe(yaml.Lookup("extra"))
				must(t, err)
				extra.YNode().Content = nil
				labels, err := spec.Pipe(yaml.Lookup("labels"))
				must(t, err)
				labels.YNode().Content = nil
			},
			removed: []string{"  extra:", "  - name: istio-certs", "    mountPath: /etc/istio-certs", "  labels:", "    a: b"},
			added:   []string{"  extra: []", "  labels: {}"},
		},
		"a value changes in its token, its comment and quotes stay": {
			text: deployment,
			edit: func(t *testing.T, n *yaml.RNode) {
				name, err := n.Pipe(yaml.Lookup("metadata", "name"))
				must(t, err)
				name.YNode().Value = "renamed"
				img, err := n.Pipe(yaml.Lookup("spec", "template", "spec", "containers", "[name=prometheus-server]", "image"))
				must(t, err)
				img.YNode().Value = "prom/prometheus:v4"
			},
			removed: []string{"  name: prometheus-server # the server", `          image: "prom/prometheus:v3"`},
			added:   []string{"  name: renamed # the server", `          image: "prom/prometheus:v4"`},
		},
		"a single-quoted token with a quote in it stays single-quoted": {
			text: "a: 'it''s'  # note\nb: \"x\"\n",
			edit: func(t *testing.T, n *yaml.RNode) {
				a, err := n.Pipe(yaml.Lookup("a"))
				must(t, err)
				a.YNode().Value = "it's ok"
				b, err := n.Pipe(yaml.Lookup("b"))
				must(t, err)
				b.YNode().Value = `say "y"`
			},
			removed: []string{"a: 'it''s'  # note", `b: "x"`},
			added:   []string{"a: 'it''s ok'  # note", `b: "say \"y\""`},
		},
		"list elements paired by merge key, not by position": {
			text: "scrape_configs:\n- job_name: a\n  scrape_interval: 1m\n- job_name: b\n  scrape_interval: 2m\n- job_name: c\n  scrape_interval: 3m # slow\n",
			edit: func(t *testing.T, n *yaml.RNode) {
				jobs, err := n.Pipe(yaml.Lookup("scrape_configs"))
				must(t, err)
				c := jobs.YNode().Content
				jobs.YNode().Content = []*yaml.Node{c[0], c[2]}
				yamlnode.Field(c[2], "scrape_interval").Value = "4m"
			},
			removed: []string{"- job_name: b", "  scrape_interval: 2m", "  scrape_interval: 3m # slow"},
			added:   []string{"  scrape_interval: 4m # slow"},
		},
		"a pair and an element removed, with the element's comment": {
			text: deployment,
			edit: func(t *testing.T, n *yaml.RNode) {
				must(t, n.PipeE(yaml.Lookup("metadata"), yaml.Clear("labels")))
				cs, err := n.Pipe(yaml.Lookup("spec", "template", "spec", "containers"))
				must(t, err)
				must(t, cs.PipeE(yaml.ElementSetter{Keys: []string{"name"}, Values: []string{"prometheus-server"}}))
			},
			removed: []string{
				"  labels:", "    app: prometheus",
				"        # the server itself", "        - name: prometheus-server", `          image: "prom/prometheus:v3"`,
				`          logLevel:  "info"`, "          volumeMounts:", "            - name: config-volume", "              mountPath: /etc/config",
			},
		},
		"an element changed before the first key": {
			// The new first key of an element shares the dash line: that element
			// is rendered again, alone.
			text: deployment,
			edit: func(t *testing.T, n *yaml.RNode) {
				c, err := n.Pipe(yaml.Lookup("spec", "template", "spec", "containers", "[name=reloader]"))
				must(t, err)
				c.YNode().Content = append([]*yaml.Node{yaml.NewStringRNode("image").YNode(), yaml.NewStringRNode("x").YNode()}, c.YNode().Content[:2]...)
			},
			removed: []string{"        - name: reloader", `          image: "reloader:v1"`, "          args:", "            - --watched-dir=/etc/config"},
			added:   []string{"        - image: x", "          name: reloader"},
		},
		"a literal block edited line by line, its indentation kept": {
			text: "apiVersion: v1\nkind: ConfigMap\ndata:\n  prometheus.yml: |\n      global:\n        scrape_interval: 1m\n\n      scrape_configs:\n      - job_name: a\n  other: x\n",
			edit: func(t *testing.T, n *yaml.RNode) {
				v, err := n.Pipe(yaml.Lookup("data", "prometheus.yml"))
				must(t, err)
				v.YNode().Value = "global:\n  scrape_interval: 1m\n\nscrape_configs:\n- job_name: a\n- job_name: b\n"
			},
			added: []string{"      - job_name: b"},
		},
		"a literal block loses its final line break": {
			text: "data:\n  k: |\n    a\n    b\n",
			edit: func(t *testing.T, n *yaml.RNode) {
				v, err := n.Pipe(yaml.Lookup("data", "k"))
				must(t, err)
				v.YNode().Value = "a\nc"
			},
			removed: []string{"  k: |", "    b"},
			added:   []string{"  k: |-", "    c"},
		},
		"compact lists get compact elements": {
			text: "spec:\n  containers:\n  - name: a\n    ports:\n    - containerPort: 1\n",
			edit: func(t *testing.T, n *yaml.RNode) {
				must(t, n.PipeE(yaml.Lookup("spec", "containers"), yaml.Append(yaml.MustParse("name: b\nports:\n- containerPort: 2\n").YNode())))
			},
			added: []string{"  - name: b", "    ports:", "    - containerPort: 2"},
		},
		"a flow list is rendered again as a pair": {
			text: "spec:\n  args: [a, b]\n  other: 1\n",
			edit: func(t *testing.T, n *yaml.RNode) {
				must(t, n.PipeE(yaml.Lookup("spec", "args"), yaml.Append(yaml.NewScalarRNode("c").YNode())))
			},
			removed: []string{"  args: [a, b]"},
			added:   []string{"  args: [a, b, c]"},
		},
		"a moved key is declined": {
			text: "a: 1\nb: 2\n",
			edit: func(t *testing.T, n *yaml.RNode) {
				c := n.YNode().Content
				n.YNode().Content = []*yaml.Node{c[2], c[3], c[0], c[1]}
			},
			renderedAgain: true,
		},
	} {
		t.Run(name, func(t *testing.T) {
			before, after := edit(t, c.text, func(n *yaml.RNode) { c.edit(t, n) })
			got, ok := Patch(c.text, before, after)
			if ok == c.renderedAgain {
				t.Fatalf("Patch ok = %v, want %v:\n%s", ok, !c.renderedAgain, got)
			}
			if !ok {
				return // (an ok Patch has proven that got parses to the edited tree)
			}
			removed, added := changedLines(c.text, got)
			if strings.Join(removed, "\n") != strings.Join(c.removed, "\n") || strings.Join(added, "\n") != strings.Join(c.added, "\n") {
				t.Errorf("removed:\n%s\nadded:\n%s\nwant removed:\n%s\nwant added:\n%s\n--- text:\n%s",
					strings.Join(removed, "\n"), strings.Join(added, "\n"), strings.Join(c.removed, "\n"), strings.Join(c.added, "\n"), got)
			}
		})
	}
}

// TestPatchUnchanged: an edit that changes nothing gives the text back.
func TestPatchUnchanged(t *testing.T) {
	before, after := edit(t, deployment, func(*yaml.RNode) {})
	got, ok := Patch(deployment, before, after)
	if !ok || got != deployment {
		t.Fatalf("ok=%v\n%s", ok, got)
	}
}

// TestMatch: match's script keeps a longest common subsequence (checked against
// the quadratic table on random lists), in order.
func TestMatch(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		a := make([]int, r.IntN(30))
		b := make([]int, r.IntN(30))
		for i := range a {
			a[i] = r.IntN(4)
		}
		for i := range b {
			b[i] = r.IntN(4)
		}
		kept, ok := match(len(a), len(b), func(i, j int) bool { return a[i] == b[j] })
		if !ok {
			t.Fatal("gave up")
		}
		n, last := 0, -1
		for i, j := range kept {
			if j < 0 {
				continue
			}
			if j <= last || a[i] != b[j] {
				t.Fatalf("%v -> %v: kept %v is not a common subsequence", a, b, kept)
			}
			last = j
			n++
		}
		if lcs := checks.LCS(a, b); int32(n) != lcs[0][0] {
			t.Fatalf("%v -> %v: kept %d, the longest is %d", a, b, n, lcs[0][0])
		}
	}
}

// FuzzPatch edits arbitrary documents (a key added at the top, an element added
// to and one removed from each block list, each scalar value changed) and
// patches them: Patch must never panic, and what it returns must parse to the
// edited tree.
func FuzzPatch(f *testing.F) {
	f.Add(deployment)
	f.Add("a: |\n  x\n  y\nb: [1, 2]\nc:\n- d: 1\n  e: 'q'\n- f\n")
	f.Add("- a\n- b: c\n  # d\n-   e: \"f\"\n")
	f.Fuzz(func(t *testing.T, text string) {
		b, err := yaml.Parse(text)
		if err != nil || b.YNode().Kind != yaml.MappingNode && b.YNode().Kind != yaml.SequenceNode {
			return
		}
		a := b.Copy()
		k := 0
		var walk func(n *yaml.Node)
		walk = func(n *yaml.Node) {
			k++
			switch n.Kind {
			case yaml.ScalarNode:
				if k%3 == 0 {
					n.Value += "x"
				}
			case yaml.SequenceNode:
				if k%2 == 0 && len(n.Content) > 0 {
					n.Content = n.Content[1:]
				}
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "new", Tag: "!!str"})
			}
			for _, c := range n.Content {
				walk(c)
			}
		}
		walk(a.YNode())
		if a.YNode().Kind == yaml.MappingNode {
			a.YNode().Content = append(a.YNode().Content, yaml.NewStringRNode("added").YNode(), yaml.NewStringRNode("v").YNode())
		}
		out, ok := Patch(text, b.YNode(), a.YNode())
		if !ok {
			return
		}
		check, err := yaml.Parse(out)
		if err != nil || !yamlnode.SameContent(check.YNode(), a.YNode()) {
			t.Fatalf("not the edited tree: %v\n%s", err, out)
		}
	})
}
