package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/internal/checks"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/stream"
	"github.com/kptdev/krm-functions-sdk/go/fn"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// TestPostRenderLeavesTheRestAlone: on each shared fixture (Helm renders and the
// Istio addon), in sidecar, injection and ambient modes, post-render's output without the
// documents it edited is the input without those documents, byte for byte (order,
// "---" and "# Source:" lines, CRD text); each edited document keeps its prefix and
// holds exactly the KRM mode's edit of that object, headed by the KRM mode's
// results about it as comments (where Helm users see them); created objects are
// appended and are the KRM mode's too.
func TestPostRenderLeavesTheRestAlone(t *testing.T) {
	configs := map[string]string{
		"sidecar":   "",
		"injection": cfg("  mode: injection\n"),
		"ambient":   cfg("  mode: ambient\n"),
	}
	// The fixture with the chart's additionalScrapeConfigs value (a golden case's patch).
	const additional = "kube-prometheus-stack.yaml+additionalScrapeConfigs"
	for _, fixture := range []string{"kube-prometheus-stack.yaml", additional, "helm-prometheus.yaml", "istio-addon-prometheus.yaml"} {
		for mode, config := range configs {
			if fixture == additional && mode != "sidecar" {
				continue // the Secret it adds to: the modes are the plain render's
			}
			t.Run(fixture+"/"+mode, func(t *testing.T) {
				t.Parallel()
				var in []byte
				if fixture == additional {
					in = goldenCase{"kube-prometheus-stack-additional", "../testdata/kube-prometheus-stack-additional"}.input(t)
				} else {
					var err error
					if in, err = os.ReadFile(filepath.Join(fixturesDir, fixture)); err != nil {
						t.Fatal(err)
					}
				}
				var fc *yaml.RNode
				if config != "" {
					fc = yaml.MustParse(config)
				}
				write, err := renderStream(in, fc, os.Stderr)
				if err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				if err := write(&buf); err != nil {
					t.Fatal(err)
				}
				out := buf.Bytes()

				// The KRM mode on the same objects.
				krm, err := runFn(resourceList(t, in, []byte(config)))
				if err != nil {
					t.Fatalf("KRM mode: %v", err)
				}
				krmItems, err := checks.Items(krm)
				if err != nil {
					t.Fatal(err)
				}
				krmByID := map[krmerr.Ref]string{}
				for _, it := range krmItems {
					krmByID[*krmerr.RefOf(it)] = render(t, it)
				}
				// The KRM results about each object, as post-render writes them
				// at the head of its document.
				krmRL, err := fn.ParseResourceList(krm)
				if err != nil {
					t.Fatal(err)
				}
				resultLines := map[krmerr.Ref]string{}
				for _, r := range krmRL.Results {
					if ref := r.ResourceRef; ref != nil {
						id := krmerr.Ref{APIVersion: ref.APIVersion, Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name}
						resultLines[id] += resultPrefix + string(r.Severity) + ": " + strings.ReplaceAll(r.Message, "\n", " ") + "\n"
					}
				}
				changed := map[krmerr.Ref]bool{}
				inItems, _ := checks.Items(resourceList(t, in, nil))
				for _, it := range inItems {
					if krmByID[*krmerr.RefOf(it)] != render(t, it) {
						changed[*krmerr.RefOf(it)] = true
					}
				}

				inDocs, outDocs := stream.Split(in), stream.Split(out)
				if len(outDocs) < len(inDocs) {
					t.Fatalf("%d documents in, %d out", len(inDocs), len(outDocs))
				}
				var restIn, restOut bytes.Buffer
				seen := map[krmerr.Ref]bool{}
				for i, d := range inDocs {
					o := outDocs[i]
					if bytes.Equal(d.Prefix, o.Prefix) && bytes.Equal(d.Body, o.Body) {
						restIn.Write(d.Prefix)
						restIn.Write(d.Body)
						restOut.Write(o.Prefix)
						restOut.Write(o.Body)
						continue
					}
					n, err := yaml.Parse(string(o.Body))
					if err != nil {
						t.Fatalf("document %d: %v", i, err)
					}
					id := *krmerr.RefOf(n)
					// The prefix is kept, followed by the results about the object.
					if want := string(d.Prefix) + resultLines[id]; string(o.Prefix) != want {
						t.Errorf("document %d: prefix %q, want %q (its own, then its results)", i, o.Prefix, want)
					}
					seen[id] = true
					if !changed[id] {
						t.Errorf("document %d (%s) was rewritten, but the KRM mode leaves it alone", i, id.String())
					}
					if got, want := render(t, n), krmByID[id]; got != want {
						t.Errorf("document %d (%s) is not the KRM mode's edit:\n%s", i, id.String(), lineDiff(want, got))
					}
				}
				if restIn.String() != restOut.String() {
					t.Errorf("the untouched documents differ:\n%s", lineDiff(restIn.String(), restOut.String()))
				}
				for _, d := range outDocs[len(inDocs):] {
					n, err := yaml.Parse(string(d.Body))
					if err != nil {
						t.Fatal(err)
					}
					id := *krmerr.RefOf(n)
					seen[id] = true
					if want := "---\n" + resultLines[id]; string(d.Prefix) != want {
						t.Errorf("created %s: prefix %q, want %q", id.String(), d.Prefix, want)
					}
					if got, want := render(t, n), krmByID[id]; got != want {
						t.Errorf("created %s is not the KRM mode's:\n%s", id.String(), lineDiff(want, got))
					}
				}
				for id := range changed {
					if !seen[id] {
						t.Errorf("the KRM mode edits %s; post-render does not", id.String())
					}
				}
				if len(seen) == 0 {
					t.Error("post-render edited nothing")
				}
			})
		}
	}
}

// render writes an object as the SDK does, so that objects read from a
// ResourceList and from a document compare equal when their trees are.
func render(t *testing.T, n *yaml.RNode) string {
	t.Helper()
	// Without leading comment lines: the "# Source:" line is part of a document's
	// prefix in post-render, and of the object in a ResourceList.
	s := fn.CopyToKubeObject(n).String()
	for strings.HasPrefix(s, "#") {
		_, s, _ = strings.Cut(s, "\n")
	}
	return s
}

// TestPostRenderStreams: edge cases of the stream itself.
func TestPostRenderStreams(t *testing.T) {
	t.Parallel()
	prom := strings.Join([]string{deploy, configMap}, "---\n")
	for name, c := range map[string]struct {
		in      string
		wantErr string
		want    string // in the output; default: the sidecar and the secure job
	}{
		"no trailing newline":  {in: "---\n# Source: x\n" + strings.TrimSuffix(prom, "\n")},
		"empty template first": {in: "---\n# Source: empty.yaml\n---\n# Source: x\n" + prom},
		"created Secret after a last line without newline": {
			in:   "---\n# Source: p.yaml\napiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {name: k8s, namespace: m}\nspec: {}\n---\n# Source: empty.yaml",
			want: "---\n# Source: empty.yaml\n---\napiVersion: v1\nkind: Secret\n"},
		"unrelated junk kept": {in: "---\n# Source: notes\nkind: Notes\nthis is: [not, {closed\n---\n" + prom},
		"broken workload":     {in: "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: [\n", wantErr: "not a YAML stream of objects"},
		"no Prometheus":       {in: "---\n" + configMap, wantErr: "no scraper workload found"},
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := postRender(nil, strings.NewReader(c.in), &stdout, &stderr)
			if c.wantErr != "" {
				if code != 1 || stdout.Len() != 0 || !strings.Contains(stderr.String(), c.wantErr) {
					t.Errorf("exit %d, stdout %q, stderr %q; want exit 1, nothing on stdout, %q", code, stdout.String(), stderr.String(), c.wantErr)
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			// The result lines at the heads of edited documents aside (checked in
			// TestPostRenderLeavesTheRestAlone).
			got := string(withoutResults(stdout.Bytes()))
			if c.want != "" {
				if !strings.Contains(got, c.want) || !strings.Contains(got, "name: istio-proxy") {
					t.Errorf("output lacks %q:\n%s", c.want, got)
				}
				return
			}
			if !strings.Contains(got, "name: istio-proxy") || !strings.Contains(got, "kubernetes-pods-istio-secure") {
				t.Errorf("not transformed:\n%s", got)
			}
			if strings.Contains(c.in, "this is: [not") && !strings.Contains(got, "---\n# Source: notes\nkind: Notes\nthis is: [not, {closed\n---\n") {
				t.Errorf("the unrelated document was not kept as it was:\n%s", got)
			}
		})
	}
}

// FuzzPostRender feeds arbitrary streams to post-render. It must never panic; on
// failure it writes nothing; on success every input document comes out in its place,
// either as it was or, when edited, with its prefix ("---", comments) kept.
func FuzzPostRender(f *testing.F) {
	for _, name := range []string{"istio-addon-prometheus.yaml", "helm-prometheus.yaml", "kube-prometheus-prometheus.yaml"} {
		b, err := os.ReadFile(filepath.Join(fixturesDir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("---\n# Source: x\n" + deploy + "---\n" + configMap))
	f.Add([]byte(deploy + "---\n" + configMap + "---\n# Source: empty\n"))
	f.Add([]byte("--- {kind: Deployment}\n---\nkind: ConfigMap\nmetadata:\n  name: prom-config\n"))
	for _, c := range hostileCases() {
		f.Add([]byte(c.items))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var stdout, stderr bytes.Buffer
		code := postRender(nil, bytes.NewReader(in), &stdout, &stderr)
		if stderr.Len() > maxMessages {
			t.Fatalf("said %d bytes on stderr, past %d", stderr.Len(), maxMessages)
		}
		if code != 0 {
			if stdout.Len() != 0 {
				t.Fatalf("a failed post-render wrote to stdout: %q", stdout.String())
			}
			return
		}
		inDocs, outDocs := stream.Split(in), stream.Split(stdout.Bytes())
		if len(outDocs) < len(inDocs) {
			t.Fatalf("%d documents in, %d out", len(inDocs), len(outDocs))
		}
		for i, d := range inDocs {
			o := outDocs[i]
			// Its prefix, but for the result lines of an earlier run, then only
			// this run's result lines.
			kept := withoutResults(d.Prefix)
			if !bytes.HasPrefix(o.Prefix, kept) || len(withoutResults(o.Prefix[len(kept):])) != 0 {
				t.Fatalf("document %d: prefix %q became %q", i, d.Prefix, o.Prefix)
			}
		}
	})
}

// postRendered is post-render's output for in with config.
func postRendered(t *testing.T, in []byte, config string) []byte {
	t.Helper()
	write, err := renderStream(in, yaml.MustParse(config), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestPostRenderAmbientDeletesCreatedSecret: a stream that carries what sidecar
// mode made of a Prometheus resource (the created additionalScrapeConfigs Secret
// appended) loses that document, and the reference to it, in ambient mode; every
// other document stays byte for byte.
func TestPostRenderAmbientDeletesCreatedSecret(t *testing.T) {
	in, err := os.ReadFile(filepath.Join(fixturesDir, "kube-prometheus-prometheus.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	render := func(in []byte, config string) []byte { return postRendered(t, in, config) }
	// A Service of the chart's beside it: untouched in both runs.
	const other = "# Source: chart/templates/service.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: web   # a comment\n  namespace: monitoring\nspec:\n  ports: [{port: 80}]\n"
	in = append(append(append([]byte{}, in...), "---\n"...), other...)
	sidecar := render(in, cfg("  istio:\n    version: \"1.31\"\n"))
	if !bytes.Contains(sidecar, []byte("kind: Secret")) {
		t.Fatalf("sidecar mode created no Secret:\n%s", sidecar)
	}
	ambient := render(sidecar, cfg("  mode: ambient\n  istio:\n    version: \"1.31\"\n"))
	if bytes.Contains(ambient, []byte("kind: Secret")) || bytes.Contains(ambient, []byte("additionalScrapeConfigs")) {
		t.Errorf("ambient mode kept the created Secret or its reference:\n%s", ambient)
	}
	if !bytes.HasSuffix(ambient, []byte("---\n"+other)) {
		t.Errorf("the Service document changed or moved:\n%s", ambient)
	}
	if !bytes.Contains(ambient, []byte("istio.io/dataplane-mode: ambient")) {
		t.Errorf("not enrolled:\n%s", ambient)
	}
	if _, err := checks.Items(ambient); err != nil {
		t.Errorf("not a stream of objects: %v\n%s", err, ambient)
	}
}

// TestPostRenderKeepsUnchangedLines: helm diff shows only what the function
// changed. On each shared chart render, in each mode, and on a render switched
// from one mode to the other (which removes and rewrites what the first run
// wrote), each edited document is diffed line by line against its input: every
// line is kept, added, removed, or changed in its value only (the same key at the
// same indentation). No line is re-indented, re-quoted, re-spaced or moved, and
// no blank line is dropped.
func TestPostRenderKeepsUnchangedLines(t *testing.T) {
	t.Parallel()
	const version = "  istio:\n    version: \"1.31\"\n"
	modes := []struct{ name, config, then string }{
		{"sidecar", cfg(version), ""},
		{"injection", cfg("  mode: injection\n" + version), ""},
		{"ambient", cfg("  mode: ambient\n" + version), ""},
		{"sidecar-then-ambient", cfg(version), cfg("  mode: ambient\n" + version)},
		{"ambient-then-sidecar", cfg("  mode: ambient\n" + version), cfg(version)},
		{"injection-then-sidecar", cfg("  mode: injection\n" + version), cfg(version)},
	}
	renders := []string{"helm-prometheus.yaml", "kube-prometheus-stack.yaml", "kube-prometheus-prometheus.yaml", "istio-addon-prometheus.yaml", "vmagent-chart.yaml", "otel-collector-chart.yaml",
		"vmagent-operator-vmagent.yaml", "vmagent-operator-istio.yaml", "otel-operator-collector.yaml",
		// Renders of this repository's golden cases: Alloy's two charts, Grafana Agent's.
		"testdata:alloy-chart-1.11.1", "testdata:k8s-monitoring-2.1.4", "testdata:grafana-agent-chart-0.44.2"}
	post := postRendered
	// Istio's secure-metrics sample is taken over: its injector steering goes,
	// its inject label changes in value and keeps its comment.
	const takeOver = "  takeOver: true\n"
	renders = append(renders, "istio-prometheus-secure-metrics.yaml")
	for _, fixture := range renders {
		for _, m := range modes {
			if fixture == "istio-prometheus-secure-metrics.yaml" {
				m.config = cfg(takeOver + strings.TrimPrefix(m.config, cfg("")))
				if m.then != "" {
					m.then = cfg(takeOver + strings.TrimPrefix(m.then, cfg("")))
				}
			}
			t.Run(fixture+"/"+m.name, func(t *testing.T) {
				file := filepath.Join(fixturesDir, fixture)
				if name, ok := strings.CutPrefix(fixture, "testdata:"); ok {
					file = filepath.Join("../testdata", name, "input.yaml")
				}
				in, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				if m.then != "" {
					in = post(t, in, m.config)
				}
				config := m.config
				if m.then != "" {
					config = m.then
				}
				out := post(t, in, config)
				inDocs, outDocs := stream.Split(in), stream.Split(out)
				edited := 0
				for i, d := range inDocs {
					if i >= len(outDocs) {
						break // a document the function deleted (checked elsewhere)
					}
					if bytes.Equal(d.Body, outDocs[i].Body) {
						continue
					}
					edited++
					for _, bad := range unchangedLinesRewritten(string(d.Body), string(outDocs[i].Body)) {
						t.Errorf("document %d: %s", i+1, bad)
					}
				}
				if edited == 0 {
					t.Fatal("post-render edited no document")
				}
			})
		}
	}
}

// unchangedLinesRewritten diffs a document's text before and after an edit (a
// longest common subsequence of lines, as diff(1) finds) and returns each line
// change that is not an addition, a removal of a line with content, or a change
// of value: a line replaced by one of the same key and indentation must change
// its value, and no line removed comes back elsewhere.
func unchangedLinesRewritten(before, after string) []string {
	a, b := strings.SplitAfter(before, "\n"), strings.SplitAfter(after, "\n")
	var bad, removed, added, runOld, runNew []string
	flush := func() {
		// A line replaced by one of the same key: its value must change. One
		// of another key was removed, and the other added.
		n := min(len(runOld), len(runNew))
		for k := range n {
			ok, ov := lineKey(runOld[k])
			nk, nv := lineKey(runNew[k])
			if ok == nk && ov == nv {
				bad = append(bad, fmt.Sprintf("line %q became %q", strings.TrimSuffix(runOld[k], "\n"), strings.TrimSuffix(runNew[k], "\n")))
			}
		}
		removed = append(removed, runOld...)
		added = append(added, runNew...)
		runOld, runNew = nil, nil
	}
	for _, l := range checks.DiffLines(a, b) {
		switch l.Op {
		case '=':
			flush()
		case '+':
			runNew = append(runNew, l.Text)
		default:
			runOld = append(runOld, l.Text)
		}
	}
	flush()
	addedText := map[string]bool{}
	for _, l := range added {
		addedText[strings.TrimSpace(l)] = true
	}
	for _, l := range removed {
		switch {
		case strings.TrimSpace(l) == "":
			bad = append(bad, fmt.Sprintf("blank line %q dropped", strings.TrimSuffix(l, "\n")))
		case addedText[strings.TrimSpace(l)]:
			bad = append(bad, fmt.Sprintf("line %q moved or re-indented", strings.TrimSuffix(l, "\n")))
		}
	}
	return bad
}

// lineKey splits a line into its key (indentation, list dash, key and colon) and
// its value, the rest without surrounding spaces.
func lineKey(l string) (key, value string) {
	l = strings.TrimSuffix(l, "\n")
	body := strings.TrimLeft(l, " ")
	key = l[:len(l)-len(body)]
	for strings.HasPrefix(body, "- ") {
		key += "- "
		body = body[2:]
	}
	if k, v, ok := strings.Cut(body, ":"); ok && (v == "" || v[0] == ' ') {
		return key + k + ":", strings.TrimSpace(v)
	}
	return key, strings.TrimSpace(body)
}
