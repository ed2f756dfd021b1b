// Package datakey reads and writes one key of a ConfigMap or Secret: a
// ConfigMap's data, a Secret's stringData (plain text) or data (base64). A value
// is written back in the form it was read in, and its field path (data.KEY or
// stringData.KEY) is known in one place.
package datakey

import (
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/yamlnode"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Form is how a value is stored in its object.
type Form int

const (
	Plain  Form = iota // ConfigMap data, Secret stringData, or a string field
	Base64             // Secret data
	Object             // a YAML mapping in place (OpenTelemetryCollector spec.config)
)

// Key is one key of a ConfigMap or Secret, or one field of another resource
// (Path), and the form its value is stored in.
type Key struct {
	Kind string // ConfigMap or Secret, or the resource's kind
	Name string
	Form Form
	// Path is the field of a resource that holds the value itself
	// (spec.inlineScrapeConfig, spec.config); Name is then its last element.
	Path []string
}

// Field is the field path of the value: stringData.NAME for a Secret's plain
// text, data.NAME for other keys, the path of a field.
func (k Key) Field() string {
	if k.Path != nil {
		return strings.Join(k.Path, ".")
	}
	if k.Kind == "Secret" && k.Form == Plain {
		return "stringData." + k.Name
	}
	return "data." + k.Name
}

// Read returns the text under key name of obj (a ConfigMap or Secret of kind),
// and the Key to write it back with. A Secret's stringData wins over its data, as
// the API server merges them.
func Read(obj *yaml.RNode, kind, name string) (Key, string, error) {
	k := Key{Kind: kind, Name: name}
	if kind == "Secret" {
		if n, _ := obj.Pipe(yaml.Lookup("stringData", name)); n != nil {
			return k, yaml.GetValue(n), nil
		}
		k.Form = Base64
	}
	n, _ := obj.Pipe(yaml.Lookup("data", name))
	if n == nil {
		return k, "", krmerr.Errorf(k.Field(), "missing")
	}
	if k.Form == Base64 {
		b, err := decodeBase64(yaml.GetValue(n))
		if err != nil {
			return k, "", krmerr.Errorf(k.Field(), "is not valid base64: %v", err)
		}
		return k, string(b), nil
	}
	if n.YNode().Kind != yaml.ScalarNode {
		return k, "", krmerr.Errorf(k.Field(), "must be a string")
	}
	return k, n.YNode().Value, nil
}

// ReadField returns the text of the field at path of obj: a string field's
// value, a mapping's YAML (Object), "" when the field is unset.
func ReadField(obj *yaml.RNode, path ...string) (Key, string, error) {
	k := Key{Kind: obj.GetKind(), Name: path[len(path)-1], Path: path}
	n, _ := obj.Pipe(yaml.Lookup(path...))
	switch {
	case n == nil || n.YNode().Tag == yaml.NodeTagNull:
		return k, "", nil
	case n.YNode().Kind == yaml.MappingNode:
		k.Form = Object
		text, err := n.String()
		if err != nil {
			return k, "", krmerr.Errorf(k.Field(), "%v", err)
		}
		return k, text, nil
	case n.YNode().Kind == yaml.ScalarNode:
		return k, n.YNode().Value, nil
	}
	return k, "", krmerr.Errorf(k.Field(), "must be a string or a mapping, got a %s", yamlnode.KindWord(n.YNode()))
}

// writeField stores text at k's path in obj: parsed back into a mapping for
// Object, as a string (a block literal when it has lines) otherwise; a field
// that was unset is created.
func (k Key) writeField(obj *yaml.RNode, text string) error {
	var v *yaml.RNode
	if k.Form == Object {
		n, err := yaml.Parse(text)
		if err != nil {
			return krmerr.Errorf(k.Field(), "%v", err)
		}
		v = n
	} else {
		v = yaml.NewStringRNode(text)
		if strings.Contains(text, "\n") {
			v.YNode().Style = yaml.LiteralStyle
		}
		if old, _ := obj.Pipe(yaml.Lookup(k.Path...)); old != nil && old.YNode().Kind == yaml.ScalarNode && old.YNode().Style != 0 {
			v.YNode().Style = old.YNode().Style
		}
	}
	if old, _ := obj.Pipe(yaml.Lookup(k.Path...)); old != nil {
		// In place: the node stays the one that views of the resource share.
		*old.YNode() = *v.YNode()
		return nil
	}
	parent := k.Path[:len(k.Path)-1]
	return obj.PipeE(yaml.LookupCreate(yaml.MappingNode, parent...), yaml.SetField(k.Name, v))
}

// Write stores text under k in obj, keeping the node's style (a block literal
// stays a block literal; base64 is one line, quoted if it was).
func (k Key) Write(obj *yaml.RNode, text string) error {
	if k.Path != nil {
		return k.writeField(obj, text)
	}
	field, name, _ := strings.Cut(k.Field(), ".")
	n, err := obj.Pipe(yaml.Lookup(field, name))
	if err != nil || n == nil {
		return krmerr.Errorf(k.Field(), "missing")
	}
	y := n.YNode()
	if k.Form == Base64 {
		y.Value = encodeBase64([]byte(text))
		// One line, quoted as it was (base64 needs no escapes), else plain.
		y.Style &= yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle
		y.Tag = yaml.NodeTagString
		return nil
	}
	y.Value = text
	y.Tag = yaml.NodeTagString
	if y.Style == 0 && strings.Contains(text, "\n") {
		y.Style = yaml.LiteralStyle
	}
	return nil
}
