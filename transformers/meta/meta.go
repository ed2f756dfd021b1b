// Package meta reads and writes the labels and annotations of an object or pod
// template (a node with a metadata mapping) in place, as the function's other
// packages need them: keeping the user's quoting and the order of ObjectMeta.
package meta

import (
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Get returns the value of key k in the map at path (metadata.labels or
// .annotations) and whether it is there.
func Get(template *yaml.RNode, path []string, k string) (string, bool) {
	n, err := template.Pipe(yaml.Lookup(append(append([]string{}, path...), k)...))
	if err != nil || n == nil {
		return "", false
	}
	return yaml.GetValue(n), true
}

// Delete removes key k of the map at path.
func Delete(template *yaml.RNode, path []string, k string) error {
	m, err := template.Pipe(yaml.Lookup(path...))
	if err != nil || m == nil {
		return err
	}
	_, err = m.Pipe(yaml.Clear(k))
	return err
}

// Set sets key k of the map at path (metadata.labels or .annotations) to v, with
// kyaml's field setter. kyaml's label and annotation setters single-quote every
// value, and the user's text is to stay: Set keeps the node when the value does
// not change, keeps the comments of a value it replaces, writes a new string
// plain unless it reads as JSON, turns a null map into an empty one, and creates
// labels before annotations.
func Set(template *yaml.RNode, path []string, k, v string) error {
	// `labels:` with nothing after it (as templates often render) is an empty map.
	if n, _ := template.Pipe(yaml.Lookup(path...)); n != nil && n.YNode().Kind == yaml.ScalarNode &&
		(n.YNode().ShortTag() == yaml.NodeTagNull || n.YNode().Value == "") {
		*n.YNode() = yaml.Node{Kind: yaml.MappingNode}
	}
	labelsFirst(template, path)
	m, err := template.Pipe(yaml.LookupCreate(yaml.MappingNode, path...))
	if err != nil {
		return krmerr.Errorf(strings.Join(path, "."), "%v", err)
	}
	if m.YNode().Kind != yaml.MappingNode {
		return krmerr.Errorf(strings.Join(path, "."), "must be a mapping")
	}
	f := m.Field(k)
	if f != nil && f.Value.YNode().Kind == yaml.ScalarNode && f.Value.YNode().Value == v {
		return nil // keep the user's quoting
	}
	node := yaml.NewStringRNode(v)
	if strings.HasPrefix(v, "{") || strings.HasPrefix(v, "[") {
		node.YNode().Style = yaml.SingleQuotedStyle // JSON reads best unescaped
	}
	if f != nil { // the comments on the line replaced stay
		old := f.Value.YNode()
		node.YNode().LineComment, node.YNode().HeadComment, node.YNode().FootComment = old.LineComment, old.HeadComment, old.FootComment
	}
	return m.PipeE(yaml.SetField(k, node))
}

// labelsFirst creates a missing metadata.labels in front of metadata.annotations,
// where ObjectMeta has it, so that labels undone and added again by a later run
// (a caller undoing its own metadata edits first) come back where they were.
func labelsFirst(template *yaml.RNode, path []string) {
	if len(path) != 2 || path[1] != "labels" {
		return
	}
	meta, _ := template.Pipe(yaml.Lookup(path[0]))
	if meta == nil || meta.YNode().Kind != yaml.MappingNode || meta.Field("labels") != nil {
		return
	}
	c := meta.YNode().Content
	for i := 0; i+1 < len(c); i += 2 {
		if c[i].Value == "annotations" {
			labels := []*yaml.Node{{Kind: yaml.ScalarNode, Value: "labels"}, {Kind: yaml.MappingNode}}
			meta.YNode().Content = append(c[:i:i], append(labels, c[i:]...)...)
			return
		}
	}
}
