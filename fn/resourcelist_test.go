package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/kptdev/krm-functions-sdk/go/fn"
)

// TestWriterIsTheSDKs: the ResourceList written item by item is, byte for byte,
// what the SDK's fn.Run writes, on half the golden cases and the 5 MB render
// (successes and refusals), and on inputs with comments, anchors and odd scalars.
func TestWriterIsTheSDKs(t *testing.T) {
	t.Parallel()
	var ins [][]byte
	for i, c := range goldenCases(t) {
		if i%2 == 0 || c.trimmed() { // half of them, and the 5 MB render
			ins = append(ins, resourceList(t, c.input(t), c.config(t)))
		}
	}
	ins = append(ins,
		[]byte("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n"),
		[]byte("kind: ResourceList\nitems: []\nfunctionConfig: {kind: ConfigMap, data: {mode: ambient}}\n"),
		[]byte("kind: ResourceList\nitems:\n# head of the first\n- kind: A # line\n  metadata: {name: a}\n  # foot of a\n\n# head of b\n- &x kind: B\n  metadata: {name: b}\n  data: {k: \"multi\\nline\\n\", l: |\n      two\n      lines\n    , e: '', n: null, t: ~}\n- kind: C\n  metadata: {name: c}\n  s: [*x, {a: 1}]\n"),
		[]byte("kind: ResourceList\nitems:\n- {kind: Z, metadata: {name: z}}\n- kind: Y\n  metadata: {name: y}\n  spec: {long: \""+strings.Repeat("word ", 60)+"\"}\n"),
	)
	for i, in := range ins {
		want, wantErr := fn.Run(fn.ResourceListProcessorFunc(process), bytes.Clone(in))
		got, _, gotErr := runKRM(bytes.Clone(in))
		if (wantErr == nil) != (gotErr == nil) {
			t.Errorf("input %d: error %v, the SDK's %v", i, gotErr, wantErr)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("input %d: the output differs from the SDK's:\n%s", i, lineDiff(string(want), string(got)))
		}
	}
}

// TestChunkedParseIsTheSDKs: the items parsed in runs give the list the SDK's
// parser gives, on every golden case cut as finely as it can be, and on
// inputs it must give up on (an alias across runs, comments at a cut, items
// indented) with the same result through the SDK.
func TestChunkedParseIsTheSDKs(t *testing.T) {
	t.Parallel()
	var ins [][]byte
	for _, c := range goldenCases(t) {
		ins = append(ins, resourceList(t, c.input(t), c.config(t)))
	}
	item := func(i int) string { return fmt.Sprintf("- kind: A\n  metadata: {name: a%d}\n  data: {k: v}\n", i) }
	var many strings.Builder
	for i := range 3000 {
		many.WriteString(item(i))
	}
	ins = append(ins,
		[]byte("kind: ResourceList\nitems:\n"+many.String()+"functionConfig: {kind: ConfigMap, data: {mode: ambient}}\n"),
		[]byte("kind: ResourceList\nitems:\n- &x {kind: A, metadata: {name: a}}\n"+many.String()+"- kind: B\n  metadata: {name: b}\n  copy: *x\n"),
		[]byte("kind: ResourceList\nitems:\n"+strings.ReplaceAll(many.String(), "- kind: A\n", "# a comment\n- kind: A\n")),
		[]byte("kind: ResourceList\nitems:\n"+strings.ReplaceAll(many.String(), "\n", "\n  ")),
		[]byte("kind: ResourceList\nitems:\n"+many.String()+"# trailing\n"),
	)
	golden := len(ins) - 5 // the goldens first: some are cut, some are not
	giveUp := map[int]bool{len(ins) - 4: true, len(ins) - 3: true, len(ins) - 2: true, len(ins) - 1: true}
	parsed := 0
	for i, in := range ins {
		want, werr := fn.ParseResourceList(in)
		got, ok := parseChunked(in)
		if i >= golden && ok == giveUp[i] {
			t.Errorf("input %d: parsed in runs %v, want %v", i, ok, !giveUp[i])
		}
		if !ok {
			continue // the SDK parses it
		}
		parsed++
		if werr != nil {
			t.Errorf("input %d: parsed in runs, but the SDK refuses it: %v", i, werr)
			continue
		}
		a, _ := want.ToYAML()
		b, _ := got.ToYAML()
		if !bytes.Equal(a, b) {
			t.Errorf("input %d: parsed in runs, the list differs from the SDK's:\n%s", i, lineDiff(string(a), string(b)))
		}
	}
	if parsed < golden/2 {
		t.Errorf("only %d of %d inputs parsed in runs", parsed, len(ins))
	}
}
