package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kptdev/krm-functions-sdk/go/fn"
)

// TestWriterIsTheSDKs: the ResourceList written item by item is, byte for byte,
// what the SDK's fn.Run writes, on every golden case (successes, refusals, the
// large render) and on inputs with comments, anchors and odd scalars.
func TestWriterIsTheSDKs(t *testing.T) {
	t.Parallel()
	var ins [][]byte
	for _, c := range goldenCases(t) {
		ins = append(ins, resourceList(t, c.input(t), c.config(t)))
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
