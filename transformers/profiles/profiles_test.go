package profiles

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/kyaml/kio"
	sigyaml "sigs.k8s.io/yaml"
)

// anchorsDir holds what Istio's injector renders per version (shared/anchors).
const anchorsDir = "../../../shared/anchors"

// Only for traffic capture or derived from the app's own pod: not ours to copy.
var captureOnlyEnv = map[string]bool{
	"ISTIO_META_INTERCEPTION_MODE": true, "ISTIO_META_POD_PORTS": true, "ISTIO_META_APP_CONTAINERS": true,
	"ISTIO_KUBE_APP_PROBERS": true, "ISTIO_METAJSON_ANNOTATIONS": true,
	// Read from labels the injector adds (service.istio.io/canonical-*), which a
	// hand-added sidecar does not get.
	"CANONICAL_SERVICE": true, "CANONICAL_REVISION": true,
}

// anchorProxy returns the anchor's istio-proxy, its volumes, and whether it is an
// init container (a native sidecar). A native istio-proxy must come right after
// the capture-only istio-init, that is first of what is ours to copy.
func anchorProxy(t *testing.T, version string) (corev1.Container, []corev1.Volume, bool) {
	t.Helper()
	f, err := os.Open(filepath.Join(anchorsDir, "kube-inject-"+version+".yaml"))
	if err != nil {
		t.Fatalf("anchor: %v (the tests expect ../shared beside the checkout)", err)
	}
	defer f.Close()
	nodes, err := (&kio.ByteReader{Reader: f, OmitReaderAnnotations: true}).Read()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.GetKind() != "Deployment" {
			continue
		}
		b, _ := n.MarshalJSON()
		var d struct {
			Spec struct {
				Template corev1.PodTemplateSpec `json:"template"`
			} `json:"spec"`
		}
		if err := sigyaml.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.Name == ContainerName {
				return c, d.Spec.Template.Spec.Volumes, false
			}
		}
		var others []string
		for _, c := range d.Spec.Template.Spec.InitContainers {
			if c.Name == ContainerName {
				if len(others) > 1 || len(others) == 1 && others[0] != "istio-init" {
					t.Fatalf("native istio-proxy comes after %v", others)
				}
				return c, d.Spec.Template.Spec.Volumes, true
			}
			others = append(others, c.Name)
		}
	}
	t.Fatal("no istio-proxy in anchor")
	return corev1.Container{}, nil, false
}

// core converts what Build made into k8s.io/api types, strictly: a field the
// upstream type does not have fails the test.
func core(t *testing.T, in, out any) {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		t.Fatalf("%s does not decode into %T: %v", b, out, err)
	}
}

// build returns the sidecar of version as k8s.io/api types.
func build(t *testing.T, version string, native bool) (c corev1.Container, vols []corev1.Volume) {
	s := buildLocal(t, version, native)
	core(t, s.Container, &c)
	core(t, s.Volumes, &vols)
	return c, vols
}

func buildLocal(t *testing.T, version string, native bool) Sidecar {
	t.Helper()
	var minor int
	for _, c := range strings.Split(version, ".")[1] {
		minor = minor*10 + int(c-'0')
	}
	p, ok := lookup(minor)
	if !ok {
		t.Fatalf("no profile for %s", version)
	}
	s, err := p.Build(Params{
		Image: "img", PullPolicy: corev1.PullIfNotPresent, Namespace: "istio-system",
		TrustDomain: "cluster.local", MeshID: "cluster.local", ClusterID: "Kubernetes", Envoy: true,
		Native: native, CertVolume: "istio-certs", Owner: Owner{APIVersion: "apps/v1", Kind: "Deployment", Name: "prometheus"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestProfilesFollowAnchors compares each profile with what Istio's own injector
// renders for a version it covers: args, environment (names, order and static
// values), ports, probes, mounts and volumes, minus what exists for traffic
// capture.
func TestProfilesFollowAnchors(t *testing.T) {
	for _, v := range []string{"1.10.0", "1.18.0", "1.22.0", "1.30.0", "1.31.0-rc.0", "1.28.0-native", "1.31.0-rc.0-native"} {
		t.Run(v, func(t *testing.T) {
			want, wantVols, native := anchorProxy(t, v)
			if native != strings.HasSuffix(v, "-native") {
				t.Fatalf("istio-proxy is an init container: %v", native)
			}
			got, gotVols := build(t, v, native)
			if !reflect.DeepEqual(got.RestartPolicy, want.RestartPolicy) {
				t.Errorf("restartPolicy: got %v want %v", got.RestartPolicy, want.RestartPolicy)
			}
			if !reflect.DeepEqual(got.Lifecycle, want.Lifecycle) {
				t.Errorf("lifecycle:\n got %+v\nwant %+v", got.Lifecycle, want.Lifecycle)
			}

			wantArgs := append([]string{}, want.Args...)
			if len(wantArgs) > 0 && v == "1.10.0" {
				// --serviceCluster is app.namespace in the injector; ours names the workload.
				for i, a := range wantArgs {
					if a == "--serviceCluster" {
						wantArgs[i+1] = "prometheus.$(POD_NAMESPACE)"
					}
				}
			}
			if !reflect.DeepEqual(got.Args, wantArgs) {
				t.Errorf("args:\n got %q\nwant %q", got.Args, wantArgs)
			}

			var wantEnv []corev1.EnvVar
			for _, e := range want.Env {
				if !captureOnlyEnv[e.Name] {
					wantEnv = append(wantEnv, e)
				}
			}
			gotNames, wantNames := envNames(got.Env), envNames(wantEnv)
			if !reflect.DeepEqual(gotNames, wantNames) {
				t.Errorf("env names:\n got %v\nwant %v", gotNames, wantNames)
			}
			for _, e := range wantEnv {
				g := findEnv(got.Env, e.Name)
				if g == nil {
					continue
				}
				switch e.Name {
				case "ISTIO_META_OWNER":
					// The injector knows the namespace; a manifest may not (kustomize sets
					// it later), so ours reads it from the pod.
					if want := strings.Replace(e.Value, "/istio-system/", "/$(POD_NAMESPACE)/", 1); g.Value != want {
						t.Errorf("ISTIO_META_OWNER = %s, want %s", g.Value, want)
					}
				case "PROXY_CONFIG":
					// The injector only writes non-default mesh settings; ours always
					// names the discovery address (no injector fills it in).
					if !strings.Contains(g.Value, `"proxyMetadata":{"OUTPUT_CERTS":"/etc/istio-output-certs"}`) || !strings.Contains(g.Value, `"discoveryAddress":"istiod.istio-system.svc:15012"`) {
						t.Errorf("PROXY_CONFIG = %s", g.Value)
					}
				default:
					if !reflect.DeepEqual(*g, e) {
						t.Errorf("env %s:\n got %+v\nwant %+v", e.Name, *g, e)
					}
				}
			}
			if !reflect.DeepEqual(got.Ports, want.Ports) {
				t.Errorf("ports: got %+v want %+v", got.Ports, want.Ports)
			}
			if !reflect.DeepEqual(got.ReadinessProbe, want.ReadinessProbe) {
				t.Errorf("readiness:\n got %+v\nwant %+v", got.ReadinessProbe, want.ReadinessProbe)
			}
			if !reflect.DeepEqual(got.StartupProbe, want.StartupProbe) {
				t.Errorf("startup:\n got %+v\nwant %+v", got.StartupProbe, want.StartupProbe)
			}
			if !reflect.DeepEqual(got.VolumeMounts, want.VolumeMounts) {
				t.Errorf("mounts:\n got %+v\nwant %+v", got.VolumeMounts, want.VolumeMounts)
			}
			// Every volume istio-proxy mounts is defined as the injector defines it
			// (the injector leaves socket emptyDirs without a source: we write emptyDir: {}).
			vols := map[string]corev1.Volume{}
			for _, vol := range wantVols {
				vols[vol.Name] = vol
			}
			for _, vol := range gotVols {
				w, ok := vols[vol.Name]
				if !ok {
					t.Errorf("volume %s not in the anchor", vol.Name)
					continue
				}
				if w.VolumeSource == (corev1.VolumeSource{}) {
					w.VolumeSource.EmptyDir = &corev1.EmptyDirVolumeSource{}
				}
				if vol.Name == "istio-podinfo" && v == "1.10.0" {
					continue // 1.10 also projected cpu-limit/cpu-request of istio-proxy
				}
				if !reflect.DeepEqual(vol.VolumeSource, w.VolumeSource) {
					t.Errorf("volume %s:\n got %+v\nwant %+v", vol.Name, vol.VolumeSource, w.VolumeSource)
				}
			}
			sc := got.SecurityContext
			if *sc.RunAsUser != 1337 || *sc.RunAsGroup != 1337 || !*sc.RunAsNonRoot || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || sc.SeccompProfile == nil {
				t.Errorf("securityContext: %+v", sc)
			}
		})
	}
}

func envNames(env []corev1.EnvVar) []string {
	var out []string
	for _, e := range env {
		out = append(out, e.Name)
	}
	return out
}

func findEnv(env []corev1.EnvVar, name string) *corev1.EnvVar {
	for i := range env {
		if env[i].Name == name {
			return &env[i]
		}
	}
	return nil
}

func TestLookupCoversEveryMinorOnce(t *testing.T) {
	for minor := 0; minor <= 40; minor++ {
		n := 0
		for _, p := range Table {
			if minor >= p.MinMinor && minor <= p.MaxMinor {
				n++
			}
		}
		_, ok := lookup(minor)
		if n > 1 || (n == 1) != ok {
			t.Errorf("1.%d is covered by %d profiles", minor, n)
		}
	}
	if _, ok := lookup(4); ok {
		t.Error("1.4 must be unsupported")
	}
}

func TestNoEnvoy(t *testing.T) {
	p, _ := lookup(28)
	s, err := p.Build(Params{Envoy: false, CertVolume: "c", Namespace: "istio-system"})
	if err != nil {
		t.Fatal(err)
	}
	var c corev1.Container
	core(t, s.Container, &c)
	if c.ReadinessProbe.HTTPGet.Port.IntValue() != 15020 || len(c.Ports) != 0 || findEnv(c.Env, "DISABLE_ENVOY") == nil {
		t.Errorf("envoy: false: %+v", s.Container)
	}
	old, _ := lookup(6)
	if _, err := old.Build(Params{Envoy: false}); err == nil || !strings.Contains(err.Error(), "DISABLE_ENVOY") {
		t.Errorf("1.6 profile without Envoy: err = %v", err)
	}
}

// TestAgentOnlySince: the table's NoEnvoy is AgentOnlySince, row by row.
func TestAgentOnlySince(t *testing.T) {
	for _, p := range Table {
		if want := p.MinMinor >= AgentOnlySince; p.NoEnvoy != want || (p.MinMinor < AgentOnlySince && p.MaxMinor >= AgentOnlySince) {
			t.Errorf("profile %s (1.%d–1.%d): NoEnvoy %v, but the agent keeps the certificates alone from 1.%d", p.Name, p.MinMinor, p.MaxMinor, p.NoEnvoy, AgentOnlySince)
		}
	}
}

// TestHold: the classic form's hold is Istio's `pilot-agent wait` postStart hook
// on the URL the startup probe asks (the readiness probe's where there is none),
// waiting as long as the native form's startup budget; the native form has none.
func TestHold(t *testing.T) {
	for _, c := range []struct {
		minor int
		envoy bool
		url   string
	}{
		{31, false, "http://localhost:15020/healthz/ready"},
		{31, true, "http://localhost:15021/healthz/ready"},
		{10, true, "http://localhost:15021/healthz/ready"},
	} {
		p, _ := lookup(c.minor)
		s, err := p.Build(Params{Envoy: c.envoy, Hold: true, CertVolume: "c"})
		if err != nil {
			t.Fatal(err)
		}
		l := s.Container.Lifecycle
		want := []string{"pilot-agent", "wait", "--url=" + c.url, "--timeoutSeconds=600"}
		if l == nil || l.PostStart == nil || l.PostStart.Exec == nil || !slices.Equal(l.PostStart.Exec.Command, want) {
			t.Errorf("1.%d envoy=%v: lifecycle %+v, want postStart %v", c.minor, c.envoy, l, want)
		}
		if g := s.Container.StartupProbe; g != nil && g.PeriodSeconds*g.FailureThreshold != HoldTimeoutSeconds {
			t.Errorf("1.%d: the startup budget is %d s, the hold %d s", c.minor, g.PeriodSeconds*g.FailureThreshold, HoldTimeoutSeconds)
		}
		native, _ := p.Build(Params{Envoy: c.envoy, Hold: true, Native: true, CertVolume: "c"})
		if l := native.Container.Lifecycle; l != nil && l.PostStart != nil {
			t.Errorf("1.%d native: a postStart hook %+v", c.minor, l.PostStart)
		}
	}
}
