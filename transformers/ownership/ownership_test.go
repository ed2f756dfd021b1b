package ownership

import (
	"reflect"
	"strings"
	"testing"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/injection"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/podtemplate"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// TestRoundTrip: the record is written as one JSON annotation, last, in the
// format earlier releases wrote (so their output is still recognised), and
// read back as it was.
func TestRoundTrip(t *testing.T) {
	tpl := yaml.MustParse("metadata:\n  annotations:\n    a: b\nspec: {}\n")
	r := Record{
		Owned:       podtemplate.Owned{InitContainers: []string{"istio-proxy"}, Volumes: []string{"istio-certs"}, VolumeMounts: []string{":/etc/istio-certs"}},
		Injection:   &injection.Record{Created: []string{"labels/sidecar.istio.io/inject"}, Volume: "istio-certs", Dir: "/etc/istio-output-certs"},
		ScrapeClass: "istio-mtls",
	}
	if err := Write(tpl, r); err != nil {
		t.Fatal(err)
	}
	want := `{"initContainers":["istio-proxy"],"volumes":["istio-certs"],"volumeMounts":[":/etc/istio-certs"],"injection":{"created":["labels/sidecar.istio.io/inject"],"volume":"istio-certs","dir":"/etc/istio-output-certs"},"scrapeClass":"istio-mtls"}`
	if got := tpl.GetAnnotations()[Annotation]; got != want {
		t.Errorf("annotation\n%s\nwant\n%s", got, want)
	}
	// A later write goes last again, after what the run added.
	tpl.PipeE(yaml.Lookup("metadata", "annotations"), yaml.SetField("c", yaml.NewStringRNode("d")))
	if err := Write(tpl, r); err != nil {
		t.Fatal(err)
	}
	if s := tpl.MustString(); strings.Index(s, "c: d") > strings.Index(s, Annotation) {
		t.Errorf("the record is not last:\n%s", s)
	}
	back, err := Read(tpl)
	if err != nil || !reflect.DeepEqual(back, r) {
		t.Errorf("read back %+v, %v", back, err)
	}
	// Nothing owned: the annotation goes.
	if err := Write(tpl, Record{ScrapeClass: "istio-mtls"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := tpl.GetAnnotations()[Annotation]; ok {
		t.Error("an empty record was written")
	}
}

func TestReadRefusesForeignText(t *testing.T) {
	tpl := yaml.MustParse("metadata:\n  annotations:\n    istio-prometheus-mtls.dev/status: 'not json'\n")
	_, err := Read(tpl)
	if err == nil || !strings.HasPrefix(err.Error(), "metadata.annotations."+Annotation+": is not the JSON this function writes") {
		t.Errorf("err = %v", err)
	}
	if r, err := Read(yaml.MustParse("metadata: {}\n")); err != nil || !reflect.DeepEqual(r, Record{}) {
		t.Errorf("no annotation: %+v %v", r, err)
	}
}
