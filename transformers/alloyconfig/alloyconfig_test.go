package alloyconfig

import (
	"strings"
	"testing"

	"github.com/grafana/alloy/syntax/parser"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/scrapeconfig"
)

const pods = `// Pods, annotated, to the remote write.
discovery.kubernetes "pods" {
	role = "pod" // every pod
}

discovery.relabel "pods" {
	targets = discovery.kubernetes.pods.targets

	rule {
		source_labels = ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"]
		action        = "keep"
		regex         = "true"
	}
}

prometheus.scrape "pods" {
	targets         = discovery.relabel.pods.output
	forward_to      = [prometheus.remote_write.default.receiver]
	scrape_interval = "30s"
}

prometheus.remote_write "default" {
	endpoint {
		url = "http://mimir/api/v1/push"
	}
}
`

func opts() scrapeconfig.Options {
	return scrapeconfig.Options{JobName: "kubernetes-pods-istio-secure", CertsDir: "/etc/istio-certs"}
}

// TestEdit: the secure pipeline goes beside the user's, the user's scrape reads
// the function's relabel, every line of the user's stays; a re-run changes
// nothing; removing gives the text back.
func TestEdit(t *testing.T) {
	out, rep, err := Edit(pods, opts())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parser.ParseFile("x", []byte(out)); err != nil {
		t.Fatalf("the output does not parse: %v\n%s", err, out)
	}
	for _, l := range strings.Split(pods, "\n") {
		if !strings.Contains(out, l) && !strings.Contains(l, "discovery.relabel.pods.output") {
			t.Errorf("the user's line %q is gone:\n%s", l, out)
		}
	}
	for _, want := range []string{
		"targets         = discovery.relabel.istio_mtls_plain_pods.output",
		`prometheus.scrape "istio_mtls_pods" {`,
		`scheme          = "https"`,
		`ca_file              = "/etc/istio-certs/root-cert.pem"`,
		"forward_to      = [prometheus.remote_write.default.receiver]",
		`scrape_interval = "30s"`,
		`= "__tmp_istio_mtls_sidecar"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if len(rep.Owned) != 3 {
		t.Errorf("owned: %v", rep.Owned)
	}
	o := opts()
	o.Owned = rep.Owned
	again, _, err := Edit(out, o)
	if err != nil || again != out {
		t.Errorf("a re-run changed it: %v\n%s", err, again)
	}
	o.Remove = true
	back, rep, err := Edit(out, o)
	if err != nil || back != pods {
		t.Errorf("removing did not give the text back: %v\n%s", err, back)
	}
	if len(rep.Removed) != 3 || len(rep.Restored) != 1 {
		t.Errorf("report %+v", rep)
	}
}

func TestBad(t *testing.T) {
	for name, doc := range map[string]string{
		"no pod pipeline": "prometheus.remote_write \"default\" {\n\tendpoint {\n\t\turl = \"http://x\"\n\t}\n}\n",
		"does not parse":  "discovery.kubernetes \"pods\" {\n\trole = \n}\n",
	} {
		if _, _, err := Edit(doc, opts()); err == nil {
			t.Errorf("%s: no error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// TestNestingLimit: a configuration nested past the limit is refused before
// Grafana's parser runs (600,000 deep overflowed its stack); brackets in
// strings and comments do not count, and real nesting passes.
func TestNestingLimit(t *testing.T) {
	deep := "x = " + strings.Repeat("[", 600_000) + strings.Repeat("]", 600_000) + "\n"
	if err := checkNesting(deep); err == nil || !strings.Contains(err.Error(), "nested more than 256 deep at line 1") {
		t.Errorf("600,000 deep: %v", err)
	}
	ok := "// [[[[ {{{{\n/* (((( */ a = \"[[[[\\\"{{{{\" \nb = `((((\n[[[[`\nc { d { e = [{f = (1)}] } }\n" + strings.Repeat("[", 200) + strings.Repeat("]", 200)
	if err := checkNesting(ok); err != nil {
		t.Errorf("within the limit: %v", err)
	}
}
