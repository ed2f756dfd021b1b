package scrapeconfig

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/splice"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/yamlnode"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// fastEdit runs Edit's steps with the line splice only: ok is false when
// splice.Patch declined; owned are the jobs the record is to name.
func fastEdit(t *testing.T, doc string, o Options) (out string, owned []string, ok bool) {
	t.Helper()
	root, err := parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := root.Pipe(yaml.Lookup("scrape_configs"))
	if err != nil || jobs == nil {
		t.Fatalf("no scrape_configs: %v", err)
	}
	before := yaml.CopyYNode(root.YNode())
	rep, err := editJobs(jobs, o, "scrape_configs")
	if err != nil {
		t.Fatal(err)
	}
	out, ok = splice.Patch(doc, before, root.YNode())
	return out, rep.Owned, ok
}

// fullEdit is the fallback: the whole document rendered.
func fullEdit(t *testing.T, doc string, o Options) string {
	t.Helper()
	root, _ := parse(doc)
	jobs, _ := root.Pipe(yaml.Lookup("scrape_configs"))
	if _, err := editJobs(jobs, o, "scrape_configs"); err != nil {
		t.Fatal(err)
	}
	out, err := render(root, doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var spliceDocs = map[string]string{
	"indentless": plain,
	"indented": `global:
  scrape_interval: 30s   # odd spacing is kept
scrape_configs:
  # the pods
  - job_name: pods
    kubernetes_sd_configs:
      - role: pod
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
        action: keep
        regex: "true"

      # a user rule after a blank line
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path]
        action: replace
        target_label: __metrics_path__
        regex: (.+)
  - job_name: slow
    kubernetes_sd_configs:
      - role: pod
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape_slow]
        action: keep
        regex: "true"
    # a comment at the end of the job

# about alerting
alerting:
  alertmanagers: []
`,
	"no final newline":            "scrape_configs:\n- job_name: pods\n  kubernetes_sd_configs: [{role: pod}]\n  relabel_configs:\n  - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]\n    action: keep",
	"three spaces after the dash": "scrape_configs:\n-   job_name: pods\n    kubernetes_sd_configs: [{role: pod}]\n    relabel_configs:\n    -   action: keep\n        source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]\n",
}

// TestSpliceMatchesFullRender: on block-style documents the fast path is taken,
// keeps every line of the user's text in order, and gives the same tree as
// rendering the whole document; on a second run, and after an option change,
// too.
func TestSpliceMatchesFullRender(t *testing.T) {
	changed := opts()
	changed.CertsDir = "/certs"
	changed.SecurePortJob = true
	for name, doc := range spliceDocs {
		t.Run(name, func(t *testing.T) {
			doc := doc
			var owned []string
			for step, o := range []Options{opts(), opts(), changed, opts()} {
				o.Owned = owned
				fast, now, ok := fastEdit(t, doc, o)
				if !ok {
					t.Fatalf("step %d: the fast path declined:\n%s", step, doc)
				}
				full := fullEdit(t, doc, o)
				a, err := yaml.Parse(fast)
				if err != nil {
					t.Fatalf("step %d: %v\n%s", step, err, fast)
				}
				b, _ := yaml.Parse(full)
				if !yamlnode.SameContent(a.YNode(), b.YNode()) {
					t.Fatalf("step %d: fast and full differ:\n%s\n---\n%s", step, fast, full)
				}
				if strings.HasSuffix(doc, "\n") != strings.HasSuffix(fast, "\n") {
					t.Errorf("step %d: final newline changed", step)
				}
				if step == 0 {
					assertSubsequence(t, doc, fast)
				}
				if step == 1 && fast != doc {
					t.Errorf("a second run changed the text:\n%s\n---\n%s", doc, fast)
				}
				doc, owned = fast, now
			}
			if strings.Contains(doc, "/certs/") || strings.Contains(doc, secureMergedJob) {
				t.Errorf("the last run did not undo the option change:\n%s", doc)
			}
		})
	}
}

// assertSubsequence: every line of a is in b, in order (nothing of the user's
// text was lost or reformatted).
func assertSubsequence(t *testing.T, a, b string) {
	t.Helper()
	bl := strings.SplitAfter(b, "\n")
	j := 0
	for _, l := range strings.SplitAfter(a, "\n") {
		for j < len(bl) && strings.TrimSuffix(bl[j], "\n") != strings.TrimSuffix(l, "\n") {
			j++
		}
		if j == len(bl) {
			t.Fatalf("line %q of the input is not kept in order:\n%s", l, b)
		}
		j++
	}
}

// TestSpliceRendersOnlyWhatItMust: a list the line splice cannot edit in place
// (flow style, a dash alone on its line) is rendered again, and only the pair
// that holds it: the user's other lines stay as they are.
func TestSpliceRendersOnlyWhatItMust(t *testing.T) {
	const head = "global:\n  scrape_interval:   30s   # kept as it is\n\n"
	for name, doc := range map[string]string{
		"flow job list":      "scrape_configs: [{job_name: a}]\n",
		"dash alone":         "scrape_configs:\n-\n  job_name: a\n",
		"flow relabel rules": "scrape_configs:\n- job_name: pods\n  kubernetes_sd_configs: [{role: pod}]\n  relabel_configs: [{source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape], action: keep}]\n",
		"no relabel rules":   "scrape_configs:\n- job_name: pods\n  kubernetes_sd_configs: [{role: pod}]\n",
	} {
		t.Run(name, func(t *testing.T) {
			doc := head + doc
			o := opts()
			if name == "no relabel rules" {
				o.ExcludeFrom = &[]string{"pods"}
			}
			fast, _, ok := fastEdit(t, doc, o)
			if !ok {
				t.Fatalf("the splice declined:\n%s", doc)
			}
			if !strings.HasPrefix(fast, head) || !strings.Contains(fast, "job_name: secure") {
				t.Errorf("the global section was rewritten, or no job added:\n%s", fast)
			}
			a, _ := yaml.Parse(fast)
			b, _ := yaml.Parse(fullEdit(t, doc, o))
			if !yamlnode.SameContent(a.YNode(), b.YNode()) {
				t.Errorf("not the edited tree:\n%s", fast)
			}
			out, _, err := Edit(doc, o)
			if err != nil || out != fast {
				t.Errorf("Edit: %v\n%s", err, out)
			}
		})
	}
}

// FuzzSplice: whenever the splice takes a document, the result has the tree
// that rendering the whole document gives, and (on a document this function
// never edited, with no flow collection) keeps every line of the input, in order.
func FuzzSplice(f *testing.F) {
	for _, d := range spliceDocs {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		root, err := parse(doc)
		if err != nil {
			return
		}
		jobs, err := root.Pipe(yaml.Lookup("scrape_configs"))
		if err != nil || jobs == nil {
			return
		}
		before := yaml.CopyYNode(root.YNode())
		if _, err := editJobs(jobs, opts(), "scrape_configs"); err != nil {
			return
		}
		fast, ok := splice.Patch(doc, before, root.YNode())
		if !ok {
			return
		}
		a, err := yaml.Parse(fast)
		if err != nil {
			t.Fatalf("%v\n%s", err, fast)
		}
		if !yamlnode.SameContent(a.YNode(), root.YNode()) {
			t.Fatalf("the splice is not the edited tree:\n%s", fast)
		}
		// A flow collection is rendered again with the key that holds it; every
		// other line of a document this function never edited is kept.
		// So is a list with an element whose "- " stands on a line of its own
		// (the splice puts elements by their dash).
		if !strings.Contains(doc, jobMarker) && !strings.Contains(doc, "istio-prometheus-mtls:") && !hasFlow(before) && !detachedDash(before, strings.Split(doc, "\n")) {
			assertSubsequence(t, doc, fast)
		}
	})
}

// detachedDash tells whether a list element of n starts on a line without its
// "- " (the dash alone on the line before).
func detachedDash(n *yaml.Node, lines []string) bool {
	if n.Kind == yaml.SequenceNode && n.Style&yaml.FlowStyle == 0 {
		for _, e := range n.Content {
			if e.Line < 1 || e.Line > len(lines) || !strings.HasPrefix(strings.TrimLeft(lines[e.Line-1], " "), "- ") {
				return true
			}
		}
	}
	for _, c := range n.Content {
		if detachedDash(c, lines) {
			return true
		}
	}
	return false
}

// hasFlow tells whether a tree holds a flow-style list or mapping.
func hasFlow(n *yaml.Node) bool {
	if n.Style&yaml.FlowStyle != 0 && (n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode) {
		return true
	}
	for _, c := range n.Content {
		if hasFlow(c) {
			return true
		}
	}
	return false
}

// nestedAliases is a document whose aliases expand to 2^depth nodes.
func nestedAliases(depth int) string {
	var b strings.Builder
	// The anchors sit in a job of their own: a document's top-level keys must be
	// Prometheus's.
	b.WriteString("scrape_configs:\n- job_name: anchors\n  params:\n    l0: &l0 [x, x]\n")
	for i := 1; i <= depth; i++ {
		fmt.Fprintf(&b, "    l%d: &l%d [*l%d, *l%d]\n", i, i, i-1, i-1)
	}
	b.WriteString("- job_name: pods\n  params: *l" + strconv.Itoa(depth) + "\n  kubernetes_sd_configs: [{role: pod}]\n  relabel_configs:\n  - {source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape], action: keep}\n")
	return b.String()
}

// TestNestedAliases: trees are compared without expanding aliases, so a document
// of nested aliases (2^60 nodes expanded) is edited at once, and a second run
// leaves it as it is.
func TestNestedAliases(t *testing.T) {
	doc := nestedAliases(60)
	once, rep, err := Edit(doc, opts())
	if err != nil {
		t.Fatal(err)
	}
	assertSubsequence(t, doc, once)
	twice, _, err := Edit(once, owning(opts(), rep))
	if err != nil || twice != once {
		t.Errorf("second run: %v\n%s", err, twice)
	}
}

// TestCRLF: a config whose lines end in CRLF (written on Windows) keeps them,
// on the lines the function puts in too, through the splice and the full
// render alike; a re-run changes nothing.
func TestCRLF(t *testing.T) {
	for name, doc := range map[string]string{
		"spliced":  strings.ReplaceAll(plain, "\n", "\r\n"),
		"rendered": "scrape_configs: [{job_name: a}]\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			out, rep, err := Edit(doc, opts())
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(out, "\n"); n < 20 || strings.Count(out, "\r\n") != n {
				t.Errorf("%d line breaks, %d of them CRLF:\n%q", n, strings.Count(out, "\r\n"), out)
			}
			if again, _, err := Edit(out, owning(opts(), rep)); err != nil || again != out {
				t.Errorf("a re-run changed the text (%v):\n%q", err, again)
			}
		})
	}
}
