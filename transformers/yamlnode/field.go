package yamlnode

import "sigs.k8s.io/kustomize/kyaml/yaml"

// Field returns the value node of key in mapping m, or nil (also when m is not
// a mapping). It allocates nothing: it runs on every item of a list.
func Field(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// Value returns the text of field key of mapping m as kyaml's GetValue reads it:
// "" when the field is missing or null.
func Value(m *yaml.Node, key string) string {
	if v := Field(m, key); v != nil {
		return yaml.GetValue(yaml.NewRNode(v))
	}
	return ""
}

// KindWord names the kind of n in a message ("got a list").
func KindWord(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.ShortTag() == yaml.NodeTagNull {
			return "null"
		}
		return "scalar"
	case yaml.SequenceNode:
		return "list"
	case yaml.MappingNode:
		return "mapping"
	case yaml.AliasNode:
		return "alias"
	}
	return "node"
}

// String is a plain string scalar: tagged !!str, so the encoder quotes it only
// when its text would read as something else (a number, a bool, a mapping); any
// value is safe in it.
func String(v string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: yaml.NodeTagString, Value: v}
}
