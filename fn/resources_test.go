package main

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	sigyaml "sigs.k8s.io/yaml"
)

// vmagentSpec is the part of VictoriaMetrics' VMAgentSpec (api/operator/v1beta1
// at v0.74.1) the function writes, with the operator's JSON names and types.
type vmagentSpec struct {
	PodMetadata *struct {
		Labels      map[string]string `json:"labels,omitempty"`
		Annotations map[string]string `json:"annotations,omitempty"`
	} `json:"podMetadata,omitempty"`
	Containers         []corev1.Container   `json:"containers,omitempty"`
	InitContainers     []corev1.Container   `json:"initContainers,omitempty"`
	Volumes            []corev1.Volume      `json:"volumes,omitempty"`
	VolumeMounts       []corev1.VolumeMount `json:"volumeMounts,omitempty"`
	InlineScrapeConfig string               `json:"inlineScrapeConfig,omitempty"`
	ScrapeClasses      []struct {
		Name      string `json:"name"`
		Default   *bool  `json:"default,omitempty"`
		TLSConfig *struct {
			CAFile             string `json:"caFile,omitempty"`
			CertFile           string `json:"certFile,omitempty"`
			KeyFile            string `json:"keyFile,omitempty"`
			InsecureSkipVerify bool   `json:"insecureSkipVerify,omitempty"`
		} `json:"tlsConfig,omitempty"`
	} `json:"scrapeClasses,omitempty"`
}

// collectorSpec is the part of the OpenTelemetry operator's
// OpenTelemetryCollectorSpec (apis/v1beta1 at v0.158.0) the function writes.
type collectorSpec struct {
	PodAnnotations       map[string]string    `json:"podAnnotations,omitempty"`
	AdditionalContainers []corev1.Container   `json:"additionalContainers,omitempty"`
	InitContainers       []corev1.Container   `json:"initContainers,omitempty"`
	Volumes              []corev1.Volume      `json:"volumes,omitempty"`
	VolumeMounts         []corev1.VolumeMount `json:"volumeMounts,omitempty"`
}

// TestOperatorResourceTypes: what the function writes into a VMAgent and an
// OpenTelemetryCollector decodes strictly into the operators' types (fields
// copied from their Go types, the pod fields Kubernetes's own), and the
// certificates reach the operator's scraper container: the mount is in
// spec.volumeMounts, of a volume in spec.volumes. The operators' modules are
// not dependencies: the fields are mirrored here.
func TestOperatorResourceTypes(t *testing.T) {
	t.Parallel()
	n := 0
	for _, c := range goldenCases(t) {
		for _, it := range expectedItems(t, c.name) {
			var mounts []corev1.VolumeMount
			var volumes []corev1.Volume
			spec := it.Field("spec")
			if spec == nil {
				continue
			}
			b, err := spec.Value.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			switch it.GetKind() {
			case "VMAgent":
				var s vmagentSpec
				b = keepOnly(t, b, "podMetadata", "containers", "initContainers", "volumes", "volumeMounts", "inlineScrapeConfig", "scrapeClasses")
				if err := sigyaml.UnmarshalStrict(b, &s); err != nil {
					t.Errorf("%s: VMAgent spec: %v", c.name, err)
				}
				mounts, volumes = s.VolumeMounts, s.Volumes
			case "OpenTelemetryCollector":
				var s collectorSpec
				b = keepOnly(t, b, "podAnnotations", "additionalContainers", "initContainers", "volumes", "volumeMounts")
				if err := sigyaml.UnmarshalStrict(b, &s); err != nil {
					t.Errorf("%s: OpenTelemetryCollector spec: %v", c.name, err)
				}
				mounts, volumes = s.VolumeMounts, s.Volumes
			default:
				continue
			}
			n++
			for _, m := range mounts {
				if m.MountPath != "/etc/istio-certs" && m.MountPath != "/etc/istio-certs/" {
					continue
				}
				found := false
				for _, v := range volumes {
					found = found || v.Name == m.Name
				}
				if !found {
					t.Errorf("%s: %s mounts volume %q, which spec.volumes lacks", c.name, it.GetKind(), m.Name)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no VMAgent or OpenTelemetryCollector golden output")
	}
}

// keepOnly is the JSON object b with only fields keys.
func keepOnly(t *testing.T, b []byte, keys ...string) []byte {
	t.Helper()
	var m map[string]any
	if err := sigyaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for _, k := range keys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	j, err := sigyaml.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return j
}
