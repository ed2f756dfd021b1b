package main

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/config"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// schemaField is what the test reads of a JSON Schema property.
type schemaField struct {
	Description string                 `json:"description"`
	Properties  map[string]schemaField `json:"properties"`
	AnyOf       []schemaField          `json:"anyOf"`
}

// kubernetesTypes are fields of Kubernetes' own types: documented as a whole,
// their inner fields are Kubernetes'.
var kubernetesTypes = []string{"spec.istio.resources"}

// schemaFields walks the committed schema (TestSchemaIsGenerated keeps it what the
// Go types give): every field path under spec, and whether it has fields of its own.
func schemaFields(t *testing.T) map[string]schemaField {
	t.Helper()
	b, err := os.ReadFile("../schema/prometheusmtls.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var root struct {
		OneOf []schemaField `json:"oneOf"`
	}
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	out := map[string]schemaField{}
	var walk func(prefix string, f schemaField)
	walk = func(prefix string, f schemaField) {
		for name, p := range f.Properties {
			path := prefix + name
			if len(p.AnyOf) > 0 { // a pointer: the field or null
				p.AnyOf[0].Description = p.Description + p.AnyOf[0].Description
				p = p.AnyOf[0]
			}
			if slices.Contains(kubernetesTypes, path) {
				p.Properties = nil
			}
			out[path] = p
			walk(path+".", p)
		}
	}
	walk("spec.", root.OneOf[0].Properties["spec"])
	return out
}

// docFields reads the field paths under spec of a YAML block that documents the
// API, descending only where the schema has fields (not into a map's keys).
func docFields(t *testing.T, doc string, schema map[string]schemaField) map[string]bool {
	t.Helper()
	n, err := yaml.Parse(doc)
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	out := map[string]bool{}
	var walk func(prefix string, m *yaml.Node)
	walk = func(prefix string, m *yaml.Node) {
		if m.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			path := prefix + m.Content[i].Value
			out[path] = true
			if len(schema[path].Properties) > 0 {
				walk(path+".", m.Content[i+1])
			}
		}
	}
	spec, _ := n.Pipe(yaml.Lookup("spec"))
	if spec == nil {
		t.Fatalf("no spec in\n%s", doc)
	}
	walk("spec.", spec.YNode())
	return out
}

// TestAPIDocsAgree: the JSON Schema (from the Go types) describes every field,
// and docs/api.md's API block and --help document exactly the schema's fields.
func TestAPIDocsAgree(t *testing.T) {
	schema := schemaFields(t)
	for path, f := range schema {
		if strings.TrimSpace(f.Description) == "" {
			t.Errorf("the schema does not describe %s: give its Go field a doc comment", path)
		}
	}
	page, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(apiVersion: fn\\.istio-prometheus-mtls\\.dev/.*?)```").FindSubmatch(page)
	if m == nil {
		t.Fatal("docs/api.md has no API block")
	}
	// The flat keys of a ConfigMap config, listed after the block, are the API's.
	listed := map[string]bool{}
	if _, rest, ok := strings.Cut(string(page), "with\nflat keys:"); ok {
		para, _, _ := strings.Cut(rest, "\n\n")
		for _, k := range regexp.MustCompile("`([a-z-]+)`").FindAllStringSubmatch(para, -1) {
			listed[k[1]] = true
		}
	}
	for _, k := range config.FlatKeys() {
		if !listed[k] {
			t.Errorf("docs/api.md does not list the flat key %s", k)
		}
		delete(listed, k)
	}
	for k := range listed {
		t.Errorf("docs/api.md lists the flat key %s, which the API does not have", k)
	}
	help := usage()
	start := strings.Index(help, "apiVersion: ")
	end := strings.Index(help, "\nA v1 ConfigMap works too")
	if start < 0 || end < start {
		t.Fatalf("--help has no config block:\n%s", help)
	}
	for what, doc := range map[string]string{"docs/api.md's API block": string(m[1]), "--help": help[start:end]} {
		got := docFields(t, doc, schema)
		for path := range schema {
			if !got[path] {
				t.Errorf("%s does not document %s", what, path)
			}
		}
		for path := range got {
			if _, ok := schema[path]; !ok {
				t.Errorf("%s documents %s, which the API does not have", what, path)
			}
		}
	}
}
