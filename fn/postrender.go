package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kptdev/krm-functions-sdk/go/fn"
	"sigs.k8s.io/kustomize/kyaml/kio"
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
	in, err := io.ReadAll(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "istio-prometheus-mtls post-render: reading stdin: %v\n", err)
		return 1
	}
	nodes, err := readStream(in)
	if err != nil {
		fmt.Fprintf(stderr, "istio-prometheus-mtls post-render: the input is not a YAML stream of objects: %v\n", err)
		return 1
	}
	rl, err := wrap(nodes, fc)
	if err != nil {
		fmt.Fprintf(stderr, "istio-prometheus-mtls post-render: %v\n", err)
		return 1
	}
	out, err := fn.Run(fn.ResourceListProcessorFunc(process), rl)
	if err != nil {
		fmt.Fprintf(stderr, "istio-prometheus-mtls post-render: %s\n", summary(out, err))
		return 1
	}
	res, err := fn.ParseResourceList(out)
	if err != nil {
		fmt.Fprintf(stderr, "istio-prometheus-mtls post-render: %v\n", err)
		return 1
	}
	// Each object as the SDK writes it, "---" between them (kio's writer would also
	// clear annotations, and fails on an empty-string annotations field).
	var b strings.Builder
	for i, o := range res.Items {
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(o.Bytes())
	}
	if _, err := io.WriteString(stdout, b.String()); err != nil {
		return 1
	}
	return 0
}

func postRenderConfig(file string, flat map[string]string) (*yaml.RNode, error) {
	if file != "" && len(flat) > 0 {
		return nil, fmt.Errorf("give either --config or key=value settings, not both")
	}
	if file != "" {
		b, err := os.ReadFile(file)
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
	return yaml.FromMap(map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "istio-prometheus-mtls"},
		"data":     toAny(flat),
	})
}

func toAny(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// wrap builds a ResourceList of nodes. It writes the nodes as they are (kio's
// writer reads their annotations, and its accessors panic on malformed metadata,
// which the function must report instead).
func wrap(nodes []*yaml.RNode, fc *yaml.RNode) ([]byte, error) {
	str := func(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: v} }
	items := &yaml.Node{Kind: yaml.SequenceNode}
	for _, n := range nodes {
		items.Content = append(items.Content, n.YNode())
	}
	root := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		str("apiVersion"), str(kio.ResourceListAPIVersion),
		str("kind"), str(kio.ResourceListKind),
		str("items"), items,
	}}
	if fc != nil {
		root.Content = append(root.Content, str("functionConfig"), fc.YNode())
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
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
