package main

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/internal/checks"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// TestMountPathInOutput follows spec.certificates.mountPath into what the function
// writes, for a Deployment and a prometheus-operator resource: the mount into the
// Prometheus container (or spec.volumeMounts), the tls_config of every job the
// function writes, and the scrape class; nothing names the default directory.
func TestMountPathInOutput(t *testing.T) {
	t.Parallel()
	const dir = "/var/run/mesh"
	config := cfg("  istio:\n    version: \"1.31\"\n  certificates:\n    volumeName: mesh-certs\n    mountPath: /var/run/mesh/\n  scrapeJob:\n    securePortJob: true\n")
	for fixture, mounts := range map[string][]string{
		"istio-addon-prometheus.yaml":     {"spec", "template", "spec", "containers", "[name=prometheus-server]", "volumeMounts", "[name=mesh-certs]", "mountPath"},
		"kube-prometheus-prometheus.yaml": {"spec", "volumeMounts", "[name=mesh-certs]", "mountPath"},
	} {
		t.Run(fixture, func(t *testing.T) {
			c := goldenCase{fixture, ""}
			out, err := runFn(resourceList(t, c.inputFixture(t, fixture), []byte(config)))
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			items, err := checks.Items(out)
			if err != nil {
				t.Fatal(err)
			}
			var workload *yaml.RNode
			for _, it := range items {
				if it.GetKind() == "Deployment" || it.GetKind() == "Prometheus" {
					workload = it
				}
			}
			if m, _ := workload.Pipe(yaml.Lookup(mounts...)); m == nil || yaml.GetValue(m) != dir {
				t.Errorf("the certificate mount is %v, want %s", m, dir)
			}
			var files []string
			if workload.GetKind() == "Prometheus" {
				class, _ := workload.Pipe(yaml.Lookup("spec", "scrapeClasses", "[name=istio-mtls]", "tlsConfig"))
				if class == nil {
					t.Fatal("no istio-mtls scrape class")
				}
				for _, f := range []string{"caFile", "certFile", "keyFile"} {
					files = append(files, yaml.GetValue(class.Field(f).Value))
				}
			}
			text := prometheusYAMLFrom(t, out)
			for _, it := range items {
				if v, ok := it.GetDataMap()["additional-scrape-configs.yaml"]; ok && it.GetKind() == "Secret" {
					b, err := base64.StdEncoding.DecodeString(v)
					if err != nil {
						t.Fatal(err)
					}
					text = "scrape_configs:\n" + string(b) // the operator's list form
				}
			}
			doc, err := yaml.Parse(text)
			if err != nil {
				t.Fatal(err)
			}
			jobs, _ := doc.Pipe(yaml.Lookup("scrape_configs"))
			ours := 0
			for _, j := range jobs.YNode().Content {
				if !strings.Contains(yaml.NewRNode(j).Field("job_name").Value.YNode().LineComment, "istio-prometheus-mtls") {
					continue
				}
				ours++
				for _, f := range []string{"ca_file", "cert_file", "key_file"} {
					n, _ := yaml.NewRNode(j).Pipe(yaml.Lookup("tls_config", f))
					files = append(files, yaml.GetValue(n))
				}
			}
			if ours != 3 {
				t.Errorf("%d jobs of ours, want the secure job and the two secure-port jobs", ours)
			}
			for _, f := range files {
				if !strings.HasPrefix(f, dir+"/") || strings.Count(f, "/") != strings.Count(dir, "/")+1 {
					t.Errorf("certificate file %q is not in %s", f, dir)
				}
			}
			if strings.Contains(string(out), "/etc/istio-certs") {
				t.Error("the output still names the default /etc/istio-certs")
			}
		})
	}
}
