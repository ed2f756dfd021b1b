package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/internal/checks"
	"github.com/kptdev/krm-functions-sdk/go/fn"
)

// FuzzProcess feeds whole ResourceList bytes to the function. It must never panic;
// on error every item comes back as it went in; on success the output is a valid
// ResourceList on which a second run changes nothing.
func FuzzProcess(f *testing.F) {
	// A dozen golden cases, the small ones: TestGolden runs them all, and the
	// fuzzer gets further from a few small seeds in its fixed time.
	for i, c := range goldenCases(f) {
		in := resourceList(f, c.input(f), c.config(f))
		if i%6 == 0 && len(in) <= 8<<10 {
			f.Add(in)
		}
	}
	for _, name := range []string{"istio-addon-prometheus.yaml", "helm-prometheus.yaml", "kube-prometheus-prometheus.yaml"} {
		b, err := os.ReadFile(filepath.Join(fixturesDir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(resourceList(f, b, nil))
	}
	// Small seeds: the fuzzer gets much further with these than with the fixtures.
	f.Add(resourceList(f, []byte(deploy+"---\n"+configMap), nil))
	f.Add(resourceList(f, []byte(deploy+"---\n"+configMap), []byte(cfg("  mode: injection\n  istio:\n    revision: canary\n"))))
	f.Add(resourceList(f, []byte("apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {name: k8s, namespace: m}\nspec:\n  podMonitorSelector: {}\n"), nil))
	for _, c := range hostileCases() {
		f.Add(resourceList(f, []byte(c.items), []byte(c.config)))
	}
	// The hostile classes of TestHostileInput, small.
	f.Add(resourceList(f, []byte(deploy+"---\n"+"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: prom-config, namespace: mon}\ndata:\n  prometheus.yml: |\n"+indentBy(mergeFanOut(8), "    ")), nil))
	f.Add(resourceList(f, []byte(alloyDeploy("    prometheus.scrape \"x\" {\n      targets = [[[[]]]]\n      forward_to = []\n    }\n")), nil))
	f.Add(resourceList(f, []byte(withRecord(`{"containers":["prometheus"],"volumes":["config"],"volumeMounts":["prometheus:/etc/prometheus"],"jobs":["kubernetes-pods"]}`)+"---\n"+userJobs), []byte(cfg("  mode: ambient\n"))))
	f.Add(resourceList(f, []byte(strings.Replace(deploy, "metadata: {name: prom, namespace: mon}\n", "metadata: {name: prom, namespace: mon}\nmetadata: {name: x}\n", 1)+"---\n"+configMap), nil))
	f.Add([]byte("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n"))
	f.Add([]byte("kind: ResourceList\nitems: [1, [], {kind: Deployment}]\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := runFn(in)
		if len(out) == 0 {
			return // not a ResourceList: nothing written, error reported
		}
		rl, perr := fn.ParseResourceList(out)
		if perr != nil {
			t.Fatalf("the function wrote an invalid ResourceList: %v\n%s", perr, out)
		}
		said := 0
		for _, r := range rl.Results {
			said += len(r.Message)
		}
		if said > maxMessages {
			t.Fatalf("the results say %d bytes, past %d", said, maxMessages)
		}
		if err != nil {
			inRL, ierr := fn.ParseResourceList(in)
			if ierr != nil {
				return
			}
			// Compare whole lists with the SDK's own writer (it sorts the items, and
			// unlike kyaml's accessors it copes with any item shape).
			inRL.Results, rl.Results = nil, nil
			inRL.FunctionConfig, rl.FunctionConfig = fn.NewEmptyKubeObject(), fn.NewEmptyKubeObject()
			a, aerr := inRL.ToYAML()
			b, berr := rl.ToYAML()
			if aerr == nil && berr == nil && string(a) != string(b) {
				t.Fatalf("a failed run changed the items")
			}
			return
		}
		rl.Results = nil
		again, yerr := rl.ToYAML()
		if yerr != nil {
			t.Fatal(yerr)
		}
		out2, err2 := runFn(again)
		if err2 != nil {
			t.Fatalf("the function fails on its own output: %v\n%s", err2, out2)
		}
		rl2, _ := fn.ParseResourceList(out2)
		a, _ := fn.WriteKubeObjectsToString(rl.Items)
		b, _ := fn.WriteKubeObjectsToString(rl2.Items)
		if a != b {
			t.Fatalf("a second run changed the output:\n%s", lineDiff(a, b))
		}
	})
}

// FuzzEdit fuzzes the prometheus.yml editor through the whole function with a
// fixed workload, so the seeds are real configs.
func FuzzEdit(f *testing.F) {
	for _, c := range goldenCases(f) {
		if _, err := os.Stat(filepath.Join(c.dir, "error")); err == nil {
			continue
		}
		f.Add(prometheusYAMLFrom(f, c.input(f)))
	}
	f.Add("")
	f.Add("scrape_configs: []")
	f.Add("scrape_configs:\n- job_name: a\n  relabel_configs: {}\n")
	f.Fuzz(func(t *testing.T, doc string) {
		cm := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: prom-config, namespace: mon}\ndata:\n  prometheus.yml: " + quoteYAML(doc) + "\n"
		in := resourceList(t, []byte(deploy+"---\n"+cm), nil)
		out, err := runFn(in)
		if err != nil {
			if len(out) > 0 {
				assertInputUntouched(t, in, out)
			}
			return
		}
		rl, perr := fn.ParseResourceList(out)
		if perr != nil {
			t.Fatal(perr)
		}
		rl.Results = nil
		again, _ := rl.ToYAML()
		out2, err2 := runFn(again)
		if err2 != nil {
			t.Fatalf("the function fails on its own output: %v", err2)
		}
		if a, b := itemsOnly(t, out), itemsOnly(t, out2); a != b {
			t.Fatalf("a second run changed the output:\n%s", lineDiff(a, b))
		}
	})
}

// quoteYAML writes s as a YAML double-quoted scalar.
func quoteYAML(s string) string {
	var b strings.Builder
	b.WriteString(`"`)
	for _, c := range s {
		switch {
		case c == '\\' || c == '"':
			b.WriteRune('\\')
			b.WriteRune(c)
		case c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == 0xfeff || c == 0x2028 || c == 0x2029:
			fmt.Fprintf(&b, "\\u%04X", c)
		default:
			b.WriteRune(c)
		}
	}
	b.WriteString(`"`)
	return b.String()
}

// prometheusYAMLFrom extracts the first prometheus.yml-like value of a stream.
func prometheusYAMLFrom(t testing.TB, stream []byte) string {
	items, err := checks.Items(stream)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		for k, v := range it.GetDataMap() {
			if strings.HasSuffix(k, ".yml") || strings.HasSuffix(k, ".yaml") {
				if strings.Contains(v, "scrape_configs") {
					return v
				}
			}
		}
	}
	return "scrape_configs: []\n"
}
