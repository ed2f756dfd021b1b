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
	nullablePointers(object, reflect.TypeFor[config.PrometheusMTLS]())
	object.Version, object.ID = "", ""
	object.Title = config.Kind
	object.Description = "The function config: every spec field is optional (istio-prometheus-mtls --help)."
	constant(object, "apiVersion", config.APIVersion)
	constant(object, "kind", config.Kind)

	data := &jsonschema.Schema{Type: "object", Properties: jsonschema.NewProperties(), AdditionalProperties: jsonschema.FalseSchema}
	for _, k := range config.FlatKeys() {
		data.Properties.Set(k, &jsonschema.Schema{Type: "string"})
	}
	flat := &jsonschema.Schema{
		Title:       "ConfigMap",
		Description: "The function config as a v1 ConfigMap of flat keys (kpt fn eval ... -- key=value).",
		Type:        "object", Properties: jsonschema.NewProperties(), Required: []string{"apiVersion", "kind"},
	}
	flat.Properties.Set("apiVersion", &jsonschema.Schema{Const: "v1"})
	flat.Properties.Set("kind", &jsonschema.Schema{Const: "ConfigMap"})
	flat.Properties.Set("metadata", &jsonschema.Schema{Type: "object"})
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
			s.Properties.Set(name, &jsonschema.Schema{AnyOf: []*jsonschema.Schema{p, {Type: "null"}}})
		}
	}
}

func constant(s *jsonschema.Schema, field string, value string) {
	if p, ok := s.Properties.Get(field); ok {
		p.Type, p.Const = "", value
	}
}
