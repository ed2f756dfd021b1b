package schema

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/config"
	"github.com/santhosh-tekuri/jsonschema/v6"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	"sigs.k8s.io/yaml"
)

const committed = "../../schema/prometheusmtls.schema.json"

// TestSchemaIsGenerated: the committed schema is what the Go types give now.
func TestSchemaIsGenerated(t *testing.T) {
	want, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not what the config types generate: run `go generate ./internal/schema`", committed)
	}
}

func compile(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(committed)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(ID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(ID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func instance(t *testing.T, b []byte) any {
	t.Helper()
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// configs are the example configs (each names the schema) and the golden cases'.
func configs(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	examples, _ := filepath.Glob("../../examples/*/*.yaml")
	more, _ := filepath.Glob("../../examples/*/*/*.yaml")
	for _, p := range append(examples, more...) {
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte("kind: PrometheusMTLS")) {
			if !bytes.HasPrefix(b, []byte("# yaml-language-server: $schema="+ID+"\n")) {
				t.Errorf("%s does not name the schema on its first line", p)
			}
			out[p] = b
		}
	}
	goldens, _ := filepath.Glob("../../testdata/*/config.yaml")
	for _, p := range goldens {
		if _, err := os.Stat(filepath.Join(filepath.Dir(p), "error")); err == nil {
			continue
		}
		b, _ := os.ReadFile(p)
		out[p] = b
	}
	if len(out) < 10 {
		t.Fatalf("only %d configs found", len(out))
	}
	return out
}

// TestConfigsValidate: every example and golden config passes the schema, and so
// does it the function.
func TestConfigsValidate(t *testing.T) {
	s := compile(t)
	for p, b := range configs(t) {
		if err := s.Validate(instance(t, b)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		if _, _, err := config.Parse(kyaml.MustParse(string(b))); err != nil {
			t.Errorf("%s: the function refuses it: %v", p, err)
		}
	}
}

// TestSchemaRefusesWhatTheFunctionRefuses: unknown fields, flat keys and wrong
// types fail the schema, as they fail the function.
func TestSchemaRefusesWhatTheFunctionRefuses(t *testing.T) {
	s := compile(t)
	head := "apiVersion: fn.istio-prometheus-mtls.dev/v1alpha1\nkind: PrometheusMTLS\nmetadata: {name: x}\n"
	for _, c := range []string{
		head + "spec:\n  istio:\n    verison: \"1.28\"\n",
		head + "spec:\n  scrapeJob: {name: x, extra: 1}\n",
		head + "spec:\n  istio:\n    nativeSidecar: \"yes\"\n",
		head + "spec:\n  certificates: []\n",
		head + "status: {}\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  istio_version: \"1.28\"\n",
		"apiVersion: fn.istio-prometheus-mtls.dev/v2\nkind: PrometheusMTLS\nmetadata: {name: x}\n",
	} {
		if err := s.Validate(instance(t, []byte(c))); err == nil {
			t.Errorf("the schema accepts:\n%s", c)
		}
		if _, _, err := config.Parse(kyaml.MustParse(c)); err == nil {
			t.Errorf("the function accepts:\n%s", c)
		}
	}
	ok := head + "spec:\n  istio:\n    version: \"1.31\"\n    resources: {limits: {cpu: 500m, memory: 1}}\n  scrapeJob: {excludeFrom: null}\n"
	if err := s.Validate(instance(t, []byte(ok))); err != nil {
		t.Errorf("%v\n%s", err, ok)
	}
	// Every flat key is in the schema.
	var root struct {
		OneOf []struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"oneOf"`
	}
	b, _ := os.ReadFile(committed)
	if err := json.Unmarshal(b, &root); err != nil || len(root.OneOf) != 2 {
		t.Fatal(err)
	}
	for _, k := range config.FlatKeys() {
		if !strings.Contains(string(root.OneOf[1].Properties["data"]), `"`+k+`"`) {
			t.Errorf("flat key %s is not in the schema", k)
		}
	}
}

// TestEveryPropertyDescribed: every property of both forms (the PrometheusMTLS
// resource and the ConfigMap's flat keys), nested ones and list items'
// included, has a description an editor can show.
func TestEveryPropertyDescribed(t *testing.T) {
	b, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	n := 0
	var walk func(s map[string]any, path string)
	walk = func(s map[string]any, path string) {
		props, _ := s["properties"].(map[string]any)
		for name, v := range props {
			p := v.(map[string]any)
			n++
			if d, _ := p["description"].(string); strings.TrimSpace(d) == "" {
				t.Errorf("%s.%s has no description", path, name)
			}
			walk(p, path+"."+name)
		}
		for _, key := range []string{"anyOf", "oneOf"} {
			list, _ := s[key].([]any)
			for i, e := range list {
				walk(e.(map[string]any), path+"/"+key+strconv.Itoa(i))
			}
		}
		if items, ok := s["items"].(map[string]any); ok {
			walk(items, path+"[]")
		}
	}
	walk(root, "")
	if flat := len(config.FlatKeys()); n < 50+flat {
		t.Errorf("%d properties seen, fewer than the resource's and the %d flat keys", n, flat)
	}
}
