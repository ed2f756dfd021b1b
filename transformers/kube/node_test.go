package kube

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// viaJSON is what ToNode replaces: encoding/json, then a YAML parse.
func viaJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	n, err := yaml.Parse(string(b))
	if err != nil {
		t.Fatal(err)
	}
	var block func(*yaml.Node)
	block = func(n *yaml.Node) {
		n.Style = 0
		for _, c := range n.Content {
			block(c)
		}
	}
	block(n.YNode())
	s, err := n.String()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestToNodeWritesWhatJSONWould(t *testing.T) {
	c, vols := sample()
	for _, v := range []any{c, vols, Container{Name: "bare"}, Volume{Name: "p", VolumeSource: VolumeSource{Projected: &ProjectedVolumeSource{}}}} {
		n, err := ToNode(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := yaml.NewRNode(n).String()
		if err != nil {
			t.Fatal(err)
		}
		if want := viaJSON(t, v); got != want {
			t.Errorf("ToNode:\n%s\nencoding/json:\n%s", got, want)
		}
	}
}

func TestDecodeReadsWhatJSONWould(t *testing.T) {
	c, vols := sample()
	for _, v := range []struct{ in, out any }{{c, &Container{}}, {vols, &[]Volume{}}} {
		n, err := yaml.Parse(viaJSON(t, v.in))
		if err != nil {
			t.Fatal(err)
		}
		if err := Decode(n.YNode(), v.out); err != nil {
			t.Fatal(err)
		}
		if got := reflect.ValueOf(v.out).Elem().Interface(); !reflect.DeepEqual(got, v.in) {
			t.Errorf("Decode:\n got %+v\nwant %+v", got, v.in)
		}
	}
}

func TestDecodeUserYAML(t *testing.T) {
	n, err := yaml.Parse(`
base: &base
  image: prom/prometheus:v3
  args: [--config.file=/etc/p.yml]
containers:
- name: prometheus
  <<: *base
  unknownField: {is: ignored}
  readinessProbe: {httpGet: {path: /-/ready, port: web}}
  resources: {limits: {cpu: 1, memory: 1Gi}}
  volumeMounts:
  - {name: config, mountPath: /etc, readOnly: true}
`)
	if err != nil {
		t.Fatal(err)
	}
	var cs []Container
	if err := Decode(n.Field("containers").Value.YNode(), &cs); err != nil {
		t.Fatal(err)
	}
	c := cs[0]
	if c.Image != "prom/prometheus:v3" || len(c.Args) != 1 || c.ReadinessProbe.HTTPGet.Port.StrVal != "web" ||
		c.Resources.Limits[ResourceCPU] != "1" || !c.VolumeMounts[0].ReadOnly {
		t.Errorf("decoded %+v", c)
	}
	for doc, want := range map[string]string{
		"[{name: p, args: --x}]":                      "[0].args: must be a list",
		"[{name: p, volumeMounts: [{readOnly: 1}]}]":  `[0].volumeMounts[0].readOnly: must be true or false, got "1"`,
		"[{name: p, resources: {limits: {cpu: x}}}]":  `[0].resources.limits.cpu: quantity "x" is not valid`,
		"[{name: p, ports: [{containerPort: http}]}]": `[0].ports[0].containerPort: must be an integer, got "http"`,
	} {
		n, _ := yaml.Parse(doc)
		err := Decode(n.YNode(), &cs)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: err = %v, want %s...", doc, err, want)
		}
	}
}

// TestDecodeNestedAliases: aliases can multiply a document at every level of
// nesting of the types (here 60 x 60 x 60 key-to-path items); past the node
// budget Decode stops with an error instead of expanding them all.
func TestDecodeNestedAliases(t *testing.T) {
	list := func(alias string, n int) string {
		return "[" + strings.TrimSuffix(strings.Repeat(alias+", ", n), ", ") + "]"
	}
	doc := "item: &i {key: a, path: a}\n" +
		"source: &s {configMap: {name: x, items: " + list("*i", 60) + "}}\n" +
		"volume: &v {name: v, projected: {sources: " + list("*s", 60) + "}}\n" +
		"volumes: " + list("*v", 60) + "\n"
	n, err := yaml.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	var vols []Volume
	err = Decode(n.Field("volumes").Value.YNode(), &vols)
	if err == nil || !strings.Contains(err.Error(), "nested aliases") {
		t.Errorf("err = %v", err)
	}
}
