package main

import (
	"strings"
	"testing"

	"github.com/kptdev/krm-functions-sdk/go/fn"
)

// rerun runs the function on the items of an earlier output with another config.
func rerun(t *testing.T, prev []byte, config string) []byte {
	t.Helper()
	rl, err := fn.ParseResourceList(prev)
	if err != nil {
		t.Fatal(err)
	}
	s, err := fn.WriteKubeObjectsToString(rl.Items)
	if err != nil {
		t.Fatal(err)
	}
	out, err := runFn(resourceList(t, []byte(s), []byte(config)))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return out
}

// TestModeSwitchRoundTrips: sidecar → injection → sidecar gives the sidecar output
// exactly, and injection → sidecar → injection the injection output, on every
// shared fixture with a workload.
func TestModeSwitchRoundTrips(t *testing.T) {
	sidecar := cfg("  istio:\n    version: \"1.28\"\n")
	injection := cfg("  mode: injection\n  istio:\n    version: \"1.28\"\n")
	nativeInjection := cfg("  mode: injection\n  istio:\n    version: \"1.28\"\n    nativeSidecar: true\n")
	for _, fixture := range []string{"istio-addon-prometheus.yaml", "helm-prometheus.yaml"} {
		t.Run(fixture, func(t *testing.T) {
			c := goldenCase{fixture, ""}
			in := c.inputFixture(t, fixture)
			s1 := rerun(t, resourceList(t, in, nil), sidecar)
			i1 := rerun(t, s1, injection)
			s2 := rerun(t, i1, sidecar)
			if a, b := itemsOnly(t, s1), itemsOnly(t, s2); a != b {
				t.Errorf("sidecar → injection → sidecar differs:\n%s", lineDiff(a, b))
			}
			if strings.Contains(itemsOnly(t, i1), "name: istio-proxy") {
				t.Error("injection mode kept our istio-proxy container")
			}
			i2 := rerun(t, s2, injection)
			if a, b := itemsOnly(t, i1), itemsOnly(t, i2); a != b {
				t.Errorf("injection → sidecar → injection differs:\n%s", lineDiff(a, b))
			}
			n := rerun(t, i2, nativeInjection)
			if !strings.Contains(itemsOnly(t, n), `sidecar.istio.io/nativeSidecar: "true"`) {
				t.Error("native sidecar annotation missing")
			}
			if a, b := itemsOnly(t, rerun(t, n, injection)), itemsOnly(t, i1); a != b {
				t.Errorf("switching nativeSidecar off did not restore:\n%s", lineDiff(a, b))
			}
		})
	}
}
