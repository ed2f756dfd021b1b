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
// of the items.
func TestDeterminism(t *testing.T) {
	for _, c := range goldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(c.dir, "expected.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			docs := splitDocs(c.input(t))
			rng := rand.New(rand.NewSource(int64(len(docs))))
			for i := 0; i < 4; i++ {
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
