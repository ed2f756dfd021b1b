package yamlnode

import (
	"fmt"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

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

// Deref follows an alias to the node it names.
func Deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// Get reads field key of mapping m as a YAML loader does (Prometheus's, vmagent's,
// the collector's): aliases followed, m's own and the value, and keys merged in
// with `<<` (a mapping or a list of them) found after m's own keys. It is for
// reading: the node it returns may stand in several places of the document.
func Get(m *yaml.Node, key string) *yaml.Node {
	return get(m, key, 0, nil)
}

// get looks key up in m, then in what m merges in, visiting each mapping once:
// merges that name one mapping twice, chained, would otherwise fan out
// exponentially (a YAML loader's alias budget refuses such a file; this reader
// must not hang on it first).
func get(m *yaml.Node, key string, depth int, seen map[*yaml.Node]bool) *yaml.Node {
	m = Deref(m)
	if m == nil || m.Kind != yaml.MappingNode || depth > maxMergeDepth || seen[m] {
		return nil
	}
	var merges []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		switch k := m.Content[i]; {
		case IsMergeKey(k):
			merges = append(merges, Deref(m.Content[i+1]))
		case k.Value == key:
			return Deref(m.Content[i+1])
		}
	}
	if len(merges) == 0 {
		return nil
	}
	if seen == nil {
		seen = map[*yaml.Node]bool{} // made only where something is merged
	}
	seen[m] = true
	for _, mg := range merges {
		from := []*yaml.Node{mg}
		if mg.Kind == yaml.SequenceNode {
			from = mg.Content
		}
		for _, f := range from {
			if v := get(f, key, depth+1, seen); v != nil {
				return v
			}
		}
	}
	return nil
}

// maxMergeDepth bounds merges of merges (YAML cannot make a cycle of them).
const maxMergeDepth = 64

// GetValue is Value through Get.
func GetValue(m *yaml.Node, key string) string {
	if v := Get(m, key); v != nil {
		return yaml.GetValue(yaml.NewRNode(v))
	}
	return ""
}

// IsMergeKey tells a YAML merge key (`<<`, untagged) from a key "<<".
func IsMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge"
}

// Keys lists the keys of mapping m as Get reads them: m's own, then those merged
// in with `<<`, each once.
func Keys(m *yaml.Node) []string {
	var out []string
	seen := map[string]bool{}
	visited := map[*yaml.Node]bool{} // each mapping once (see get)
	var walk func(*yaml.Node, int)
	walk = func(m *yaml.Node, depth int) {
		m = Deref(m)
		if m == nil || m.Kind != yaml.MappingNode || depth > maxMergeDepth || visited[m] {
			return
		}
		visited[m] = true
		var merges []*yaml.Node
		for i := 0; i+1 < len(m.Content); i += 2 {
			if k := m.Content[i]; IsMergeKey(k) {
				merges = append(merges, Deref(m.Content[i+1]))
			} else if !seen[k.Value] {
				seen[k.Value] = true
				out = append(out, k.Value)
			}
		}
		for _, mg := range merges {
			if mg.Kind == yaml.SequenceNode {
				for _, e := range mg.Content {
					walk(e, depth+1)
				}
			} else {
				walk(mg, depth+1)
			}
		}
	}
	walk(m, 0)
	return out
}

// DuplicateKey finds the first mapping key of n (or below it) that appears twice
// in its mapping, and returns its path ("spec.containers", "items[2].name"); ""
// when there is none. YAML forbids duplicate keys, and the API server keeps the
// last of them while a YAML node tree edits the first: an edit made there would
// be lost on apply. Merge keys (`<<`) are not keys of the mapping; aliases are
// checked where their anchor stands.
func DuplicateKey(n *yaml.Node) string {
	return duplicateKey(n, "")
}

func duplicateKey(n *yaml.Node, at string) string {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if p := duplicateKey(c, at); p != "" {
				return p
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if p := duplicateKey(c, fmt.Sprintf("%s[%d]", at, i)); p != "" {
				return p
			}
		}
	case yaml.MappingNode:
		var seen map[string]bool
		if len(n.Content) > 16 {
			seen = make(map[string]bool, len(n.Content)/2)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if IsMergeKey(k) {
				continue
			}
			path := k.Value
			if at != "" {
				path = at + "." + k.Value
			}
			dup := false
			if seen != nil {
				dup, seen[k.Value] = seen[k.Value], true
			} else {
				for j := 0; j < i; j += 2 {
					if n.Content[j].Value == k.Value && !IsMergeKey(n.Content[j]) {
						dup = true
						break
					}
				}
			}
			if dup {
				return path
			}
			if p := duplicateKey(n.Content[i+1], path); p != "" {
				return p
			}
		}
	}
	return ""
}

// TextSize is about the size of n as JSON: its keys and scalar values and a few
// bytes of punctuation each, aliases counted once where they stand. It is for
// comparing with a limit cheaply (a JSON encoding through go-yaml's decoder
// checks every mapping's keys against each other: quadratic on a wide one).
func TextSize(n *yaml.Node) int {
	size := len(n.Value) + 3
	if n.Kind != yaml.AliasNode {
		for _, c := range n.Content {
			size += TextSize(c)
		}
	}
	return size
}
