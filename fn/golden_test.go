package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/internal/checks"
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
// object to add): a testdata edit of a fixture, such as a chart value would render.
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
	patch, err := os.ReadFile(filepath.Join(c.dir, "patch.yaml"))
	if os.IsNotExist(err) {
		return b
	}
	if err != nil {
		t.Fatal(err)
	}
	return patched(t, b, patch)
}

func patched(t testing.TB, stream, patch []byte) []byte {
	read := func(b []byte) []*yaml.RNode {
		nodes, err := (&kio.ByteReader{Reader: bytes.NewReader(b), OmitReaderAnnotations: true}).Read()
		if err != nil {
			t.Fatal(err)
		}
		return nodes
	}
	nodes := read(stream)
	for _, p := range read(patch) {
		found := false
		for i, n := range nodes {
			if n.GetKind() == p.GetKind() && n.GetName() == p.GetName() && n.GetNamespace() == p.GetNamespace() {
				merged, err := merge2.Merge(p, n, yaml.MergeOptions{})
				if err != nil {
					t.Fatal(err)
				}
				nodes[i], found = merged, true
			}
		}
		if !found {
			nodes = append(nodes, p)
		}
	}
	var out bytes.Buffer
	if err := (&kio.ByteWriter{Writer: &out}).Write(nodes); err != nil {
		t.Fatal(err)
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
// and kustomize do.
func resourceList(t testing.TB, stream, config []byte) []byte {
	nodes, err := (&kio.ByteReader{Reader: bytes.NewReader(stream), OmitReaderAnnotations: true}).Read()
	if err != nil {
		t.Fatal(err)
	}
	var fc *yaml.RNode
	if len(config) > 0 {
		if fc, err = yaml.Parse(string(config)); err != nil {
			t.Fatal(err)
		}
	}
	out, err := wrap(nodes, fc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func runFn(in []byte) ([]byte, error) {
	return fn.Run(fn.ResourceListProcessorFunc(process), in)
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
	seen := map[string]bool{}
	for _, i := range inRL.Items {
		seen[i.String()] = true
	}
	kept := outRL.Items[:0]
	for _, o := range outRL.Items {
		if !seen[o.String()] {
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
	for _, c := range goldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
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
	for _, c := range goldenCases(t) {
		if c.isError() {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			_, first, err := c.run(t)
			if err != nil {
				t.Fatal(err)
			}
			rl, err := fn.ParseResourceList(first)
			if err != nil {
				t.Fatal(err)
			}
			rl.Results = nil
			again, err := rl.ToYAML()
			if err != nil {
				t.Fatal(err)
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
		byID[o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName()] = o
	}
	for _, i := range inRL.Items {
		id := i.GetKind() + "/" + i.GetNamespace() + "/" + i.GetName()
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
		if !edited[id] && i.String() != o.String() {
			t.Errorf("%s was not to be edited, but changed:\n%s", id, lineDiff(i.String(), o.String()))
		}
	}
}

// wrap builds a ResourceList of nodes. It writes the nodes as they are (kio's
// writer reads their annotations, and its accessors panic on malformed metadata,
// which the function must report instead).
func wrap(nodes []*yaml.RNode, fc *yaml.RNode) ([]byte, error) {
	str := func(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: v} }
	items := &yaml.Node{Kind: yaml.SequenceNode}
	for _, n := range nodes {
		items.Content = append(items.Content, n.YNode())
	}
	root := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		str("apiVersion"), str(kio.ResourceListAPIVersion),
		str("kind"), str(kio.ResourceListKind),
		str("items"), items,
	}}
	if fc != nil {
		root.Content = append(root.Content, str("functionConfig"), fc.YNode())
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}
