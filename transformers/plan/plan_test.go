package plan

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/config"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/profiles"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

func parse(t *testing.T, spec string) *config.PrometheusMTLS {
	t.Helper()
	cfg, _, err := config.Parse(yaml.MustParse("apiVersion: fn.istio-prometheus-mtls.dev/v1alpha1\nkind: PrometheusMTLS\nmetadata: {name: c}\nspec:\n" + spec))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newPlan(t *testing.T, spec string, target Target) Plan {
	t.Helper()
	cfg := parse(t, spec)
	p, err := New(cfg, target)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var deployment = Target{Owner: profiles.Owner{APIVersion: "apps/v1", Kind: "Deployment", Name: "prometheus"}, Container: "prometheus-server"}

// TestPlanCarriesTheCertificateLocation: spec.certificates (its mountPath
// cleaned) is in the plan for each writer that uses it: the mount, the scrape
// jobs' and the scrape class's directory; and the volume the mount names is the
// sidecar's certificate volume. TestMountPathInOutput follows it into the output.
func TestPlanCarriesTheCertificateLocation(t *testing.T) {
	for _, mode := range []string{"sidecar", "injection"} {
		p := newPlan(t, "  mode: "+mode+"\n  certificates: {volumeName: mesh-certs, mountPath: /var/run/mesh/}\n", deployment)
		want := config.Certificates{VolumeName: "mesh-certs", MountPath: "/var/run/mesh"}
		m := p.Pod.Mounts[0]
		if p.Scrape.CertsDir != want.MountPath || p.Class.CertsDir != want.MountPath {
			t.Errorf("%s: Scrape.CertsDir %q, Class.CertsDir %q", mode, p.Scrape.CertsDir, p.Class.CertsDir)
		}
		if len(p.Pod.Mounts) != 1 || m.Container != "prometheus-server" || m.Name != want.VolumeName || m.MountPath != want.MountPath || !m.ReadOnly {
			t.Errorf("%s: mounts %+v", mode, p.Pod.Mounts)
		}
		last := p.Pod.Volumes[len(p.Pod.Volumes)-1]
		if last.Name != want.VolumeName || last.EmptyDir == nil || last.EmptyDir.Medium != "Memory" {
			t.Errorf("%s: certificate volume %+v", mode, last)
		}
	}
}

func TestModes(t *testing.T) {
	p := newPlan(t, "  istio: {version: \"1.31\"}\n", deployment)
	if p.Injection != nil || len(p.Pod.InitContainers) != 1 || len(p.Pod.Containers) != 0 || p.Pod.Labels["sidecar.istio.io/inject"] != "false" || p.Pod.Forbid != nil {
		t.Errorf("native sidecar: %+v", p.Pod)
	}
	if c := p.Pod.InitContainers[0]; c.Name != profiles.ContainerName || !hasEnv(c.Env, "ISTIO_META_OWNER", "kubernetes://apis/apps/v1/namespaces/$(POD_NAMESPACE)/deployments/prometheus") {
		t.Errorf("sidecar %s, env %+v", c.Name, c.Env)
	}
	p = newPlan(t, "  istio: {version: \"1.26\"}\n", deployment)
	if len(p.Pod.Containers) != 1 || len(p.Pod.InitContainers) != 0 {
		t.Errorf("classic sidecar: %+v", p.Pod)
	}
	p = newPlan(t, "  mode: injection\n  istio: {version: \"1.31\", revision: canary}\n", deployment)
	if p.Injection == nil || p.Injection.Revision != "canary" || p.Injection.CertVolume != "istio-certs" || p.Injection.OutputCertsDir != "/etc/istio-output-certs" {
		t.Errorf("injection options %+v", p.Injection)
	}
	if len(p.Pod.Containers)+len(p.Pod.InitContainers) != 0 || len(p.Pod.Volumes) != 1 || p.Pod.Forbid[profiles.ContainerName] == "" || p.Pod.Labels != nil {
		t.Errorf("injection pod edit %+v", p.Pod)
	}
}

func hasEnv(env []corev1.EnvVar, name, value string) bool {
	return slices.ContainsFunc(env, func(e corev1.EnvVar) bool { return e.Name == name && e.Value == value })
}

func TestEnvoyChoiceIsAConfigError(t *testing.T) {
	cfg := parse(t, "  istio: {version: \"1.10\", envoy: false}\n")
	_, err := New(cfg, deployment)
	var e *krmerr.Error
	if !errors.As(err, &e) || !e.Config || e.Field != "spec.istio.envoy" {
		t.Errorf("err = %#v", err)
	}
}

func TestChooseIstio(t *testing.T) {
	for _, c := range []struct {
		spec          string
		native, newer bool
		profile       string
	}{
		{"  istio: {version: \"1.26\"}\n", false, false, ""},
		{"  istio: {version: \"1.27\"}\n", true, false, ""},
		{"  istio: {version: \"1.31\", nativeSidecar: false}\n", false, false, "1.29"},
		{"  istio: {version: \"1.26\", nativeSidecar: true}\n", true, false, ""},
		{"  istio: {version: \"1.40\"}\n", true, true, profiles.Newest().Name},
	} {
		istio, err := chooseIstio(parse(t, c.spec).Spec.Istio)
		if err != nil {
			t.Fatal(err)
		}
		if istio.Native != c.native || istio.Newer != c.newer || (c.profile != "" && istio.Profile.Name != c.profile) || istio.NativeWhy == "" {
			t.Errorf("%s: %+v", c.spec, istio)
		}
		if (istio.Warning() != "") != c.newer {
			t.Errorf("%s: warning %q", c.spec, istio.Warning())
		}
	}
	if _, err := New(parse(t, "  istio: {version: \"1.4\"}\n"), deployment); err == nil {
		t.Error("1.4 is not supported")
	}
	for spec, image := range map[string]string{
		"  istio: {version: \"1.31\"}\n":                                "docker.io/istio/proxyv2:1.31.0",
		"  istio: {version: \"1.28.3\"}\n":                              "docker.io/istio/proxyv2:1.28.3",
		"  istio: {version: \"1.28\", proxyImage: \"r.example/p:x\"}\n": "r.example/p:x",
	} {
		if istio, _ := chooseIstio(parse(t, spec).Spec.Istio); istio.Image != image {
			t.Errorf("%s: image %q, want %q", spec, istio.Image, image)
		}
	}
}

// TestHold: the classic sidecar of a pod template is held (istio-proxy first,
// its postStart hook); not the native one, not prometheus-operator's (its
// containers come before ours), not before pilot-agent has `wait` (1.7).
func TestHold(t *testing.T) {
	operatorView := Target{Owner: deployment.Owner}
	for _, c := range []struct {
		spec   string
		target Target
		hold   bool
	}{
		{"  istio: {version: \"1.31\", nativeSidecar: false}\n", deployment, true},
		{"  istio: {version: \"1.7\"}\n", deployment, true},
		{"  istio: {version: \"1.6\"}\n", deployment, false},
		{"  istio: {version: \"1.31\"}\n", deployment, false},
		{"  istio: {version: \"1.31\", nativeSidecar: false}\n", operatorView, false},
	} {
		p := newPlan(t, c.spec, c.target)
		hooked := false
		for _, ct := range p.Pod.Containers {
			hooked = hooked || (ct.Lifecycle != nil && ct.Lifecycle.PostStart != nil)
		}
		if p.Istio.Hold != c.hold || p.Pod.ContainersFirst != c.hold || hooked != c.hold {
			t.Errorf("%s container %q: hold %v, first %v, postStart %v; want %v", c.spec, c.target.Container, p.Istio.Hold, p.Pod.ContainersFirst, hooked, c.hold)
		}
		if classic := len(p.Pod.Containers) > 0; classic && !strings.Contains(p.Summary("x", ""), p.Istio.HoldWhy) || classic && p.Istio.HoldWhy == "" {
			t.Errorf("%s: the summary does not say what holds Prometheus back: %q", c.spec, p.Summary("x", ""))
		}
	}
}
