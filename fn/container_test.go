package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The image names the examples use; hack/image-local.sh tags its builds with them.
const (
	fnImage  = "ghcr.io/istio-prometheus-mtls/istio-prometheus-mtls:v0.1.0"
	cmpImage = "ghcr.io/istio-prometheus-mtls/argocd-cmp:v0.1.0"
)

// TestDockerfileDrift: the offline images must be built like the Dockerfile's.
func TestDockerfileDrift(t *testing.T) {
	df, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	sh, err := os.ReadFile("../hack/image-local.sh")
	if err != nil {
		t.Fatal(err)
	}
	stages := map[string]string{}
	var last string
	for _, st := range regexp.MustCompile(`(?m)^FROM `).Split(string(df), -1)[1:] {
		name := "final"
		if m := regexp.MustCompile(`^(?:--platform=\S+ )?\S+ AS (\S+)`).FindStringSubmatch(st); m != nil {
			name = m[1]
		}
		stages[name] = st
		last = name
	}
	if last != "final" {
		t.Fatal("the Dockerfile's last stage must be the unnamed function image")
	}
	field := func(stage, key string) string {
		m := regexp.MustCompile(`(?m)^` + key + ` (.+)$`).FindStringSubmatch(stages[stage])
		if m == nil {
			t.Fatalf("stage %s has no %s", stage, key)
		}
		return strings.TrimSpace(m[1])
	}
	script := func(name string) string {
		m := regexp.MustCompile(`(?m)^` + name + `=(.+)$`).FindStringSubmatch(string(sh))
		if m == nil {
			t.Fatalf("hack/image-local.sh has no %s=", name)
		}
		return strings.Trim(strings.TrimSpace(m[1]), `"'`)
	}
	if got, want := script("FN_USER"), field("final", "USER"); got != want {
		t.Errorf("function image user: script %q, Dockerfile %q", got, want)
	}
	if got, want := script("CMP_USER"), field("argocd-cmp", "USER"); got != want {
		t.Errorf("plugin image user: script %q, Dockerfile %q", got, want)
	}
	if got, want := script("ENTRYPOINT"), field("final", "ENTRYPOINT"); got != want {
		t.Errorf("entrypoint: script %q, Dockerfile %q", got, want)
	}
	build := regexp.MustCompile(`CGO_ENABLED=0 (?:GOOS=\$\{TARGETOS\} GOARCH=\$\{TARGETARCH\} )?go build (-trimpath -ldflags "[^"]+")`).FindStringSubmatch(stages["build"])
	if build == nil {
		t.Fatal("the build stage has no `CGO_ENABLED=0 go build -trimpath -ldflags ...`")
	}
	if got := script("BUILD_FLAGS"); got != "("+build[1]+")" {
		t.Errorf("build flags: script %s, Dockerfile %s", got, build[1])
	}
	if !strings.Contains(string(sh), `CGO_ENABLED=0 go build "${BUILD_FLAGS[@]}"`) {
		t.Error("the script does not build with CGO_ENABLED=0 and BUILD_FLAGS")
	}
	labels := regexp.MustCompile(`(?s)LABEL .*?licenses="Apache-2.0"`)
	// The script writes its Dockerfile with a heredoc, where \\ stands for \.
	if a, b := labels.FindString(stages["final"]), strings.ReplaceAll(labels.FindString(string(sh)), `\\`, `\`); a == "" || a != b {
		t.Errorf("labels differ:\nDockerfile: %s\nscript:     %s", a, b)
	}
	kv := regexp.MustCompile(`kustomize/v5@(v[0-9.]+)`)
	if a, b := kv.FindStringSubmatch(stages["kustomize"]), script("KUSTOMIZE_VERSION"); a == nil || a[1] != b {
		t.Errorf("kustomize version: Dockerfile %v, script %s", a, b)
	}
	for _, src := range []string{"examples/argocd/plugin.yaml /home/argocd/cmp-server/config/plugin.yaml"} {
		if !strings.Contains(stages["argocd-cmp"], src) {
			t.Errorf("argocd-cmp stage lacks COPY %s", src)
		}
	}
}

var (
	imagesOnce sync.Once
	imagesOut  string
	imagesErr  error
)

// images builds both images offline once per test run; a missing or broken
// Docker engine fails the test with what it said.
func images(t *testing.T) {
	t.Helper()
	docker := tool(t, "docker", "Docker Engine (the machine starts it before the session)")
	if out, err := exec.Command(docker, "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Fatalf("the Docker engine is not reachable, so the container path cannot be tested: %v\n%s", err, out)
	}
	imagesOnce.Do(func() {
		cmd := exec.Command("bash", "hack/image-local.sh")
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "VERSION=test")
		var o bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &o
		imagesErr = cmd.Run()
		imagesOut = o.String()
	})
	if imagesErr != nil {
		t.Fatalf("hack/image-local.sh: %v\n%s", imagesErr, imagesOut)
	}
}

func docker(t *testing.T, stdin []byte, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command("docker", args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	return o.String(), e.String(), err
}

func TestFunctionImage(t *testing.T) {
	t.Parallel() // a subprocess does the work: it overlaps with the others
	images(t)
	out, _, err := docker(t, nil, "image", "inspect", "-f", "{{.Config.User}} {{json .Config.Entrypoint}} {{.Size}}", fnImage)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(out)
	if f[0] != "65532:65532" || f[1] != `["/usr/local/bin/istio-prometheus-mtls"]` {
		t.Errorf("user/entrypoint: %s", out)
	}
	if size, _ := strconv.Atoi(f[2]); size > 25<<20 {
		t.Errorf("image is %d bytes, over 25 MB", size)
	}
	c := goldenCase{"istio-addon-default", "../testdata/istio-addon-default"}
	in := resourceList(t, c.input(t), nil)
	got, stderr, err := docker(t, in, "run", "-i", "--rm", "--read-only", "--network", "none", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", fnImage)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	want, _ := os.ReadFile(filepath.Join(c.dir, "expected.yaml"))
	if got != string(want) {
		t.Errorf("the container's output differs from the golden output:\n%s", lineDiff(string(want), got))
	}
}

func TestKptWithImage(t *testing.T) {
	t.Parallel() // a subprocess does the work: it overlaps with the others
	images(t)
	kpt := tool(t, "kpt", "kpt ships at /usr/bin/kpt")
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(kpt, args...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		if err := cmd.Run(); err != nil {
			t.Fatalf("kpt %v: %v\n%s", args, err, e.String())
		}
		return o.String()
	}
	pkg := "../examples/kpt/prometheus"
	img := run("fn", "eval", pkg, "--image", fnImage, "--image-pull-policy", "never", "-o", "unwrap", "--", "istio-version=1.22")
	exe := run("fn", "eval", pkg, "--exec", binary(t), "-o", "unwrap", "--", "istio-version=1.22")
	if img != exe || !strings.Contains(img, "name: istio-proxy") {
		t.Errorf("kpt fn eval --image differs from --exec:\n%s", lineDiff(exe, img))
	}

	// kpt fn render with the example's Kptfile as written (image mutator), against
	// the same package rendered with the exec form.
	withImage := filepath.Join(t.TempDir(), "prometheus")
	withExec := filepath.Join(t.TempDir(), "prometheus")
	copyDir(t, pkg, withImage)
	copyDir(t, pkg, withExec)
	kf := filepath.Join(withExec, "Kptfile")
	b, _ := os.ReadFile(kf)
	os.WriteFile(kf, []byte(regexp.MustCompile(`- image: \S+`).ReplaceAllString(string(b), "- exec: "+binary(t))), 0o644)
	run("fn", "render", withImage, "--image-pull-policy", "never")
	run("fn", "render", "--allow-exec", withExec)
	a, e := snapshot(t, withImage), snapshot(t, withExec)
	delete(a, "Kptfile")
	delete(e, "Kptfile")
	if !equalMaps(a, e) || !strings.Contains(a["deployment.yaml"], "name: istio-proxy") {
		t.Errorf("kpt fn render with the image differs from the exec form")
	}
}

func TestKustomizeContainer(t *testing.T) {
	t.Parallel() // a subprocess does the work: it overlaps with the others
	images(t)
	kustomize := tool(t, "kustomize", kustomizeInstall)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(kustomize, args...)
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(binary(t))+":"+os.Getenv("PATH"))
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		if err := cmd.Run(); err != nil {
			t.Fatalf("kustomize %v: %v\n%s", args, err, e.String())
		}
		return o.String()
	}
	// kustomize runs the container with --network none --user nobody.
	ctr := run("build", "--enable-alpha-plugins", "examples/kustomize/container")
	exe := run("build", "--enable-alpha-plugins", "--enable-exec", "examples/kustomize/exec")
	if ctr != exe {
		t.Errorf("the container form differs from the exec form:\n%s", lineDiff(exe, ctr))
	}
	assertTransformed(t, parseBuilt(t, ctr), "prometheus-config-")
}

// TestArgoCDSidecarImage runs plugin.yaml's generate command in the plugin sidecar
// image, as uid 999 with the example app mounted, as argocd-cmp-server would.
func TestArgoCDSidecarImage(t *testing.T) {
	t.Parallel() // a subprocess does the work: it overlaps with the others
	images(t)
	out, _, err := docker(t, nil, "image", "inspect", "-f", "{{.Config.User}}", cmpImage)
	if err != nil || strings.TrimSpace(out) != "999:999" {
		t.Fatalf("plugin image user %q: %v", out, err)
	}
	app := filepath.Join(t.TempDir(), "app")
	copyDir(t, "../examples/argocd/app", app)
	os.Chmod(filepath.Dir(app), 0o755)
	created, _, err := docker(t, nil, "create", cmpImage, "x")
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(created)
	defer docker(t, nil, "rm", id)
	archive, _, err := docker(t, nil, "cp", id+":/home/argocd/cmp-server/config/plugin.yaml", "-")
	if err != nil {
		t.Fatalf("plugin.yaml is not in the image: %v", err)
	}
	tr := tar.NewReader(strings.NewReader(archive))
	if _, err := tr.Next(); err != nil {
		t.Fatal(err)
	}
	inImage, _ := io.ReadAll(tr)
	pluginYAML := string(inImage)
	if want, _ := os.ReadFile("../examples/argocd/plugin.yaml"); pluginYAML != string(want) {
		t.Fatal("the image's plugin.yaml is not examples/argocd/plugin.yaml")
	}
	command := regexp.MustCompile(`command: \[([^\]]+)\]`).FindStringSubmatch(pluginYAML)
	if command == nil {
		t.Fatal("plugin.yaml has no generate command")
	}
	argv := strings.Split(command[1], ", ")
	args := append([]string{"run", "--rm", "--user", "999", "--network", "none", "--read-only", "--tmpfs", "/tmp",
		"-v", app + ":/app:ro", "-w", "/app", "-e", "ARGOCD_APP_NAME=prometheus", "-e", "ARGOCD_APP_NAMESPACE=monitoring", cmpImage}, argv...)
	got, stderr, err := docker(t, nil, args...)
	if err != nil {
		t.Fatalf("generate in the sidecar image: %v\n%s", err, stderr)
	}
	assertTransformed(t, parseBuilt(t, got), "prometheus-config-")
}
