package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/internal/checks"
	"github.com/kptdev/krm-functions-sdk/go/fn"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary builds the function exactly as the Dockerfile's build stage does, at
// bin/istio-prometheus-mtls, where the examples' exec configs point.
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := filepath.Abs("../bin")
		if err == nil {
			err = os.MkdirAll(dir, 0o755)
		}
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "istio-prometheus-mtls")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=test", "-o", binPath, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = err
			binPath = string(out)
		}
	})
	if binErr != nil {
		t.Fatalf("build: %v\n%s", binErr, binPath)
	}
	return binPath
}

func runBinary(t *testing.T, stdin []byte, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

func TestBinarySuccessAndFailure(t *testing.T) {
	t.Parallel()
	c := goldenCase{"istio-addon-default", "../testdata/istio-addon-default"}
	in := resourceList(t, c.input(t), nil)
	out, stderr, code := runBinary(t, in)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	want, _ := os.ReadFile("../testdata/istio-addon-default/expected.yaml")
	if out != string(want) {
		t.Errorf("the binary's output differs from the in-process golden output:\n%s", lineDiff(string(want), out))
	}

	bad := resourceList(t, c.input(t), []byte("apiVersion: fn.istio-prometheus-mtls.dev/v1alpha1\nkind: PrometheusMTLS\nmetadata: {name: x}\nspec:\n  istio:\n    version: \"1.4\"\n"))
	out, stderr, code = runBinary(t, bad)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "Istio 1.4 is not supported") {
		t.Errorf("stderr is not a one-line summary: %q", stderr)
	}
	assertInputUntouched(t, bad, []byte(out))
	rl, err := fn.ParseResourceList([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(rl.Results) != 1 || rl.Results[0].Severity != fn.Error || rl.Results[0].Field.Path != "spec.istio.version" {
		t.Errorf("results = %v", rl.Results)
	}

	if _, _, code := runBinary(t, []byte("not: [valid")); code != 1 {
		t.Errorf("malformed input: exit %d, want 1", code)
	}
	if out, _, code := runBinary(t, nil, "--help"); code != 0 || !strings.Contains(out, "kind: PrometheusMTLS") {
		t.Errorf("--help: exit %d\n%s", code, out)
	}
}

// TestKptEval runs the demo through the real kpt, as docs/clients.md shows, and an error
// case: kpt prints our result and exits non-zero.
func TestKptEval(t *testing.T) {
	t.Parallel()
	kpt := tool(t, "kpt", "kpt 1.0.0-beta.56 ships at /usr/bin/kpt")
	pkg := t.TempDir()
	src, err := os.ReadFile("../examples/demo/package/istio-addon-prometheus.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pkg, "prometheus.yaml"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(kpt, "fn", "eval", pkg, "--exec", binary(t), "--fn-config", "../examples/demo/fn-config.yaml", "-o", "unwrap").Output()
	if err != nil {
		t.Fatalf("kpt fn eval: %v", err)
	}
	items, err := checks.Items(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := checks.Workloads(items); err != nil {
		t.Error(err)
	}
	if !strings.Contains(string(out), "name: istio-proxy") || !strings.Contains(string(out), "job_name: kubernetes-pods-istio-secure") {
		t.Error("kpt output lacks the sidecar or the job")
	}

	// A release newer than the table runs with the newest profile and a warning.
	cmd := exec.Command(kpt, "fn", "eval", pkg, "--exec", binary(t), "-o", "unwrap", "--", "istio-version=1.99", "target-name=prometheus")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if out, err := cmd.Output(); err != nil || !strings.Contains(string(out), "image: docker.io/istio/proxyv2:1.99.0") {
		t.Fatalf("kpt fn eval with istio-version=1.99: %v\n%s\n%s", err, stderr.String(), out)
	}
	if !strings.Contains(stderr.String(), "[warning]") || !strings.Contains(stderr.String(), "Istio 1.99 is newer than the newest profile") {
		t.Errorf("kpt output lacks our warning:\n%s", stderr.String())
	}

	cmd = exec.Command(kpt, "fn", "eval", pkg, "--exec", binary(t), "-o", "unwrap", "--", "istio-version=1.4", "target-name=prometheus")
	stderr.Reset()
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		t.Fatal("kpt fn eval with istio-version=1.4 succeeded")
	}
	if !strings.Contains(stderr.String(), "Istio 1.4 is not supported") {
		t.Errorf("kpt output lacks our message:\n%s", stderr.String())
	}
	after, _ := os.ReadFile(filepath.Join(pkg, "prometheus.yaml"))
	if !bytes.Equal(after, src) {
		t.Error("kpt fn eval -o unwrap changed the package")
	}
}
