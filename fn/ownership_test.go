package main

import (
	"encoding/base64"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/ownership"
	"github.com/kptdev/krm-functions-sdk/go/fn"
	"sigs.k8s.io/kustomize/kyaml/yaml"
	sigyaml "sigs.k8s.io/yaml"
)

// TestOwnershipSurvivesCommentLoss: on every golden case, the output after a
// round trip that drops every comment and reorders every key (structured
// fields, as kustomize, kubectl and the API server give them back, and the
// scrape configs inside string and base64 values too) is left as it is by a
// re-run; and ambient mode on it takes out every job the ownership record
// names, wherever it lives, without calling any of them the user's, and
// deletes every object it names as created.
func TestOwnershipSurvivesCommentLoss(t *testing.T) {
	t.Parallel()
	for _, c := range goldenCases(t) {
		if c.isError() {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, first, err := c.run(t)
			if err != nil {
				t.Fatalf("the first run failed: %v", err)
			}
			bare := withoutComments(t, first)
			if strings.Contains(bare, "managed by istio-prometheus-mtls") {
				t.Fatal("the round trip kept the job comment")
			}
			again, err := runFn(resourceList(t, []byte(bare), c.config(t)))
			if err != nil {
				t.Fatalf("a re-run on the output without comments failed: %v\n%s", err, resultsOf(t, again))
			}
			if a, b := itemsOnly(t, resourceList(t, []byte(bare), nil)), itemsOnly(t, again); a != b {
				t.Errorf("a re-run changed the output without comments:\n%s", lineDiff(a, b))
			}

			jobs := recordedJobs(t, first)
			amb, err := runFn(resourceList(t, []byte(bare), withMode(t, c.config(t), "ambient")))
			if err != nil {
				t.Fatalf("ambient mode on the output without comments failed: %v\n%s", err, resultsOf(t, amb))
			}
			text := allConfigText(t, amb)
			for _, j := range jobs {
				if regexp.MustCompile(`(?m)job_name:\s*["']?` + regexp.QuoteMeta(j) + `["']?\s*$`).MatchString(text) {
					t.Errorf("ambient mode left job %q, which the record names", j)
				}
			}
			if left := recordedJobs(t, amb); len(left) > 0 {
				t.Errorf("the record still names jobs after ambient mode: %v", left)
			}
			// And every object the function created is gone.
			parsed, err := fn.ParseResourceList(amb)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range records(t, first) {
				for _, ref := range r.Created {
					for _, it := range parsed.Items {
						if it.GetKind()+"/"+it.GetNamespace()+"/"+it.GetName() == ref {
							t.Errorf("ambient mode left %s, which the record says the function created", ref)
						}
					}
				}
			}
			for _, r := range resultsOf(t, amb) {
				for _, j := range jobs {
					if strings.Contains(r, `"`+j+`"`) && strings.Contains(r, "read") {
						t.Errorf("ambient mode calls a job of the function's the user's: %s", r)
					}
				}
			}
		})
	}
}

// withoutComments returns the items of a ResourceList as a YAML stream that
// holds no comment: each item through JSON (keys sorted, as the API server and
// kubectl give them back), and each string or base64 value that holds a scrape
// configuration likewise.
func withoutComments(t *testing.T, rl []byte) string {
	t.Helper()
	parsed, err := fn.ParseResourceList(rl)
	if err != nil {
		t.Fatal(err)
	}
	var docs []string
	for _, it := range parsed.Items {
		if it.GetKind() == "CustomResourceDefinition" {
			// The function reads none (4 of the 5 MB of the kube-prometheus-stack
			// render): left out, the re-runs are quick.
			continue
		}
		var obj any
		if err := sigyaml.Unmarshal([]byte(it.String()), &obj); err != nil {
			t.Fatal(err)
		}
		obj = stripInStrings(obj, "")
		b, err := sigyaml.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	return strings.Join(docs, "---\n")
}

// stripInStrings re-encodes, without comments, every string (or a Secret's
// base64 value, under key "data") that is a YAML document with a job_name.
func stripInStrings(v any, key string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = stripInStrings(e, k)
		}
	case []any:
		for i, e := range x {
			x[i] = stripInStrings(e, "")
		}
	case string:
		if dec, err := base64.StdEncoding.DecodeString(x); err == nil && strings.Contains(string(dec), "job_name") {
			return base64.StdEncoding.EncodeToString([]byte(reencode(string(dec))))
		}
		if strings.Contains(x, "job_name") {
			return reencode(x)
		}
	}
	return v
}

func reencode(doc string) string {
	var obj any
	if err := sigyaml.Unmarshal([]byte(doc), &obj); err != nil || obj == nil {
		return doc
	}
	if _, isString := obj.(string); isString {
		return doc // not a YAML document (an Alloy configuration, say)
	}
	b, err := sigyaml.Marshal(obj)
	if err != nil {
		return doc
	}
	return string(b)
}

// recordedJobs are the jobs the ownership records in a ResourceList's items name.
func recordedJobs(t *testing.T, rl []byte) []string {
	t.Helper()
	var jobs []string
	for _, r := range records(t, rl) {
		jobs = append(jobs, r.Jobs...)
	}
	slices.Sort(jobs)
	return slices.Compact(jobs)
}

// records are the ownership records in a ResourceList's items.
func records(t *testing.T, rl []byte) []ownership.Record {
	t.Helper()
	var out []ownership.Record
	for _, s := range regexp.MustCompile(regexp.QuoteMeta(ownership.Annotation)+`: '([^']*)'`).FindAllStringSubmatch(itemsOnly(t, rl), -1) {
		var r ownership.Record
		if err := json.Unmarshal([]byte(s[1]), &r); err != nil {
			t.Fatalf("record %s: %v", s[1], err)
		}
		out = append(out, r)
	}
	return out
}

// allConfigText is the items of a ResourceList as text, with every base64
// value decoded after it: where a job could be.
func allConfigText(t *testing.T, rl []byte) string {
	t.Helper()
	s := itemsOnly(t, rl)
	var b strings.Builder
	b.WriteString(s)
	for _, m := range regexp.MustCompile(`(?m)^\s+[\w.-]+: ([A-Za-z0-9+/=]{16,})$`).FindAllStringSubmatch(s, -1) {
		if dec, err := base64.StdEncoding.DecodeString(m[1]); err == nil {
			b.WriteString("\n")
			b.Write(dec)
		}
	}
	return b.String()
}

// withMode is a function config with spec.mode (or the flat key mode) set.
func withMode(t *testing.T, config []byte, mode string) []byte {
	t.Helper()
	if len(config) == 0 {
		return []byte(cfg("  mode: " + mode + "\n"))
	}
	n, err := yaml.Parse(string(config))
	if err != nil {
		t.Fatal(err)
	}
	path := []string{"spec"}
	if n.GetKind() == "ConfigMap" {
		path = []string{"data"}
	}
	if err := n.PipeE(yaml.LookupCreate(yaml.MappingNode, path...), yaml.SetField("mode", yaml.NewStringRNode(mode))); err != nil {
		t.Fatal(err)
	}
	return []byte(n.MustString())
}

// resultsOf is the messages of a ResourceList's results.
func resultsOf(t *testing.T, rl []byte) []string {
	t.Helper()
	parsed, err := fn.ParseResourceList(rl)
	if err != nil {
		return []string{string(rl)}
	}
	var out []string
	for _, r := range parsed.Results {
		out = append(out, r.Message)
	}
	return out
}
