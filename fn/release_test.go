package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const actionlintInstall = "make tools (go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12)"

// TestReleaseWorkflow: actionlint (with shellcheck when installed) finds nothing in
// the workflows, and the release workflow runs make dist and publishes its files.
func TestReleaseWorkflow(t *testing.T) {
	t.Parallel() // a subprocess does the work: it overlaps with the others
	actionlint := tool(t, "actionlint", actionlintInstall)
	cmd := exec.Command(actionlint)
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("actionlint: %v\n%s", err, out)
	}
	wf, err := os.ReadFile("../.github/workflows/release.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tags: [\"v*\"]", "make dist", "platforms: linux/amd64,linux/arm64", "target: argocd-cmp", "gh release create", "dist/*", "bash .ci/run"} {
		if !strings.Contains(string(wf), want) {
			t.Errorf("release.yaml lacks %q", want)
		}
	}
}

// TestFunctionImageForEachPlatform: image-local builds the function image for
// linux/amd64 and linux/arm64 (FROM scratch, --platform); each is of its platform
// and carries the binary built for it.
func TestFunctionImageForEachPlatform(t *testing.T) {
	t.Parallel() // a subprocess does the work: it overlaps with the others
	images(t)
	for _, arch := range []string{"amd64", "arm64"} {
		image := fnImage + "-" + arch
		out, _, err := docker(t, nil, "image", "inspect", "-f", "{{.Os}}/{{.Architecture}} {{.Config.User}}", image)
		if err != nil || strings.TrimSpace(out) != "linux/"+arch+" 65532:65532" {
			t.Errorf("%s: %v %q", image, err, out)
			continue
		}
		id, stderr, err := docker(t, nil, "create", image)
		if err != nil {
			t.Fatalf("docker create %s: %v\n%s", image, err, stderr)
		}
		id = strings.TrimSpace(id)
		dst := filepath.Join(t.TempDir(), "fn")
		if _, stderr, err := docker(t, nil, "cp", id+":/usr/local/bin/istio-prometheus-mtls", dst); err != nil {
			t.Fatalf("docker cp: %v\n%s", err, stderr)
		}
		docker(t, nil, "rm", id)
		info, err := exec.Command("go", "version", "-m", dst).CombinedOutput()
		if err != nil || !strings.Contains(string(info), "\tbuild\tGOARCH="+arch+"\n") || !strings.Contains(string(info), "\tbuild\tGOOS=linux\n") {
			t.Errorf("%s holds a binary for another platform: %v\n%s", image, err, info)
		}
	}
}
