package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// This file sorts before the others that start parallel tests: TestDist, the
// longest, is released into the pool first.

// TestDist runs `make dist`'s script twice, the second time for this platform
// only: its binary, plugin archive and the schema are byte for byte the same
// (SHA256SUMS); each binary says, in its build information, the platform it was
// built for; the linux/amd64 one runs a golden case of each outcome as the
// in-process function does; each plugin archive holds the binary of its
// platform.
func TestDist(t *testing.T) {
	t.Parallel() // a subprocess does the work: it overlaps with the others
	run := func(dir string, env ...string) string {
		cmd := exec.Command("bash", "hack/dist.sh")
		cmd.Dir = ".."
		cmd.Env = append(append(os.Environ(), "DIST="+dir, "VERSION=v9.8.7"), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("hack/dist.sh: %v\n%s", err, out)
		}
		b, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	a, b := t.TempDir(), t.TempDir()
	sumsA, sumsB := run(a), run(b, "PLATFORMS=linux/amd64")
	if n := strings.Count(sumsB, "\n"); n != 3 {
		t.Fatalf("one platform's dist has %d files, want 3:\n%s", n, sumsB)
	}
	for _, l := range strings.SplitAfter(sumsB, "\n") {
		if !strings.Contains(sumsA, l) {
			t.Errorf("two runs differ: %q is not in\n%s", l, sumsA)
		}
	}
	platforms := []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64"}
	for _, p := range platforms {
		os_, arch, _ := strings.Cut(p, "/")
		exe := "istio-prometheus-mtls-" + os_ + "-" + arch
		if os_ == "windows" {
			exe += ".exe"
		}
		for _, f := range []string{exe, "istio-prometheus-mtls-9.8.7-" + os_ + "-" + arch + ".tgz"} {
			if !strings.Contains(sumsA, "  "+f+"\n") {
				t.Errorf("SHA256SUMS lacks %s", f)
			}
		}
		out, err := exec.Command("go", "version", "-m", filepath.Join(a, exe)).CombinedOutput()
		if err != nil {
			t.Fatalf("go version -m %s: %v\n%s", exe, err, out)
		}
		for _, want := range []string{"\tbuild\tGOOS=" + os_ + "\n", "\tbuild\tGOARCH=" + arch + "\n", "\tbuild\t-trimpath=true\n"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("%s: build information lacks %q:\n%s", exe, strings.TrimSpace(want), out)
			}
		}
		// The plugin archive carries the same binary.
		archive := filepath.Join(a, "istio-prometheus-mtls-9.8.7-"+os_+"-"+arch+".tgz")
		listing, err := exec.Command("tar", "tzf", archive).CombinedOutput()
		name := "istio-prometheus-mtls/istio-prometheus-mtls"
		if os_ == "windows" {
			name += ".exe"
		}
		if err != nil || !strings.Contains(string(listing), name+"\n") || !strings.Contains(string(listing), "istio-prometheus-mtls/plugin.yaml\n") {
			t.Errorf("%s: %v\n%s", archive, err, listing)
		}
		inside, err := exec.Command("tar", "xzOf", archive, name).Output()
		bin, _ := os.ReadFile(filepath.Join(a, exe))
		if err != nil || !bytes.Equal(inside, bin) {
			t.Errorf("%s does not hold %s: %v", archive, exe, err)
		}
	}
	if !strings.Contains(sumsA, "  prometheusmtls.schema.json\n") {
		t.Error("SHA256SUMS lacks the schema")
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return
	}
	// The release binary of this platform carries the version and passes the
	// golden cases.
	bin := filepath.Join(a, "istio-prometheus-mtls-linux-amd64")
	if out, err := exec.Command(bin, "--version").Output(); err != nil || string(out) != "v9.8.7\n" {
		t.Errorf("--version: %q, %v", out, err)
	}
	// The binary adds nothing to the in-process function but its main: a case
	// that succeeds, and one that fails, show it.
	cmd := exec.Command(bin)
	cmd.Stdin = strings.NewReader(string(resourceList(t, []byte(deploy+"---\n"+configMap), []byte(cfg("  nope: 1\n")))))
	if out, err := cmd.Output(); err == nil || !strings.Contains(string(out), "nope") {
		t.Errorf("bad config: %v\n%s", err, out)
	}
	for _, c := range goldenCases(t) {
		if c.name != "helm-1.31" {
			continue
		}
		in := resourceList(t, c.input(t), c.config(t))
		cmd := exec.Command(bin)
		cmd.Stdin = bytes.NewReader(in)
		out, err := cmd.Output()
		_, statErr := os.Stat(filepath.Join(c.dir, "error"))
		if (err != nil) != (statErr == nil) {
			t.Errorf("%s: %v", c.name, err)
		}
		want, _ := os.ReadFile(filepath.Join(c.dir, "expected.yaml"))
		if got := c.view(t, in, out); !bytes.Equal(got, want) {
			t.Errorf("%s: the release binary's output differs:\n%s", c.name, lineDiff(string(want), string(got)))
		}
	}
}
