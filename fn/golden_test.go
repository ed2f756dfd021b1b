package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/internal/checks"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/stream"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/yamlnode"
	"github.com/kptdev/krm-functions-sdk/go/fn"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"
	"sigs.k8s.io/kustomize/kyaml/yaml/merge2"
)

var update = flag.Bool("update", false, "rewrite testdata/*/expected.yaml")

// fixturesDir is ../shared/fixtures beside the checkout.
const fixturesDir = "../../shared/fixtures"

// goldenCase is one directory of testdata/: an input (input.yaml, or a file
// "fixture" naming a shared fixture), an optional config.yaml, and the expected
// output ResourceList (expected.yaml).
type goldenCase struct {
	name, dir string
}

// scraper is the scraper table row the case's workload runs: the file
// "scraper" names it, Prometheus without one. Each scraper's own tool checks
// its cases' edited config (promtool, vmagent -dryRun).
func (c goldenCase) scraper() string {
	b, err := os.ReadFile(filepath.Join(c.dir, "scraper"))
	if err != nil {
		return "Prometheus"
	}
	return strings.TrimSpace(string(b))
}

func goldenCases(t testing.TB) []goldenCase {
	dirs, err := filepath.Glob("../testdata/*")
	if err != nil {
		t.Fatal(err)
	}
	var out []goldenCase
	for _, d := range dirs {
		if filepath.Base(d) == "charts" {
			continue // Helm charts for the post-renderer tests, not a golden case
		}
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			out = append(out, goldenCase{filepath.Base(d), d})
		}
	}
	if len(out) == 0 {
		t.Fatal("no golden cases in ../testdata")
	}
	return out
}

// input returns the case's input as a multi-document stream: input.yaml, or the
// shared fixture a file "fixture" names, with patch.yaml applied when there is one
// (each document a strategic merge patch of the object of its kind and name, or an
// object to add): a testdata edit of a fixture, such as a chart value would render;
// with a file "without-crds", the fixture's CustomResourceDefinitions left out.
func (c goldenCase) input(t testing.TB) []byte {
	if b, err := os.ReadFile(filepath.Join(c.dir, "input.yaml")); err == nil {
		return b
	}
	name, err := os.ReadFile(filepath.Join(c.dir, "fixture"))
	if err != nil {
		t.Fatalf("%s: neither input.yaml nor fixture: %v", c.name, err)
	}
	b, err := os.ReadFile(filepath.Join(fixturesDir, strings.TrimSpace(string(name))))
	if err != nil {
		t.Fatalf("%s: shared fixture: %v (the tests expect ../shared beside the checkout)", c.name, err)
	}
	if _, err := os.Stat(filepath.Join(c.dir, "without-crds")); err == nil {
		b = withoutCRDs(b)
	}
	patch, err := os.ReadFile(filepath.Join(c.dir, "patch.yaml"))
	if os.IsNotExist(err) {
		return b
	}
	if err != nil {
		t.Fatal(err)
	}
	return patched(t, b, patch)
}

// withoutCRDs is the stream without its CustomResourceDefinition documents, the
// others as they are.
func withoutCRDs(in []byte) []byte {
	var out []byte
	for _, d := range stream.Split(in) {
		if kind, _ := d.TopLevel("kind"); kind != "CustomResourceDefinition" {
			out = append(append(out, d.Prefix...), d.Body...)
		}
	}
	return out
}

func patched(t testing.TB, in, patch []byte) []byte {
	t.Helper()
	patches, err := (&kio.ByteReader{Reader: bytes.NewReader(patch), OmitReaderAnnotations: true}).Read()
	if err != nil {
		t.Fatal(err)
	}
	found := make([]bool, len(patches))
	var out bytes.Buffer
	// Only the documents a patch names are parsed: the others (4 MB of CRDs in
	// the kube-prometheus-stack render) go through as text.
	for _, d := range stream.Split(in) {
		text := append(append([]byte{}, d.Prefix...), d.Body...)
		kind, _ := d.TopLevel("kind")
		name, _ := d.MetadataName()
		for i, p := range patches {
			if p.GetKind() != kind || p.GetName() != name {
				continue
			}
			n, err := yaml.Parse(string(d.Body))
			if err != nil {
				t.Fatal(err)
			}
			if n.GetNamespace() != p.GetNamespace() {
				continue
			}
			merged, err := merge2.Merge(p, n, yaml.MergeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			text, found[i] = append(append([]byte{}, d.Prefix...), merged.MustString()...), true
		}
		if len(text) > 0 && !bytes.HasPrefix(text, []byte("---")) && out.Len() > 0 {
			out.WriteString("---\n")
		}
		out.Write(text)
		if len(text) > 0 && text[len(text)-1] != '\n' {
			out.WriteByte('\n')
		}
	}
	for i, p := range patches {
		if !found[i] {
			out.WriteString("---\n" + p.MustString())
		}
	}
	return out.Bytes()
}

// inputFixture reads a shared fixture by name.
func (c goldenCase) inputFixture(t testing.TB, name string) []byte {
	b, err := os.ReadFile(filepath.Join(fixturesDir, name))
	if err != nil {
		t.Fatalf("shared fixture: %v (the tests expect ../shared beside the checkout)", err)
	}
	return b
}

func (c goldenCase) config(t testing.TB) []byte {
	b, err := os.ReadFile(filepath.Join(c.dir, "config.yaml"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// resourceList wraps a multi-document stream and a function config the way kpt
// and kustomize do. It writes the ResourceList as text, each document indented
// under items (encoding the parsed nodes takes a second on the 5 MB render);
// the function parses it as it parses any input.
func resourceList(t testing.TB, in, config []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("apiVersion: " + kio.ResourceListAPIVersion + "\nkind: " + kio.ResourceListKind + "\n")
	n := 0
	for _, d := range stream.Split(in) {
		if !hasContent(d.Body) {
			continue
		}
		if n == 0 {
			b.WriteString("items:\n")
		}
		n++
		body := d.Body
		if rest, ok := bytes.CutPrefix(body, []byte("---")); ok {
			body = bytes.TrimLeft(rest, " \t") // "--- {a: b}": the content after the marker
		}
		// The comment lines before the content (Helm's "# Source:") head it.
		var doc []byte
		for l := range bytes.Lines(d.Prefix) {
			if t := bytes.TrimSpace(l); len(t) > 0 && t[0] == '#' {
				doc = append(doc, bytes.TrimLeft(l, " \t")...)
			}
		}
		indentInto(&b, append(doc, body...), "- ")
	}
	if n == 0 {
		b.WriteString("items: []\n")
	}
	if hasContent(config) {
		b.WriteString("functionConfig:\n")
		indentInto(&b, config, "  ")
	}
	return b.Bytes()
}

// hasContent: doc has a line that is neither blank nor a comment.
func hasContent(doc []byte) bool {
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if l = bytes.TrimSpace(l); len(l) > 0 && l[0] != '#' && !bytes.Equal(l, []byte("---")) && !bytes.Equal(l, []byte("...")) {
			return true
		}
	}
	return false
}

// indentInto writes doc's lines indented by two, the first after first; blank
// lines stay empty (in a block scalar too, where they are empty either way).
func indentInto(b *bytes.Buffer, doc []byte, first string) {
	lines := bytes.Split(bytes.TrimRight(doc, "\n"), []byte("\n"))
	for i, l := range lines {
		switch {
		case i == 0:
			b.WriteString(first)
		case len(bytes.TrimSpace(l)) > 0:
			b.WriteString("  ")
		}
		b.Write(l)
		b.WriteByte('\n')
	}
}

func runFn(in []byte) ([]byte, error) {
	out, _, err := runKRM(in)
	return out, err
}

// trimmed: the case is on a large fixture (the kube-prometheus-stack render),
// and its expected.yaml holds only what the function changed (view).
func (c goldenCase) trimmed() bool {
	_, err := os.Stat(filepath.Join(c.dir, "trimmed"))
	return err == nil
}

// isError: the case's input is bad (a file "error"): the run fails and gives
// the items back untouched.
func (c goldenCase) isError() bool {
	_, err := os.Stat(filepath.Join(c.dir, "error"))
	return err == nil
}

// caseRuns holds each case's first run, shared by the tests that start from
// it (the golden comparison, the re-runs): the function is deterministic
// (TestDeterminism), so one run per case is enough.
var caseRuns sync.Map // dir → *caseRun

type caseRun struct {
	once    sync.Once
	in, out []byte
	err     error
}

// run is the case's input as a ResourceList and the function's output on it.
// Callers must not modify either.
func (c goldenCase) run(t testing.TB) (in, out []byte, err error) {
	t.Helper()
	v, _ := caseRuns.LoadOrStore(c.dir, &caseRun{})
	r := v.(*caseRun)
	r.once.Do(func() {
		r.in = resourceList(t, c.input(t), c.config(t))
		r.out, r.err = runFn(r.in)
	})
	if r.in == nil {
		t.Fatalf("%s: no input", c.name)
	}
	return r.in, r.out, r.err
}

// view is what a case's expected.yaml holds of an output: all of it, or, for a
// case with a file "trimmed" (a large fixture), only the items that differ from
// every input item, with the results; assertOthersUntouched checks the rest.
func (c goldenCase) view(t testing.TB, in, out []byte) []byte {
	if _, err := os.Stat(filepath.Join(c.dir, "trimmed")); err != nil {
		return out
	}
	inRL, err := fn.ParseResourceList(in)
	if err != nil {
		t.Fatal(err)
	}
	outRL, err := fn.ParseResourceList(out)
	if err != nil {
		return out
	}
	inByID := map[string]*fn.KubeObject{}
	for _, i := range inRL.Items {
		inByID[objectID(i)] = i
	}
	kept := outRL.Items[:0]
	for _, o := range outRL.Items {
		if i := inByID[objectID(o)]; i == nil || !sameObject(i, o) {
			kept = append(kept, o)
		}
	}
	outRL.Items = kept
	b, err := outRL.ToYAML()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGolden(t *testing.T) {
	t.Parallel()
	for _, c := range goldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			in, out, err := c.run(t)
			got := c.view(t, in, out)
			errorCase := c.isError()
			if (err != nil) != errorCase {
				t.Fatalf("error = %v, want error: %v\n%s", err, errorCase, out)
			}
			expectedPath := filepath.Join(c.dir, "expected.yaml")
			if *update {
				if err := os.WriteFile(expectedPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(expectedPath)
			if err != nil {
				t.Fatalf("%v (run go test ./fn -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (go test ./fn -run TestGolden -update, then review git diff):\n%s", expectedPath, lineDiff(string(want), string(got)))
			}
			items, err := checks.Items(out)
			if err != nil {
				t.Fatal(err)
			}
			if err := checks.Workloads(items); err != nil {
				t.Error(err)
			}
			if err := checks.OperatorResources(items); err != nil {
				t.Error(err)
			}
			if errorCase {
				assertInputUntouched(t, in, out)
			} else {
				assertPodSecurity(t, in, items)
				assertOthersUntouched(t, in, out)
			}
		})
	}
}

// TestIdempotent runs the function on its own output: nothing may change.
func TestIdempotent(t *testing.T) {
	t.Parallel()
	for _, c := range goldenCases(t) {
		if c.isError() {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, first, err := c.run(t)
			if err != nil {
				t.Fatal(err)
			}
			// The output with its items as they are and no results, as the
			// function wrote it.
			again := first
			if i := bytes.Index(first, []byte("\nresults:\n")); i >= 0 {
				again = first[:i+1]
			}
			if c.trimmed() {
				// The function reads no CRD: the 4 MB of them in the
				// kube-prometheus-stack render are left out of the re-run.
				rl, err := fn.ParseResourceList(again)
				if err != nil {
					t.Fatal(err)
				}
				rl.Items = slices.DeleteFunc(rl.Items, func(o *fn.KubeObject) bool { return o.GetKind() == "CustomResourceDefinition" })
				if again, err = rl.ToYAML(); err != nil {
					t.Fatal(err)
				}
				first = again
			}
			second, err := runFn(again)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := itemsOnly(t, first), itemsOnly(t, second); a != b {
				t.Errorf("second run changed the output:\n%s", lineDiff(a, b))
			}
		})
	}
}

// assertInputUntouched: on error the items come back exactly as they went in.
func assertInputUntouched(t *testing.T, in, out []byte) {
	t.Helper()
	inRL, err := fn.ParseResourceList(in)
	if err != nil {
		t.Fatal(err)
	}
	inRL.Results = nil
	inItems, _ := inRL.ToYAML()
	if a, b := itemsOnly(t, inItems), itemsOnly(t, out); a != b {
		t.Errorf("a failed run changed the items:\n%s", lineDiff(a, b))
	}
}

func itemsOnly(t testing.TB, rlBytes []byte) string {
	rl, err := fn.ParseResourceList(rlBytes)
	if err != nil {
		t.Fatal(err)
	}
	// The SDK's own writer: it copes with any item shape (kio's does not).
	rl.Results, rl.FunctionConfig = nil, fn.NewEmptyKubeObject()
	s, err := rl.ToYAML()
	if err != nil {
		t.Fatal(err)
	}
	return string(s)
}

// lineDiff shows the first differing lines with some context.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	i := 0
	for i < len(al) && i < len(bl) && al[i] == bl[i] {
		i++
	}
	from := max(0, i-3)
	var sb strings.Builder
	for j := from; j < i+8; j++ {
		if j < len(al) && j < len(bl) && al[j] == bl[j] {
			sb.WriteString("  " + al[j] + "\n")
			continue
		}
		if j < len(al) {
			sb.WriteString("- " + al[j] + "\n")
		}
		if j < len(bl) {
			sb.WriteString("+ " + bl[j] + "\n")
		}
	}
	return sb.String()
}

// assertPodSecurity: the function never adds a Pod Security "restricted" violation.
func assertPodSecurity(t *testing.T, in []byte, outItems []*yaml.RNode) {
	t.Helper()
	inItems, err := checks.Items(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outItems {
		after, err := checks.PodSpec(o)
		if err != nil || after == nil {
			continue
		}
		for _, i := range inItems {
			if i.GetKind() != o.GetKind() || i.GetName() != o.GetName() || i.GetNamespace() != o.GetNamespace() {
				continue
			}
			before, err := checks.PodSpec(i)
			if err != nil || before == nil {
				continue
			}
			if err := checks.NoNewPodSecurityViolations(before, after, "istio-proxy"); err != nil {
				t.Errorf("%s %s: %v", o.GetKind(), o.GetName(), err)
			}
		}
	}
}

// assertOthersUntouched: items the function does not edit come out byte-identical,
// and no item loses or changes a config.kubernetes.io annotation.
// objectID is kind/namespace/name.
func objectID(o *fn.KubeObject) string {
	return o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
}

// sameObject: a and b are written the same (content, styles, comments),
// compared on their nodes rather than on their text (encoding every item of
// the 5 MB render takes seconds).
func sameObject(a, b *fn.KubeObject) bool {
	an, bn := a.CopyToResourceNode().YNode(), b.CopyToResourceNode().YNode()
	if yamlnode.Identical(an, bn) {
		return true
	}
	// A block scalar with a line ending in spaces cannot be written back as a
	// block (YAML would lose the spaces): every encoder, the SDK's too, writes
	// it quoted. Such an object is compared as it decodes.
	return unwritableBlock(an) && yamlnode.SameDecoded(an, bn)
}

// unwritableBlock tells whether n holds a literal or folded scalar with a line
// that ends in a space or tab.
func unwritableBlock(n *yaml.Node) bool {
	if n.Kind == yaml.ScalarNode && n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		for _, l := range strings.Split(n.Value, "\n") {
			if strings.HasSuffix(l, " ") || strings.HasSuffix(l, "\t") {
				return true
			}
		}
	}
	return slices.ContainsFunc(n.Content, unwritableBlock)
}

func assertOthersUntouched(t *testing.T, in, out []byte) {
	t.Helper()
	inRL, err := fn.ParseResourceList(in)
	if err != nil {
		t.Fatal(err)
	}
	outRL, err := fn.ParseResourceList(out)
	if err != nil {
		t.Fatal(err)
	}
	edited, deleted := map[string]bool{}, map[string]bool{}
	for _, r := range outRL.Results {
		if r.ResourceRef != nil {
			id := r.ResourceRef.Kind + "/" + r.ResourceRef.Namespace + "/" + r.ResourceRef.Name
			edited[id] = true
			// Only a Secret or ScrapeConfig the function created may go, and a
			// result says so.
			deleted[id] = deleted[id] || (r.ResourceRef.Kind == "Secret" || r.ResourceRef.Kind == "ScrapeConfig") && strings.HasPrefix(r.Message, "deleted: the function had created it")
		}
	}
	byID := map[string]*fn.KubeObject{}
	for _, o := range outRL.Items {
		byID[objectID(o)] = o
	}
	for _, i := range inRL.Items {
		id := objectID(i)
		o := byID[id]
		if o == nil && deleted[id] {
			continue
		}
		if o == nil {
			t.Errorf("%s is missing from the output", id)
			continue
		}
		for k, v := range i.GetAnnotations() {
			if (strings.Contains(k, "config.kubernetes.io/")) && o.GetAnnotation(k) != v {
				t.Errorf("%s: annotation %s changed from %q to %q", id, k, v, o.GetAnnotation(k))
			}
		}
		if !edited[id] && !sameObject(i, o) {
			t.Errorf("%s was not to be edited, but changed:\n%s", id, lineDiff(i.String(), o.String()))
		}
	}
}
