package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/yamlnode"
	"github.com/kptdev/krm-functions-sdk/go/fn"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Limits on what the function reads, checked before any parser sees the bytes.
const (
	// maxInput bounds a ResourceList or Helm stream on stdin: 25 times the
	// largest chart render we know (kube-prometheus-stack with its CRDs, 5 MB),
	// and well below what would exhaust the machine running the function.
	maxInput = 128 << 20
	// maxConfigFile bounds post-render's --config file: a function config is a
	// few hundred bytes.
	maxConfigFile = 1 << 20
)

// readLimited reads r to its end, refusing more than limit bytes.
func readLimited(r io.Reader, limit int64, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %v", what, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d MiB, more than this function reads", what, limit>>20)
	}
	return b, nil
}

// runKRM is the KRM function contract on one ResourceList: the SDK's parser and
// the processor, then the list written item by item (writeResourceList). The
// SDK's fn.Run encodes the whole list as one YAML document, whose emitter keeps
// every event of it: 2.2 GB for 10 MB of input. The output is the same bytes.
func runKRM(in []byte) ([]byte, *fn.ResourceList, error) {
	rl, err := parseResourceList(in)
	if err != nil {
		return nil, nil, err
	}
	ok, err := process(rl)
	var out bytes.Buffer
	out.Grow(len(in) + len(in)/8)
	if werr := writeResourceList(&out, rl); werr != nil {
		return nil, rl, werr
	}
	if err == nil && !ok {
		err = errors.New("error: function failure")
	}
	return out.Bytes(), rl, err
}

// parseResourceList reads a ResourceList as the SDK's fn.ParseResourceList
// does. A large one (chunkedFrom and more) whose items are a block sequence at
// the left margin is parsed in pieces side by side (parseChunked); anything
// else, or any piece that does not parse on its own, goes to the SDK whole.
func parseResourceList(in []byte) (*fn.ResourceList, error) {
	if len(in) >= chunkedFrom {
		if rl, ok := parseChunked(in); ok {
			return rl, nil
		}
	}
	rl, err := fn.ParseResourceList(in)
	if err != nil {
		return nil, explainParse(in, err)
	}
	return rl, nil
}

// chunkedFrom is the input size from which parseChunked is tried: below it,
// one decoder is as fast (TestChunkedParseIsTheSDKs calls parseChunked itself).
const chunkedFrom = 1 << 20

// parseChunked parses the ResourceList in with its items cut into runs of
// whole items, each parsed by its own decoder side by side; the rest of the
// list (kind, functionConfig, results) goes to the SDK. It cuts only before an
// item line ("- " at the left margin) that follows a line of content, so no
// comment or blank line stands at a cut, and gives up (false) on anything it
// cannot cut so: items not a block sequence at the margin, comments or blank
// lines at the ends of the items, an alias to an anchor in another run (its
// run then fails to parse), a run that is not one sequence of mappings.
func parseChunked(in []byte) (*fn.ResourceList, bool) {
	lines := bytes.SplitAfter(in, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1] // after the last newline
	}
	start := -1
	for i, l := range lines {
		if string(bytes.TrimRight(l, " \n")) == "items:" {
			if start >= 0 {
				return nil, false
			}
			start = i + 1
		}
	}
	if start < 0 || start >= len(lines) || !bytes.HasPrefix(lines[start], []byte("- ")) {
		return nil, false
	}
	end := start // the items' lines are [start, end)
	for end < len(lines) {
		l := lines[end]
		if len(l) > 0 && l[0] != ' ' && l[0] != '-' && l[0] != '\n' && l[0] != '#' {
			break // the next key of the list
		}
		end++
	}
	if last := bytes.TrimSpace(lines[end-1]); len(last) == 0 || last[0] == '#' {
		return nil, false
	}
	for _, l := range lines[end:] {
		if bytes.HasPrefix(l, []byte("---")) || bytes.HasPrefix(l, []byte("...")) {
			return nil, false
		}
	}
	// The cuts: item lines after a line of content, about size bytes apart.
	size := max(len(in)/(4*runtime.GOMAXPROCS(0)), 64<<10)
	cuts := []int{start}
	n := 0
	for i := start; i < end; i++ {
		if n >= size && bytes.HasPrefix(lines[i], []byte("- ")) {
			if prev := bytes.TrimSpace(lines[i-1]); len(prev) > 0 && prev[0] != '#' {
				cuts, n = append(cuts, i), 0
			}
		}
		n += len(lines[i])
	}
	cuts = append(cuts, end)

	rest := slices.Concat(slices.Concat(lines[:start-1]...), slices.Concat(lines[end:]...))
	rl, err := fn.ParseResourceList(rest)
	if err != nil || len(rl.Items) > 0 {
		return nil, false
	}
	runs := make([][]*yaml.Node, len(cuts)-1)
	ok := make([]bool, len(runs))
	var wg sync.WaitGroup
	for r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runs[r], ok[r] = parseItems(slices.Concat(lines[cuts[r]:cuts[r+1]]...))
		}()
	}
	wg.Wait()
	if slices.Contains(ok, false) {
		return nil, false
	}
	for _, items := range runs {
		for _, n := range items {
			rl.Items = append(rl.Items, fn.MoveToKubeObject(yaml.NewRNode(n)))
		}
	}
	return rl, true
}

// parseItems decodes b, a run of items, as one YAML document holding a
// sequence of mappings.
func parseItems(b []byte) ([]*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil || len(doc.Content) != 1 || doc.HeadComment != "" || doc.FootComment != "" {
		return nil, false
	}
	if dec.Decode(new(yaml.Node)) != io.EOF {
		return nil, false
	}
	seq := doc.Content[0]
	if seq.Kind != yaml.SequenceNode || seq.HeadComment != "" || seq.FootComment != "" || seq.LineComment != "" {
		return nil, false
	}
	for _, it := range seq.Content {
		if it.Kind != yaml.MappingNode {
			return nil, false
		}
	}
	return seq.Content, true
}

// writeResourceList writes rl as the SDK's ResourceList.ToYAML does (items sorted
// by apiVersion, kind, namespace and name; kyaml's encoder), but encodes each item
// on its own, as the one element of a sequence: the text an element has in the
// list, with the emitter's memory bounded by the largest item.
func writeResourceList(w *bytes.Buffer, rl *fn.ResourceList) error {
	sortItems(rl.Items)
	head := "apiVersion: " + kio.ResourceListAPIVersion + "\nkind: " + kio.ResourceListKind + "\n"
	w.WriteString(head)
	if len(rl.Items) > 0 {
		w.WriteString("items:\n")
		if err := encodeItems(w, rl.Items); err != nil {
			return err
		}
	}
	// The function config and the results are small: the SDK writes them.
	rest := &fn.ResourceList{FunctionConfig: rl.FunctionConfig, Results: rl.Results}
	if rest.FunctionConfig == nil {
		rest.FunctionConfig = fn.NewEmptyKubeObject()
	}
	b, err := rest.ToYAML()
	if err != nil {
		return err
	}
	// Past its apiVersion and kind lines, the same text the whole list would have.
	w.Write(bytes.TrimPrefix(b, []byte(head)))
	return nil
}

// sortItems sorts items as the SDK's ResourceList.Sort does, with the same
// sort.Sort over the same keys (so the same order, ties included), each key
// made once rather than on every comparison.
func sortItems(items fn.KubeObjects) {
	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = fmt.Sprintf("%s %s %s %s", it.GetAPIVersion(), it.GetKind(), it.GetNamespace(), it.GetName())
	}
	sort.Sort(byKey{items, keys})
}

type byKey struct {
	items fn.KubeObjects
	keys  []string
}

func (s byKey) Len() int           { return len(s.items) }
func (s byKey) Less(i, j int) bool { return s.keys[i] < s.keys[j] }
func (s byKey) Swap(i, j int) {
	s.items[i], s.items[j] = s.items[j], s.items[i]
	s.keys[i], s.keys[j] = s.keys[j], s.keys[i]
}

// encodeItems writes each item as the one element of a sequence, in order. The
// items are independent, so runtime.GOMAXPROCS workers encode runs of them side
// by side into buffers of their own, written out in order.
func encodeItems(w *bytes.Buffer, items fn.KubeObjects) error {
	const run = 256 // items per piece of work
	pieces := make([]bytes.Buffer, (len(items)+run-1)/run)
	errs := make([]error, len(pieces))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(pieces)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range next {
				for _, it := range items[p*run : min((p+1)*run, len(items))] {
					n := it.MoveToResourceNode().YNode()
					if err := encode(&pieces[p], &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{n}}); err != nil {
						errs[p] = err
						break
					}
				}
			}
		}()
	}
	for p := range pieces {
		next <- p
	}
	close(next)
	wg.Wait()
	for p := range pieces {
		if errs[p] != nil {
			return errs[p]
		}
		w.Write(pieces[p].Bytes())
		pieces[p] = bytes.Buffer{}
	}
	return nil
}

func encode(w io.Writer, n *yaml.Node) error {
	e := yaml.NewEncoder(w)
	if err := e.Encode(n); err != nil {
		return err
	}
	return e.Close()
}

// explainParse turns the SDK's parse error into a sentence about the input: the
// SDK names its own Go types ("wrong type, got: *internal.scalarVariant",
// "unhandled node kind 8").
func explainParse(in []byte, err error) error {
	if len(bytes.TrimSpace(in)) == 0 {
		return errors.New("the input is empty: a KRM function reads a ResourceList on stdin (as kpt and kustomize send it)")
	}
	root, perr := yaml.Parse(string(in))
	if perr != nil {
		return fmt.Errorf("the input is not valid YAML: %s", krmerr.Clip(perr.Error()))
	}
	if root.YNode().Kind != yaml.MappingNode {
		return fmt.Errorf("the input is a YAML %s, not a ResourceList (a mapping with kind: ResourceList)", yamlnode.KindWord(root.YNode()))
	}
	if k := root.GetKind(); k != kio.ResourceListKind {
		return fmt.Errorf("the input's kind is %q, not ResourceList: a KRM function reads a ResourceList (as kpt and kustomize send it); for a Helm stream, run it as `post-render`", krmerr.Clip(k))
	}
	for _, f := range []struct {
		name string
		kind yaml.Kind
	}{{"functionConfig", yaml.MappingNode}, {"items", yaml.SequenceNode}} {
		v := yamlnode.Field(root.YNode(), f.name)
		if v == nil || v.ShortTag() == yaml.NodeTagNull {
			continue
		}
		if v = yamlnode.Deref(v); v.Kind != f.kind {
			return fmt.Errorf("the ResourceList's %s must be a %s, got a %s", f.name, yamlnode.KindWord(&yaml.Node{Kind: f.kind}), yamlnode.KindWord(v))
		}
		if f.name == "items" {
			for i, it := range v.Content {
				if it = yamlnode.Deref(it); it.Kind != yaml.MappingNode {
					return fmt.Errorf("the ResourceList's items[%d] must be a mapping (a Kubernetes object), got a %s", i, yamlnode.KindWord(it))
				}
			}
		}
	}
	// Something else the SDK refused: its words, without its Go type names.
	msg := err.Error()
	if i := strings.Index(msg, ", got: *"); i >= 0 {
		msg = msg[:i]
	}
	return fmt.Errorf("the input is not a ResourceList this function can read: %s", krmerr.Clip(msg))
}
