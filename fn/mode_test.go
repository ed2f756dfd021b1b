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
	t.Parallel()
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

// TestAmbientModeSwitches: ambient mode takes out everything the other modes added
// and only that. sidecar → ambient → sidecar gives the sidecar output exactly;
// injection → ambient and sidecar → ambient give what ambient gives on the
// untouched input; ambient → injection → ambient and re-runs change nothing, on
// every shared fixture with a Prometheus workload or resource.
func TestAmbientModeSwitches(t *testing.T) {
	t.Parallel()
	for _, fixture := range []string{"istio-addon-prometheus.yaml", "helm-prometheus.yaml", "kube-prometheus-prometheus.yaml",
		"vmagent-chart.yaml", "vmagent-operator-vmagent.yaml", "otel-collector-chart.yaml", "otel-operator-collector.yaml"} {
		t.Run(fixture, func(t *testing.T) {
			c := goldenCase{fixture, ""}
			assertModeSwitches(t, resourceList(t, c.inputFixture(t, fixture), nil))
		})
	}
}

// assertModeSwitches runs the mode switches on the ResourceList orig: ambient is
// idempotent; sidecar → ambient and injection → ambient give what ambient gives on
// orig and leave nothing of the function's; sidecar → ambient → sidecar gives the
// sidecar output back; ambient → injection → ambient changes nothing.
func assertModeSwitches(t *testing.T, orig []byte) {
	t.Helper()
	sidecar := cfg("  istio:\n    version: \"1.31\"\n")
	injection := cfg("  mode: injection\n  istio:\n    version: \"1.31\"\n")
	ambient := cfg("  mode: ambient\n  istio:\n    version: \"1.31\"\n")
	a0 := rerun(t, orig, ambient)
	if a, b := itemsOnly(t, a0), itemsOnly(t, rerun(t, a0, ambient)); a != b {
		t.Errorf("ambient is not idempotent:\n%s", lineDiff(a, b))
	}
	s1 := rerun(t, orig, sidecar)
	if a, b := itemsOnly(t, s1), itemsOnly(t, rerun(t, s1, sidecar)); a != b {
		t.Errorf("a sidecar re-run changed the output:\n%s", lineDiff(a, b))
	}
	a1 := rerun(t, s1, ambient)
	if a, b := itemsOnly(t, a0), itemsOnly(t, a1); a != b {
		t.Errorf("sidecar → ambient differs from ambient on the input:\n%s", lineDiff(a, b))
	}
	for _, gone := range []string{"name: istio-proxy", "name: istio-certs", "istio-prometheus-mtls:", "managed by istio-prometheus-mtls", "kind: Secret", "scrapeClasses", "istio_mtls_"} {
		if strings.Contains(itemsOnly(t, a1), gone) && !strings.Contains(itemsOnly(t, orig), gone) {
			t.Errorf("sidecar → ambient left %q behind", gone)
		}
	}
	if a, b := itemsOnly(t, s1), itemsOnly(t, rerun(t, a1, sidecar)); a != b {
		t.Errorf("sidecar → ambient → sidecar differs:\n%s", lineDiff(a, b))
	}
	i1 := rerun(t, orig, injection)
	if a, b := itemsOnly(t, a0), itemsOnly(t, rerun(t, i1, ambient)); a != b {
		t.Errorf("injection → ambient differs from ambient on the input:\n%s", lineDiff(a, b))
	}
	if a, b := itemsOnly(t, a0), itemsOnly(t, rerun(t, rerun(t, a0, injection), ambient)); a != b {
		t.Errorf("ambient → injection → ambient differs:\n%s", lineDiff(a, b))
	}
}

// TestAmbientRemovesScrapeConfig: a Prometheus whose additionalScrapeConfigs Secret
// is external gets its job in a ScrapeConfig resource; ambient mode deletes it, and
// switching back gives the sidecar output again.
func TestAmbientRemovesScrapeConfig(t *testing.T) {
	t.Parallel()
	c := goldenCase{"kube-prometheus-stack-external-secret", "../testdata/kube-prometheus-stack-external-secret"}
	orig := resourceList(t, c.input(t), nil)
	sidecar := cfg("  istio:\n    version: \"1.31\"\n")
	s1 := rerun(t, orig, sidecar)
	const ours = "name: kps-kube-prometheus-stack-prometheus-istio-mtls\n"
	if !strings.Contains(itemsOnly(t, s1), ours) {
		t.Fatal("sidecar mode wrote no ScrapeConfig")
	}
	a := rerun(t, s1, cfg("  mode: ambient\n  istio:\n    version: \"1.31\"\n"))
	if strings.Contains(itemsOnly(t, a), ours) {
		t.Error("ambient mode kept the ScrapeConfig it had written")
	}
	if x, y := itemsOnly(t, s1), itemsOnly(t, rerun(t, a, sidecar)); x != y {
		t.Errorf("sidecar → ambient → sidecar differs:\n%s", lineDiff(x, y))
	}
}

// TestRerunKeepsPlaceAndResults: the Secret the function creates for a Prometheus
// resource goes into the resource's kpt file after its last document, so kpt writes it
// there and every later render reads it from there, in the same place; a run on the
// function's own output (results and all) reports this run's results only.
func TestRerunKeepsPlaceAndResults(t *testing.T) {
	t.Parallel()
	prom := strings.Replace(string(goldenCase{"kube-prometheus-1.31", ""}.inputFixture(t, "kube-prometheus-prometheus.yaml")),
		"metadata:\n", "metadata:\n  annotations:\n    config.kubernetes.io/path: 'monitoring/prometheus.yaml'\n    config.kubernetes.io/index: '0'\n", 1)
	config := cfg("  istio:\n    version: \"1.31\"\n")
	first, err := runFn(resourceList(t, []byte(prom), []byte(config)))
	if err != nil {
		t.Fatalf("%v\n%s", err, first)
	}
	rl, err := fn.ParseResourceList(first)
	if err != nil {
		t.Fatal(err)
	}
	var secret *fn.KubeObject
	for _, it := range rl.Items {
		if it.GetKind() == "Secret" {
			secret = it
		}
	}
	if secret == nil || secret.GetAnnotation("config.kubernetes.io/path") != "monitoring/prometheus.yaml" || secret.GetAnnotation("config.kubernetes.io/index") != "1" {
		t.Fatalf("the created Secret is not placed after the Prometheus in its file: %v", secret)
	}
	// The whole output, results included, back through the function.
	again, err := runFn(first)
	if err != nil {
		t.Fatalf("%v\n%s", err, again)
	}
	rl2, err := fn.ParseResourceList(again)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rl2.Results {
		if strings.HasPrefix(r.Message, "created, referenced by spec.additionalScrapeConfigs") {
			t.Errorf("the re-run carries the first run's results along: %s", r.Message)
		}
	}
	if itemsOnly(t, first) != itemsOnly(t, again) {
		t.Errorf("the re-run moved or changed items:\n%s", lineDiff(itemsOnly(t, first), itemsOnly(t, again)))
	}
}
