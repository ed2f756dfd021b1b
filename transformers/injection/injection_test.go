package injection

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/kyaml/yaml"
	sigyaml "sigs.k8s.io/yaml"
)

var o = Options{OutputCertsDir: "/etc/istio-output-certs", CertVolume: "istio-certs"}

// proxyConfig is the part of Istio's ProxyConfig the injector reads here.
type proxyConfigDoc struct {
	ProxyMetadata                   map[string]string `json:"proxyMetadata"`
	HoldApplicationUntilProxyStarts *bool             `json:"holdApplicationUntilProxyStarts,omitempty"`
	Concurrency                     *int              `json:"concurrency,omitempty"`
}

func TestProxyConfigMerge(t *testing.T) {
	existing := "holdApplicationUntilProxyStarts: true\nproxyMetadata:\n  ISTIO_META_DNS_CAPTURE: \"true\"\nconcurrency: 2\n"
	merged, err := mergeProxyConfig(existing, o)
	if err != nil {
		t.Fatal(err)
	}
	var pc proxyConfigDoc
	if err := sigyaml.UnmarshalStrict([]byte(merged), &pc); err != nil {
		t.Fatalf("Istio could not read %q: %v", merged, err)
	}
	if pc.ProxyMetadata["OUTPUT_CERTS"] != o.OutputCertsDir || pc.ProxyMetadata["ISTIO_META_DNS_CAPTURE"] != "true" || pc.HoldApplicationUntilProxyStarts == nil || *pc.Concurrency != 2 {
		t.Errorf("merged config lost something: %s", merged)
	}
	back, err := unmergeProxyConfig(merged, o)
	if err != nil {
		t.Fatal(err)
	}
	if back != existing {
		t.Errorf("unmerge:\n got %q\nwant %q", back, existing)
	}
	fresh, _ := mergeProxyConfig("", o)
	if fresh != "proxyMetadata:\n  OUTPUT_CERTS: /etc/istio-output-certs\n" {
		t.Errorf("fresh: %q", fresh)
	}
	if empty, _ := unmergeProxyConfig(fresh, o); empty != "" {
		t.Errorf("unmerge of ours only: %q", empty)
	}
	if _, err := mergeProxyConfig("- a list", o); err == nil {
		t.Error("a list is not a ProxyConfig")
	}
}

func TestUserVolumeMountMerge(t *testing.T) {
	existing := `[{"name":"custom-bootstrap","mountPath":"/etc/bootstrap","readOnly":true}]`
	merged, err := mergeUserVolumeMount(existing, o)
	if err != nil {
		t.Fatal(err)
	}
	var mounts []corev1.VolumeMount
	if err := json.Unmarshal([]byte(merged), &mounts); err != nil {
		t.Fatalf("Istio could not read %q: %v", merged, err)
	}
	if len(mounts) != 2 || mounts[0].Name != "custom-bootstrap" || !mounts[0].ReadOnly || mounts[1].Name != "istio-certs" || mounts[1].MountPath != o.OutputCertsDir {
		t.Errorf("merged: %s", merged)
	}
	again, _ := mergeUserVolumeMount(merged, o)
	if again != merged {
		t.Errorf("merging twice: %s", again)
	}
	if back, _ := unmergeUserVolumeMount(merged, o); back != existing {
		t.Errorf("unmerge: %s", back)
	}
	// Istio's older map form stays a map.
	m, err := mergeUserVolumeMount(`{"custom": {"mountPath": "/x"}}`, o)
	if err != nil {
		t.Fatal(err)
	}
	var asMap map[string]corev1.VolumeMount
	if err := json.Unmarshal([]byte(m), &asMap); err != nil || asMap["istio-certs"].MountPath != o.OutputCertsDir || asMap["custom"].MountPath != "/x" {
		t.Errorf("map form: %s %v", m, err)
	}
	if _, err := mergeUserVolumeMount("[oops", o); err == nil {
		t.Error("bad JSON accepted")
	}
}

func tpl(t *testing.T, meta string) *yaml.RNode {
	t.Helper()
	return yaml.MustParse("metadata:\n" + meta + "spec:\n  containers: []\n")
}

func TestEnableDisableRoundTrip(t *testing.T) {
	for name, meta := range map[string]string{
		"inject false label":       "  labels:\n    app: p\n    sidecar.istio.io/inject: \"false\"\n",
		"no metadata maps":         "  name: x\n",
		"user proxy config":        "  annotations:\n    proxy.istio.io/config: |\n      concurrency: 2\n",
		"user mounts, inject true": "  labels:\n    sidecar.istio.io/inject: 'true'\n  annotations:\n    sidecar.istio.io/userVolumeMount: '[{\"name\":\"a\",\"mountPath\":\"/a\"}]'\n",
	} {
		for _, opts := range []Options{o, {OutputCertsDir: o.OutputCertsDir, CertVolume: o.CertVolume, Revision: "canary", Native: new(true)}} {
			t.Run(name+"/"+opts.Revision, func(t *testing.T) {
				n := tpl(t, meta)
				before, _ := n.MarshalJSON()
				rec, err := Enable(n, opts)
				if err != nil {
					t.Fatal(err)
				}
				labels, annotations := n.GetLabels(), n.GetAnnotations()
				if opts.Revision != "" {
					if labels[labelRevision] != "canary" || labels[LabelInject] != "" || annotations[LabelInject] != "" || annotations[annNativeSidecar] != "true" {
						t.Errorf("revision: labels %v annotations %v", labels, annotations)
					}
				} else if labels[LabelInject] != "true" {
					t.Errorf("inject label %q", labels[LabelInject])
				}
				if v, ok := annotations[annInboundPorts]; !ok || v != "" {
					t.Error("includeInboundPorts must be empty")
				}
				if !strings.Contains(annotations[annProxyConfig], "OUTPUT_CERTS: /etc/istio-output-certs") {
					t.Errorf("proxy config %q", annotations[annProxyConfig])
				}
				b, _ := json.Marshal(rec)
				var back Record
				json.Unmarshal(b, &back)
				if err := Disable(n, &back); err != nil {
					t.Fatal(err)
				}
				// Semantically: an entry the revision route removed comes back at
				// the end of its map, in default quoting.
				if after, _ := n.MarshalJSON(); string(after) != string(before) {
					t.Errorf("Disable did not restore:\n%s\n---\n%s", before, after)
				}
			})
		}
	}
}
