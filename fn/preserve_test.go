package main

import (
	"strings"
	"testing"
)

// TestOnlyOurLinesChange: in prometheus.yml, the output minus our job and our drop
// rules is the user's text, byte for byte (comments, spacing, quoting, order).
func TestOnlyOurLinesChange(t *testing.T) {
	for _, name := range []string{"commented-config", "istio-addon-1.28", "helm-1.28", "kustomize-renamed", "configmap-fnconfig", "istio-addon-revision"} {
		t.Run(name, func(t *testing.T) {
			c := goldenCase{name, "../testdata/" + name}
			before := prometheusYAMLFrom(t, c.input(t))
			after := prometheusYAML(t, name)
			if got := withoutOurs(after); got != before {
				t.Errorf("besides our job and drop rules, prometheus.yml changed:\n%s", lineDiff(before, got))
			}
		})
	}
}

// withoutOurs removes the blocks this function writes: jobs marked as ours and
// the drop rules headed by our comments.
func withoutOurs(doc string) string {
	ls := strings.SplitAfter(doc, "\n")
	var out []string
	for i := 0; i < len(ls); i++ {
		l := ls[i]
		trimmed := strings.TrimSpace(l)
		start := -1
		switch {
		case strings.HasPrefix(trimmed, "- job_name:") && strings.Contains(l, "managed by istio-prometheus-mtls"):
			start = i
		case strings.HasPrefix(trimmed, "# istio-prometheus-mtls:") && i+1 < len(ls):
			start = i + 1
		}
		if start < 0 {
			out = append(out, l)
			continue
		}
		// Skip the block: every following line indented deeper than its "- ".
		depth := len(ls[start]) - len(strings.TrimLeft(ls[start], " "))
		j := start + 1
		for j < len(ls) && strings.TrimSpace(ls[j]) != "" && len(ls[j])-len(strings.TrimLeft(ls[j], " ")) > depth {
			j++
		}
		i = j - 1
	}
	return strings.Join(out, "")
}
