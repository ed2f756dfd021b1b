package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/kinds"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/operator"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/splice"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/stream"
	"github.com/kptdev/krm-functions-sdk/go/fn"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// postRender is the Helm post-renderer contract: a multi-document YAML stream on
// stdin, the transformed stream on stdout, non-zero exit on error. The function
// config comes from --config FILE or key=value flat keys (as with kpt).
func postRender(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var configFile string
	flat := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--config" || a == "-c":
			if i+1 >= len(args) {
				fmt.Fprintln(stderr, "istio-prometheus-mtls post-render: --config needs a file")
				return 2
			}
			i++
			configFile = args[i]
		case strings.HasPrefix(a, "--config="):
			configFile = strings.TrimPrefix(a, "--config=")
		case strings.Contains(a, "=") && !strings.HasPrefix(a, "-"):
			k, v, _ := strings.Cut(a, "=")
			flat[k] = v
		default:
			fmt.Fprintf(stderr, "istio-prometheus-mtls post-render: unknown argument %q (usage: post-render [--config FILE] [key=value ...])\n", a)
			return 2
		}
	}
	fc, err := postRenderConfig(configFile, flat)
	if err != nil {
		fmt.Fprintf(stderr, "istio-prometheus-mtls post-render: %v\n", err)
		return 2
	}
	in, err := readLimited(stdin, maxInput, "stdin")
	if err != nil {
		fmt.Fprintf(stderr, "istio-prometheus-mtls post-render: %v\n", err)
		return 1
	}
	limitMemory(len(in))
	write, err := renderStream(in, fc, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "istio-prometheus-mtls post-render: %v\n", err)
		return 1
	}
	w := bufio.NewWriterSize(stdout, 64<<10)
	err = write(w)
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		fmt.Fprintf(stderr, "istio-prometheus-mtls post-render: writing stdout: %v\n", err)
		return 1
	}
	return 0
}

// Kinds whose documents post-render parses: what selection and the operator
// support read. ConfigMaps and Secrets are parsed only when a parsed document
// names them (a workload mounts them by name; a Prometheus references its
// additionalScrapeConfigs Secret by name) or the config does.
var (
	parsedKinds     = map[string]bool{"Namespace": true}
	referencedKinds = map[string]bool{"ConfigMap": true, "Secret": true}
)

func init() {
	for _, k := range append(kinds.Selectable(), operator.MonitorKinds()...) {
		parsedKinds[k] = true
	}
}

// renderStream runs the function on the documents of a Helm render that can
// matter to it. On success it returns the writer of the output, which writes every
// other document back byte for byte, in its place: edited documents stay where
// they were (with their "---" and "# Source:" lines), created ones are appended.
// Nothing is written on error.
func renderStream(in []byte, fc *yaml.RNode, stderr io.Writer) (func(io.Writer) error, error) {
	docs := stream.Split(in)
	parsed, err := parseDocs(docs, chooseDocs(docs, fc))
	if err != nil {
		return nil, err
	}
	items, results, err := runOn(parsed.nodes, fc, stderr)
	if err != nil {
		return nil, err
	}
	return parsed.writer(items, results), nil
}

// chooseDocs tells which documents to parse: those of parsedKinds, those whose
// kind cannot be read from the text, and the ConfigMaps and Secrets whose name a
// parsed document or the config holds (or whose name cannot be read).
func chooseDocs(docs []stream.Doc, fc *yaml.RNode) []bool {
	parse := make([]bool, len(docs))
	kinds := make([]string, len(docs)) // read once: the text of a CRD runs to a megabyte
	var needles [][]byte
	for i, d := range docs {
		kind, ok := d.TopLevel("kind")
		kinds[i] = kind
		if !d.Empty() && (!ok || parsedKinds[kind]) {
			parse[i] = true
			needles = append(needles, d.Body)
		}
	}
	if fc != nil {
		if b, err := fc.MarshalJSON(); err == nil {
			needles = append(needles, b)
		}
	}
	for i, d := range docs {
		if parse[i] || d.Empty() || !referencedKinds[kinds[i]] {
			continue
		}
		name, ok := d.MetadataName()
		parse[i] = !ok || slices.ContainsFunc(needles, func(b []byte) bool { return bytes.Contains(b, []byte(name)) })
	}
	return parse
}

// parsedStream is a stream with some of its documents parsed: which document
// each node came from, and each parsed document's nodes in order.
type parsedStream struct {
	docs     []stream.Doc
	nodes    []*yaml.Node
	from     map[*yaml.Node]int
	docNodes map[int][]*yaml.Node
}

func parseDocs(docs []stream.Doc, parse []bool) (*parsedStream, error) {
	p := &parsedStream{docs: docs, from: map[*yaml.Node]int{}, docNodes: map[int][]*yaml.Node{}}
	for i, d := range docs {
		if !parse[i] {
			continue
		}
		ns, err := readStream(d.Body)
		if err != nil {
			return nil, fmt.Errorf("the input is not a YAML stream of objects: document %d: %v", i+1, err)
		}
		for _, n := range ns {
			p.from[n.YNode()] = i
			p.docNodes[i] = append(p.docNodes[i], n.YNode())
			p.nodes = append(p.nodes, n.YNode())
		}
	}
	return p, nil
}

// runOn runs the function on nodes; the first error result is the error, the
// info and warning results go to stderr. It returns the output items and the
// results about each resource, by its identity.
func runOn(nodes []*yaml.Node, fc *yaml.RNode, stderr io.Writer) ([]*yaml.Node, map[krmerr.Ref][]string, error) {
	rl := &fn.ResourceList{}
	for _, n := range nodes {
		rl.Items = append(rl.Items, fn.MoveToKubeObject(yaml.NewRNode(n)))
	}
	if fc != nil {
		rl.FunctionConfig = fn.MoveToKubeObject(fc)
	}
	ok, err := process(rl)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range rl.Results {
		if r.Severity == fn.Error {
			return nil, nil, errors.New(strings.ReplaceAll(r.String(), "\n", " "))
		}
	}
	if !ok {
		return nil, nil, errors.New("the function failed")
	}
	about := map[krmerr.Ref][]string{}
	for _, r := range rl.Results {
		// One line a result; a result of several lines (the jobs to paste) has
		// its lines after the first indented.
		fmt.Fprintf(stderr, "istio-prometheus-mtls post-render: %s\n", strings.ReplaceAll(r.String(), "\n", "\n  "))
		if ref := r.ResourceRef; ref != nil {
			id := krmerr.Ref{APIVersion: ref.APIVersion, Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name}
			about[id] = append(about[id], string(r.Severity)+": "+r.Message)
		}
	}
	out := make([]*yaml.Node, 0, len(rl.Items))
	for _, it := range rl.Items {
		out = append(out, it.MoveToResourceNode().YNode())
	}
	return out, about, nil
}

// withoutResults drops the result lines of an earlier post-render from a
// document's prefix: an edited document gets this run's.
func withoutResults(prefix []byte) []byte {
	var out []byte
	for line := range bytes.Lines(prefix) {
		if !bytes.HasPrefix(line, []byte(resultPrefix)) {
			out = append(out, line...)
		}
	}
	return out
}

// resultPrefix starts each result line resultComment writes.
const resultPrefix = "# istio-prometheus-mtls "

// resultComment is the head of an edited or created document: its results, for
// Helm users (Helm 4 drops a post-renderer plugin's stderr; helm template and
// helm get manifest show these lines).
func resultComment(results []string) []byte {
	var b bytes.Buffer
	for _, r := range results {
		// A result of several lines (the jobs to paste) stays in the comment.
		for i, line := range strings.Split(r, "\n") {
			if i > 0 {
				line = "  " + line
			}
			b.WriteString(resultPrefix + line + "\n")
		}
	}
	return b.Bytes()
}

// writer writes the stream with the function's items in it. An item that is a node
// of the input came through untouched: its document is written as it was. Edited
// items are copies: they take the place of the object of the same identity, and
// that document is rendered again. Other items were created: they are appended.
func (p *parsedStream) writer(items []*yaml.Node, results map[krmerr.Ref][]string) func(io.Writer) error {
	byID := map[krmerr.Ref]*yaml.Node{}
	for _, n := range p.nodes {
		byID[*krmerr.RefOf(yaml.NewRNode(n))] = n
	}
	replaced := map[*yaml.Node]*yaml.Node{} // input node -> its edited copy
	original := map[*yaml.Node]*yaml.Node{} // the edited copy of a document's only object -> that object
	edited := map[int]bool{}
	kept := map[*yaml.Node]bool{}
	var created []*yaml.Node
	for _, n := range items {
		if _, same := p.from[n]; same {
			kept[n] = true
			continue
		}
		if orig, ok := byID[*krmerr.RefOf(yaml.NewRNode(n))]; ok {
			replaced[orig], edited[p.from[orig]], kept[orig] = n, true, true
			if len(p.docNodes[p.from[orig]]) == 1 {
				original[n] = orig
			}
		} else {
			created = append(created, n)
		}
	}
	// An input object the function deleted (a Secret it had created) leaves its
	// document; a document left with no object goes whole, prefix and all.
	for _, n := range p.nodes {
		if !kept[n] {
			edited[p.from[n]] = true
		}
	}
	render := func(n *yaml.Node) []byte {
		return append(resultComment(results[*krmerr.RefOf(yaml.NewRNode(n))]), p.text(n, original[n])...)
	}
	return func(w io.Writer) error {
		var err error
		last := byte('\n')
		put := func(b []byte) {
			if err == nil && len(b) > 0 {
				_, err = w.Write(b)
				last = b[len(b)-1]
			}
		}
		for i, d := range p.docs {
			if !edited[i] {
				put(d.Prefix)
				put(d.Body)
				continue
			}
			k := 0
			for _, n := range p.docNodes[i] {
				if !kept[n] {
					continue
				}
				if r, ok := replaced[n]; ok {
					n = r
				}
				if k == 0 {
					put(withoutResults(d.Prefix))
				} else {
					put([]byte("---\n"))
				}
				put(render(n))
				k++
			}
		}
		for _, n := range created {
			if last != '\n' {
				put([]byte("\n"))
			}
			put([]byte("---\n"))
			put(render(n))
		}
		return err
	}
}

// text is the body of the document of an edited or created object n. An edited
// object goes back into its own text (orig is the object it was parsed as):
// every line the edit left alone stays as it was, so helm diff shows only the
// edit. Where that cannot be proven, or n was created, n is rendered.
func (p *parsedStream) text(n, orig *yaml.Node) []byte {
	if orig != nil {
		if text, ok := splice.Patch(string(p.docs[p.from[orig]].Body), orig, n); ok {
			return []byte(text)
		}
	}
	body := []byte(fn.MoveToKubeObject(yaml.NewRNode(n)).String())
	// An earlier post-render's result lines (a render piped through twice)
	// give way to this run's.
	for bytes.HasPrefix(body, []byte(resultPrefix)) {
		_, body, _ = bytes.Cut(body, []byte("\n"))
	}
	return body
}

func postRenderConfig(file string, flat map[string]string) (*yaml.RNode, error) {
	if file != "" && len(flat) > 0 {
		return nil, fmt.Errorf("give either --config or key=value settings, not both")
	}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		b, err := readLimited(f, maxConfigFile, file)
		if err != nil {
			return nil, err
		}
		n, err := yaml.Parse(string(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %v", file, err)
		}
		return n, nil
	}
	if len(flat) == 0 {
		return nil, nil
	}
	cm, err := yaml.FromMap(map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "istio-prometheus-mtls"},
	})
	if err != nil {
		return nil, err
	}
	// The values stay the strings given: config reads the data as text.
	return cm, cm.PipeE(yaml.SetField("data", yaml.NewMapRNode(&flat)))
}

// readStream decodes a multi-document YAML stream into its objects as they are
// (kio's reader would turn a null field such as `labels:` into an empty string).
func readStream(in []byte) ([]*yaml.RNode, error) {
	dec := yaml.NewDecoder(bytes.NewReader(in))
	var nodes []*yaml.RNode
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err == io.EOF {
			return nodes, nil
		}
		if err != nil {
			return nil, err
		}
		if len(doc.Content) == 0 || (doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].ShortTag() == yaml.NodeTagNull) {
			continue // an empty document between two ---
		}
		if doc.Content[0].Kind != yaml.MappingNode {
			return nil, fmt.Errorf("document %d is not an object", len(nodes)+1)
		}
		nodes = append(nodes, yaml.NewRNode(doc.Content[0]))
	}
}
