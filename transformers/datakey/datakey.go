// Package datakey reads and writes one key of a ConfigMap or Secret: a
// ConfigMap's data, a Secret's stringData (plain text) or data (base64). A value
// is written back in the form it was read in, and its field path (data.KEY or
// stringData.KEY) is known in one place.
package datakey

import (
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Form is how a value is stored in its object.
type Form int

const (
	Plain  Form = iota // ConfigMap data, or Secret stringData
	Base64             // Secret data
)

// Key is one key of a ConfigMap or Secret, and the form its value is stored in.
type Key struct {
	Kind string // ConfigMap or Secret
	Name string
	Form Form
}

// Field is the field path of the value: stringData.NAME for a Secret's plain
// text, data.NAME otherwise.
func (k Key) Field() string {
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

// Write stores text under k in obj, keeping the node's style (a block literal
// stays a block literal; base64 is one line, quoted if it was).
func (k Key) Write(obj *yaml.RNode, text string) error {
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
