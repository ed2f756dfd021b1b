// Package yamlnode holds the small helpers on go-yaml nodes that several packages
// need: reading a mapping's field, the word for a node's kind in a message, and
// the comparisons of YAML trees the function makes, each named by what it
// compares:
//
//   - Identical: everything a reader of the text sees (a re-run must not
//     report a change it did not make);
//   - SameContent: the same nodes in the same order, style and comments aside
//     (an edited text must parse to the edited tree);
//   - SameDecoded: the same object to a decoder, mapping keys in any order and
//     aliases followed (an element the user wrote equals the one we would add).
package yamlnode

import "sigs.k8s.io/kustomize/kyaml/yaml"

// Identical tells whether a and b are the same to a reader of the YAML: content,
// tags, styles, anchors and comments. Aliases are compared by the anchor they
// name, not followed.
func Identical(a, b *yaml.Node) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil || a.Kind != b.Kind || a.Style != b.Style || a.Tag != b.Tag || a.Value != b.Value ||
		a.Anchor != b.Anchor || a.HeadComment != b.HeadComment || a.LineComment != b.LineComment ||
		a.FootComment != b.FootComment || len(a.Content) != len(b.Content) {
		return false
	}
	for i := range a.Content {
		if !Identical(a.Content[i], b.Content[i]) {
			return false
		}
	}
	return true
}

// SameContent tells whether a and b hold the same nodes in the same order (kinds,
// resolved tags, values), ignoring style, comments and positions. A document
// node is looked through. An alias is compared by the anchor it names, not
// followed: both trees come from texts that spell it the same way, the anchored
// node is compared where it stands, and following aliases is exponential on
// nested ones.
func SameContent(a, b *yaml.Node) bool {
	for a.Kind == yaml.DocumentNode && len(a.Content) == 1 {
		a = a.Content[0]
	}
	for b.Kind == yaml.DocumentNode && len(b.Content) == 1 {
		b = b.Content[0]
	}
	if a.Kind != b.Kind || len(a.Content) != len(b.Content) {
		return false
	}
	if a.Kind == yaml.AliasNode {
		return a.Value == b.Value
	}
	if a.Kind == yaml.ScalarNode && (a.Value != b.Value || a.ShortTag() != b.ShortTag()) {
		return false
	}
	for i := range a.Content {
		if !SameContent(a.Content[i], b.Content[i]) {
			return false
		}
	}
	return true
}

// keyFinder returns the index in m.Content of the first key k, or -1: a scan
// of a small mapping, an index of a large one (a ConfigMap of 200,000 keys
// scanned once per key is a hang).
func keyFinder(m *yaml.Node) func(k string) int {
	if len(m.Content) <= 32 {
		return func(k string) int {
			for j := 0; j+1 < len(m.Content); j += 2 {
				if m.Content[j].Value == k {
					return j
				}
			}
			return -1
		}
	}
	ix := make(map[string]int, len(m.Content)/2)
	for j := len(m.Content) - 2; j >= 0; j -= 2 {
		ix[m.Content[j].Value] = j
	}
	return func(k string) int {
		if j, ok := ix[k]; ok {
			return j
		}
		return -1
	}
}

// SameDecoded tells whether a and b decode to the same object, as the API server
// would read them: mapping keys in any order, scalars by resolved tag and value,
// aliases expanded; style and comments do not count. Past maxCompared nodes
// (nested aliases expand exponentially) they count as different.
func SameDecoded(a, b *yaml.Node) bool {
	budget := maxCompared
	return sameDecoded(a, b, &budget)
}

const maxCompared = 100000

func sameDecoded(a, b *yaml.Node, budget *int) bool {
	if *budget--; *budget < 0 {
		return false
	}
	if a.Kind == yaml.AliasNode && a.Alias != nil {
		a = a.Alias
	}
	if b.Kind == yaml.AliasNode && b.Alias != nil {
		b = b.Alias
	}
	if a.Kind != b.Kind || len(a.Content) != len(b.Content) {
		return false
	}
	switch a.Kind {
	case yaml.ScalarNode:
		return a.Value == b.Value && a.ShortTag() == b.ShortTag()
	case yaml.MappingNode:
		find := keyFinder(b)
		for i := 0; i+1 < len(a.Content); i += 2 {
			j := find(a.Content[i].Value)
			if j < 0 || !sameDecoded(a.Content[i+1], b.Content[j+1], budget) {
				return false
			}
		}
		return true
	}
	for i := range a.Content {
		if !sameDecoded(a.Content[i], b.Content[i], budget) {
			return false
		}
	}
	return true
}
