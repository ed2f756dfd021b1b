package datakey

import (
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

func TestForms(t *testing.T) {
	sec := yaml.MustParse("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  p.yml: c2NyYXBlX2NvbmZpZ3M6IFtdCg==\n")
	k, v, err := Read(sec, "Secret", "p.yml")
	if err != nil || v != "scrape_configs: []\n" || k.Form != Base64 || k.Field() != "data.p.yml" {
		t.Fatalf("%q %+v %v", v, k, err)
	}
	if err := k.Write(sec, "x: 1\n"); err != nil {
		t.Fatal(err)
	}
	if got := yaml.GetValue(sec.Field("data").Value.Field("p.yml").Value); got != "eDogMQo=" {
		t.Errorf("base64 written as %q", got)
	}
	// stringData wins, and is written back there.
	sd := yaml.MustParse("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  p.yml: |\n    a: 1\ndata:\n  p.yml: eDogMQo=\n")
	k, v, err = Read(sd, "Secret", "p.yml")
	if err != nil || v != "a: 1\n" || k.Form != Plain || k.Field() != "stringData.p.yml" {
		t.Fatalf("%q %+v %v", v, k, err)
	}
	if err := k.Write(sd, "b: 2\n"); err != nil {
		t.Fatal(err)
	}
	if got := sd.MustString(); got != "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  p.yml: |\n    b: 2\ndata:\n  p.yml: eDogMQo=\n" {
		t.Errorf("stringData written as\n%s", got)
	}
	// A ConfigMap's one-line value becomes a block literal once it has lines.
	cm := yaml.MustParse("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  p.yml: global\n")
	k, _, err = Read(cm, "ConfigMap", "p.yml")
	if err != nil || k.Field() != "data.p.yml" {
		t.Fatal(k, err)
	}
	k.Write(cm, "a: 1\nb: 2\n")
	if got := cm.MustString(); got != "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  p.yml: |\n    a: 1\n    b: 2\n" {
		t.Errorf("ConfigMap written as\n%s", got)
	}
}

func TestErrors(t *testing.T) {
	for _, c := range []struct{ doc, kind, want string }{
		{"kind: Secret\ndata: {p.yml: '%%%'}\n", "Secret", "data.p.yml: is not valid base64"},
		{"kind: Secret\ndata: {}\n", "Secret", "data.p.yml: missing"},
		{"kind: ConfigMap\ndata: {p.yml: [a]}\n", "ConfigMap", "data.p.yml: must be a string"},
	} {
		_, _, err := Read(yaml.MustParse(c.doc), c.kind, "p.yml")
		if err == nil || len(err.Error()) < len(c.want) || err.Error()[:len(c.want)] != c.want {
			t.Errorf("%s: err = %v, want %s…", c.doc, err, c.want)
		}
	}
}
