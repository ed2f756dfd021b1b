package main

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeterminism: the same input gives byte-identical output, whatever the order
// of the items. Each case is shuffled four times; the cases on the 5 MB
// kube-prometheus-stack render (a file "trimmed") once, and only the first of
// them: they differ in the config, not in the order there is to shuffle.
func TestDeterminism(t *testing.T) {
	t.Parallel()
	bigDone := false
	for _, c := range goldenCases(t) {
		shuffles := 4
		if c.trimmed() {
			if bigDone {
				continue
			}
			bigDone, shuffles = true, 1
		}
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			want, err := os.ReadFile(filepath.Join(c.dir, "expected.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			docs := splitDocs(c.input(t))
			rng := rand.New(rand.NewSource(int64(len(docs))))
			for i := 0; i < shuffles; i++ {
				rng.Shuffle(len(docs), func(a, b int) { docs[a], docs[b] = docs[b], docs[a] })
				in := resourceList(t, []byte(strings.Join(docs, "---\n")), c.config(t))
				out, _ := runFn(in)
				if out = c.view(t, in, out); !bytes.Equal(out, want) {
					t.Fatalf("shuffle %d changed the output:\n%s", i, lineDiff(string(want), string(out)))
				}
			}
		})
	}
}

func splitDocs(stream []byte) []string {
	var docs []string
	for _, d := range strings.Split("\n"+string(stream), "\n---") {
		if strings.TrimSpace(d) != "" {
			docs = append(docs, strings.TrimRight(strings.TrimPrefix(d, "\n"), "\n")+"\n")
		}
	}
	return docs
}
