package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestMakeDemo runs `make demo` as a newcomer with only Go and make would: PATH
// holds nothing else (no kpt, no docker, no git), and the output is the unified
// diff of the package plus the results in words.
func TestMakeDemo(t *testing.T) {
	only := t.TempDir()
	for _, name := range []string{"go", "make"} {
		p, err := exec.LookPath(name)
		if err != nil {
			t.Fatalf("%s is needed for make demo: %v", name, err)
		}
		if err := os.Symlink(p, filepath.Join(only, name)); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(filepath.Join(only, "make"), "--no-print-directory", "demo")
	cmd.Dir = ".."
	cmd.Env = []string{"PATH=" + only, "HOME=" + os.Getenv("HOME")}
	for _, k := range []string{"GOPATH", "GOCACHE", "GOMODCACHE", "GOFLAGS", "GOPROXY", "GONOSUMDB", "GOTOOLCHAIN"} {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	for _, absent := range []string{"kpt", "docker", "kustomize"} {
		if _, err := os.Stat(filepath.Join(only, absent)); err == nil {
			t.Fatalf("%s is on the demo's PATH", absent)
		}
	}
	pkg := snapshot(t, "../examples/demo")
	b, err := cmd.CombinedOutput()
	out := string(b)
	if err != nil {
		t.Fatalf("make demo: %v\n%s", err, out)
	}
	for what, re := range map[string]string{
		"the file header":                 `(?m)^--- a/istio-addon-prometheus\.yaml\n\+\+\+ b/istio-addon-prometheus\.yaml$`,
		"the istio-proxy container added": `(?m)^\+\s+- name: istio-proxy$`,
		"the proxy image of the newest":   `(?m)^\+\s+image: docker\.io/istio/proxyv2:1\.31\.0$`,
		"the certificate mount added":     `(?m)^\+\s+mountPath: /etc/istio-certs$`,
		"the https job added":             `(?m)^\+\s+- job_name: kubernetes-pods-istio-secure\b`,
		"its scheme":                      `(?m)^\+\s+scheme: https$`,
		"its tls_config":                  `(?m)^\+\s+ca_file: /etc/istio-certs/root-cert\.pem$`,
		"the results in words":            `(?m)^Results \(3\):$`,
		"the assumed version":             `(?m)^  info \[PrometheusMTLS prometheus-mtls spec\.istio\.version\]: istio\.version not set: assuming 1\.31`,
		"what was done to the workload":   `(?m)^  info \[Deployment istio-system/prometheus spec\.template\]: istio-proxy sidecar in spec\.initContainers`,
		"unchanged lines as context":      `(?m)^ \s+regex: true$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("make demo shows no %s (%s):\n%s", what, re, out)
		}
	}
	// Only the diff: the untouched Service is not printed, and no colour off a terminal.
	if strings.Contains(out, "kind: Service\n") || strings.Contains(out, "\x1b[") {
		t.Errorf("make demo printed more than the change:\n%s", out)
	}
	// The package itself is not written to.
	if !equalMaps(pkg, snapshot(t, "../examples/demo")) {
		t.Error("make demo wrote into examples/demo")
	}
}
