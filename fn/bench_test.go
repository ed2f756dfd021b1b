package main

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkProcessHelm runs the whole function on the prometheus-community fixture.
func BenchmarkProcessHelm(b *testing.B) {
	src, err := os.ReadFile(filepath.Join(fixturesDir, "helm-prometheus.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	in := resourceList(b, src, nil)
	b.SetBytes(int64(len(in)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := runFn(in); err != nil {
			b.Fatal(err)
		}
	}
}
