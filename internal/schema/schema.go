// Package schema generates the JSON Schema of the function config from its Go
// types (transformers/config), so the published schema cannot drift from what the
// function decodes: the PrometheusMTLS object, or a v1 ConfigMap of flat keys. It is
// a build tool: the function binary does not link it.
package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/invopop/jsonschema"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/config"
	"k8s.io/apimachinery/pkg/api/resource"
)

// ID is where releases publish the schema (the `# yaml-language-server: $schema=`
// line of every example config names it).
const ID = "https://github.com/istio-prometheus-mtls/istio-prometheus-mtls/releases/latest/download/prometheusmtls.schema.json"

// configSource is the config package's source seen from this directory, where go
// generate and go test run Generate: the schema's descriptions are the doc comments
// of its types and fields.
const configSource = "../../transformers/config"

// Generate returns the schema, indented, with a final newline.
func Generate() ([]byte, error) {
	r := &jsonschema.Reflector{
		// Unknown fields are errors for the function (strict decoding); so here.
		AllowAdditionalProperties: false,
		DoNotReference:            true,
		Mapper: func(t reflect.Type) *jsonschema.Schema {
			if t == reflect.TypeFor[resource.Quantity]() {
				// A quantity is written as a string ("500m") or a number.
				return &jsonschema.Schema{OneOf: []*jsonschema.Schema{{Type: "string"}, {Type: "number"}}}
			}
			return nil
		},
	}
	// AddGoComments names a package by base joined with its directory as walked.
	if err := r.AddGoComments(reflect.TypeFor[config.PrometheusMTLS]().PkgPath()+"/../../internal/schema", configSource); err != nil {
		return nil, fmt.Errorf("reading the config types' doc comments in %s: %w", configSource, err)
	}
	object := r.Reflect(&config.PrometheusMTLS{})
	// corev1.ResourceRequirements is Kubernetes' type, whose comments are not
	// in the config package: its fields as Kubernetes documents them.
	if res, ok := object.Properties.Get("spec"); ok {
		if p := propertyAt(res, "istio.resources"); p != nil {
			for name, desc := range map[string]string{
				"limits":   "Limits is the maximum amount of compute resources allowed (cpu, memory).",
				"requests": "Requests is the minimum amount of compute resources required (cpu, memory); unset, the limits.",
				"claims":   "Claims lists the names of resources, defined in the pod's spec.resourceClaims, that the container uses (dynamic resource allocation).",
			} {
				if q, ok := p.Properties.Get(name); ok {
					q.Description = desc
				}
			}
			if c, ok := p.Properties.Get("claims"); ok && c.Items != nil {
				for name, desc := range map[string]string{
					"name":    "Name is the name of one entry in the pod's spec.resourceClaims.",
					"request": "Request is the name of a request in the referenced claim; unset, the whole claim.",
				} {
					if q, ok := c.Items.Properties.Get(name); ok {
						q.Description = desc
					}
				}
			}
		}
	}
	nullablePointers(object, reflect.TypeFor[config.PrometheusMTLS]())
	object.Version, object.ID = "", ""
	object.Title = config.Kind
	object.Description = "The function config: every spec field is optional (istio-prometheus-mtls --help)."
	constant(object, "apiVersion", config.APIVersion)
	constant(object, "kind", config.Kind)

	data := &jsonschema.Schema{Type: "object", Properties: jsonschema.NewProperties(), AdditionalProperties: jsonschema.FalseSchema,
		Description: "The spec fields as flat keys, each a string; every key is optional."}
	for _, f := range config.FlatFields() {
		desc := describedAt(object, f.Path)
		if desc == "" {
			return nil, fmt.Errorf("flat key %s: the field %s has no description", f.Key, f.Path)
		}
		desc += " (" + f.Path
		if form := f.FlatForm(); form != "" {
			desc += "; " + form
		}
		data.Properties.Set(f.Key, &jsonschema.Schema{Type: "string", Description: desc + ")"})
	}
	flat := &jsonschema.Schema{
		Title:       "ConfigMap",
		Description: "The function config as a v1 ConfigMap of flat keys (kpt fn eval ... -- key=value).",
		Type:        "object", Properties: jsonschema.NewProperties(), Required: []string{"apiVersion", "kind"},
	}
	flat.Properties.Set("apiVersion", &jsonschema.Schema{Const: "v1", Description: "v1."})
	flat.Properties.Set("kind", &jsonschema.Schema{Const: "ConfigMap", Description: "ConfigMap."})
	flat.Properties.Set("metadata", &jsonschema.Schema{Type: "object", Description: "Names the config; the function reads nothing else of it."})
	flat.Properties.Set("data", data)

	root := &jsonschema.Schema{
		Version:     "https://json-schema.org/draft/2020-12/schema",
		ID:          ID,
		Title:       "istio-prometheus-mtls function config",
		Description: "fn.istio-prometheus-mtls.dev/v1alpha1 PrometheusMTLS, or a v1 ConfigMap of flat keys. Generated from the Go types by `go generate ./internal/schema`.",
		OneOf:       []*jsonschema.Schema{object, flat},
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// nullablePointers lets every pointer field of the config types be null, as the
// function reads it (null is unset: `excludeFrom: null`, `nativeSidecar: null`).
func nullablePointers(s *jsonschema.Schema, t reflect.Type) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || s.Properties == nil || t.PkgPath() != reflect.TypeFor[config.PrometheusMTLS]().PkgPath() {
		return
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		p, ok := s.Properties.Get(name)
		if !ok {
			continue
		}
		nullablePointers(p, f.Type)
		if f.Type.Kind() == reflect.Pointer {
			// The description stays on the property, where editors show it.
			s.Properties.Set(name, &jsonschema.Schema{Description: p.Description, AnyOf: []*jsonschema.Schema{p, {Type: "null"}}})
		}
	}
}

// propertyAt is the property at path (dot-separated) in s, looking through a
// nullable wrapper; nil when there is none.
func propertyAt(s *jsonschema.Schema, path string) *jsonschema.Schema {
	for _, name := range strings.Split(path, ".") {
		for s.Properties == nil && len(s.AnyOf) > 0 {
			s = s.AnyOf[0]
		}
		if s.Properties == nil {
			return nil
		}
		p, ok := s.Properties.Get(name)
		if !ok {
			return nil
		}
		s = p
	}
	for s.Properties == nil && len(s.AnyOf) > 0 {
		s = s.AnyOf[0]
	}
	return s
}

// describedAt is the description of the property at path (dot-separated) in s.
func describedAt(s *jsonschema.Schema, path string) string {
	for _, name := range strings.Split(path, ".") {
		p, ok := s.Properties.Get(name)
		if !ok {
			return ""
		}
		s = p
		for s.Properties == nil && len(s.AnyOf) > 0 {
			s = s.AnyOf[0]
		}
	}
	return s.Description
}

func constant(s *jsonschema.Schema, field string, value string) {
	if p, ok := s.Properties.Get(field); ok {
		p.Type, p.Const = "", value
	}
}
