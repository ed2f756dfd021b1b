package plan

import (
	"errors"
	"slices"
	"testing"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/config"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/profiles"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

func parse(t *testing.T, spec string) *config.PrometheusMTLS {
	t.Helper()
	cfg, err := config.Parse(yaml.MustParse("apiVersion: fn.istio-prometheus-mtls.dev/v1alpha1\nkind: PrometheusMTLS\nmetadata: {name: c}\nspec:\n" + spec))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newPlan(t *testing.T, spec string, target Target) Plan {
	t.Helper()
	cfg := parse(t, spec)
	istio, err := ChooseIstio(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(cfg, istio, target)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var deployment = Target{Owner: profiles.Owner{APIVersion: "apps/v1", Kind: "Deployment", Name: "prometheus"}, Container: "prometheus-server"}

// TestMountPathReachesEveryWriter: spec.certificates.mountPath is Certs.MountPath
// for each of its writers (the mount, the scrape job, the scrape class), and the
// volume the mount names is the sidecar's certificate volume.
func TestMountPathReachesEveryWriter(t *testing.T) {
	for _, mode := range []string{"sidecar", "injection"} {
		p := newPlan(t, "  mode: "+mode+"\n  certificates: {volumeName: mesh-certs, mountPath: /var/run/mesh/}\n", deployment)
		want := config.Certificates{VolumeName: "mesh-certs", MountPath: "/var/run/mesh"}
		m := p.Pod.Mounts[0]
		if p.Certs != want || p.Scrape.Certs != want || p.Class.Certs != want {
			t.Errorf("%s: Certs %+v, Scrape.Certs %+v, Class.Certs %+v", mode, p.Certs, p.Scrape.Certs, p.Class.Certs)
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
	if p.Injection == nil || p.Injection.Revision != "canary" || p.Injection.CertVolume != "istio-certs" || p.Injection.OutputCertsDir != p.Sidecar.OutputCertsDir {
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
	istio, err := ChooseIstio(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(cfg, istio, deployment)
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
		istio, err := ChooseIstio(parse(t, c.spec))
		if err != nil {
			t.Fatal(err)
		}
		if istio.Native != c.native || istio.Newer != c.newer || (c.profile != "" && istio.Profile.Name != c.profile) || istio.NativeWhy == "" {
			t.Errorf("%s: %+v", c.spec, istio)
		}
	}
	if _, err := ChooseIstio(parse(t, "  istio: {version: \"1.4\"}\n")); err == nil {
		t.Error("1.4 is not supported")
	}
}
