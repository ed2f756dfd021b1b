// Package floor measures where a no-op KRM function's time goes on a 10,000-item
// list (parse, sort, print), and what a design that leaves unrelated items
// unparsed would cost. Run: go test -bench . ./bench/floor
package floor

import (
	"bytes"
	"os/exec"
	"regexp"
	"testing"

	"github.com/kptdev/krm-functions-sdk/go/fn"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

func input(b *testing.B, n string) []byte {
	out, err := exec.Command("go", "run", "../gen", "-n", n).Output()
	if err != nil {
		b.Fatal(err)
	}
	return out
}

func BenchmarkNoopPhases(b *testing.B) {
	in := input(b, "10000")
	b.Run("parse", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := fn.ParseResourceList(in); err != nil {
				b.Fatal(err)
			}
		}
	})
	rl, _ := fn.ParseResourceList(in)
	b.Run("sort", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			items := append(fn.KubeObjects{}, rl.Items...)
			for j := len(items) - 1; j > 0; j -= 7 { // unsort a little
				items[j], items[j/2] = items[j/2], items[j]
			}
			r := fn.ResourceList{Items: items}
			r.Sort()
		}
	})
	b.Run("print", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := rl.ToYAML(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

var (
	kindLine = regexp.MustCompile(`(?m)^  kind: (Deployment|StatefulSet|DaemonSet|ConfigMap|Secret|Prometheus|PrometheusAgent)$`)
	// What selection looks for first: a prometheus image or --config.file, or the
	// name of the ConfigMap it then needs.
	promLine = regexp.MustCompile(`prometheus|config\.file`)
)

// BenchmarkLazy splits items.[] at the byte level and parses only the items the
// function could touch; everything else would be copied out verbatim. "kinds"
// parses every item of a kind it edits; "candidates" only those that mention
// prometheus (the workload and its ConfigMap).
func BenchmarkLazy(b *testing.B) {
	in := input(b, "10000")
	b.Run("kinds", func(b *testing.B) { lazy(b, in, kindLine) })
	b.Run("candidates", func(b *testing.B) { lazy(b, in, promLine) })
}

func lazy(b *testing.B, in []byte, want *regexp.Regexp) {
	b.SetBytes(int64(len(in)))
	for i := 0; i < b.N; i++ {
		body := in[bytes.Index(in, []byte("\nitems:\n"))+8:]
		parsed := 0
		for len(body) > 0 {
			next := bytes.Index(body[2:], []byte("\n- "))
			var item []byte
			if next < 0 {
				item, body = body, nil
			} else {
				item, body = body[:next+3], body[next+3:]
			}
			if want.Match(item) {
				if _, err := yaml.Parse(string(bytes.ReplaceAll(item[2:], []byte("\n  "), []byte("\n")))); err != nil {
					b.Fatal(err)
				}
				parsed++
			}
		}
		if parsed == 0 {
			b.Fatal("nothing parsed")
		}
	}
}
