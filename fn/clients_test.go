package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/internal/checks"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/yamlnode"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/kyaml/yaml"
	sigyaml "sigs.k8s.io/yaml"
)

const (
	kustomizeInstall = "go install sigs.k8s.io/kustomize/kustomize/v5@v5.8.2"
	helmInstall      = "go install helm.sh/helm/v3/cmd/helm@v3.19.5"
	helm4Install     = "make tools (helm v4.3.1 as $GOBIN/helm4)"
)

// runDoc runs the runnable block `name` of README.md or docs/ with bash from the
// repository root, with the built binary and the real clients on PATH: the
// tests execute exactly the text users read.
func runDoc(t *testing.T, name string, env ...string) (string, string, error) {
	t.Helper()
	return runScript(t, docCommand(t, name), env...)
}

// runScript runs a documented shell block as runDoc does.
func runScript(t *testing.T, script string, env ...string) (string, string, error) {
	t.Helper()
	bin := binary(t)
	// The docs name ./bin/istio-prometheus-mtls (make build); use the test's build.
	script = strings.ReplaceAll(script, "./bin/istio-prometheus-mtls", bin)
	var paths []string
	for _, e := range env {
		if p, ok := strings.CutPrefix(e, "PATH="); ok {
			paths = append(paths, p) // first: it shadows the tools below
		}
	}
	paths = append(paths, filepath.Dir(bin))
	for _, tl := range [][2]string{{"kustomize", kustomizeInstall}, {"helm", helmInstall}, {"kpt", "kpt ships at /usr/bin/kpt"}} {
		paths = append(paths, filepath.Dir(tool(t, tl[0], tl[1])))
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = ".."
	cmd.Env = append(append(os.Environ(), env...), "PATH="+strings.Join(paths, ":")+":"+os.Getenv("PATH"))
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	return o.String(), e.String(), err
}

type built struct {
	items []*yaml.RNode
}

func parseBuilt(t *testing.T, out string) built {
	t.Helper()
	items, err := checks.Items([]byte(out))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if err := checks.Workloads(items); err != nil {
		t.Error(err)
	}
	return built{items}
}

func (b built) find(kind, namePrefix string) *yaml.RNode {
	for _, it := range b.items {
		if it.GetKind() == kind && strings.HasPrefix(it.GetName(), namePrefix) {
			return it
		}
	}
	return nil
}

// assertTransformed: the sidecar is in the workload, the job in its ConfigMap,
// and the workload mounts that very ConfigMap.
func assertTransformed(t *testing.T, b built, cmPrefix string) (cmName string) {
	t.Helper()
	cm := b.find("ConfigMap", cmPrefix)
	if cm == nil {
		t.Fatalf("no ConfigMap %s*", cmPrefix)
	}
	data := cm.GetDataMap()
	if !strings.Contains(data["prometheus.yml"], "job_name: kubernetes-pods-istio-secure") {
		t.Errorf("ConfigMap %s lacks the secure job", cm.GetName())
	}
	var dep *yaml.RNode
	for _, it := range b.items {
		if it.GetKind() == "Deployment" {
			dep = it
		}
	}
	if dep == nil {
		t.Fatal("no Deployment")
	}
	s := dep.MustString()
	if !strings.Contains(s, "name: istio-proxy") {
		t.Error("the Deployment lacks istio-proxy")
	}
	if !strings.Contains(s, "name: "+cm.GetName()+"\n") {
		t.Errorf("the Deployment does not reference ConfigMap %s", cm.GetName())
	}
	return cm.GetName()
}

func TestKustomize(t *testing.T) {
	t.Parallel()
	plain, stderr, err := runDoc(t, "kustomize-base")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	baseCM := parseBuilt(t, plain).find("ConfigMap", "prometheus-config-")
	if baseCM == nil {
		t.Fatal("the base build has no hashed ConfigMap")
	}

	out, stderr, err := runDoc(t, "kustomize-exec")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	name := assertTransformed(t, parseBuilt(t, out), "prometheus-config-")
	if name == baseCM.GetName() || !regexp.MustCompile(`^prometheus-config-[a-z0-9]{10}$`).MatchString(name) {
		t.Errorf("the ConfigMap's hash suffix does not reflect the edited data: %s (without the function: %s)", name, baseCM.GetName())
	}

	out, stderr, err = runDoc(t, "kustomize-prefix")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	assertTransformed(t, parseBuilt(t, out), "prod-prometheus-config-")

	// The docs' warning stays true: without --enable-exec kustomize skips the function.
	out, stderr, err = runDoc(t, "kustomize-no-exec")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if strings.Contains(out, "istio-proxy") {
		t.Error("kustomize ran the exec function without --enable-exec; fix the note in docs/clients.md")
	}
}

// TestKustomizeCollectorOverlay: a base that runs the function on an
// OpenTelemetryCollector resource and an overlay that runs it again build, with
// one https job and one istio-proxy: the second run finds its job by the
// record, though kustomize dropped the comments of the structured config.
func TestKustomizeCollectorOverlay(t *testing.T) {
	t.Parallel()
	out, stderr, err := runDoc(t, "kustomize-collector-overlay")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	b := parseBuilt(t, out)
	c := b.find("OpenTelemetryCollector", "metrics")
	if c == nil {
		t.Fatalf("no OpenTelemetryCollector in:\n%s", out)
	}
	jobs, err := c.Pipe(yaml.Lookup("spec", "config", "receivers", "prometheus", "config", "scrape_configs"))
	if err != nil || jobs == nil {
		t.Fatalf("no scrape_configs: %v", err)
	}
	var https []string
	for _, j := range jobs.YNode().Content {
		if yaml.NewRNode(j).Field("scheme") != nil && yaml.GetValue(yaml.NewRNode(j).Field("scheme").Value) == "https" {
			https = append(https, yaml.GetValue(yaml.NewRNode(j).Field("job_name").Value))
		}
	}
	if len(https) != 1 {
		t.Errorf("https jobs %v, want exactly one:\n%s", https, out)
	}
	if n := strings.Count(c.MustString(), "name: istio-proxy\n"); n != 1 {
		t.Errorf("%d istio-proxy containers, want 1", n)
	}
	// The base alone gives the same collector: the overlay's run changed nothing.
	binary(t)
	cmd := exec.Command(tool(t, "kustomize", kustomizeInstall), "build", "--enable-alpha-plugins", "--enable-exec", "examples/kustomize/collector/base")
	cmd.Dir = ".."
	base, err := cmd.Output()
	if err != nil {
		t.Fatalf("the base: %v", err)
	}
	bc := parseBuilt(t, string(base)).find("OpenTelemetryCollector", "metrics")
	if bc == nil || !yamlnode.SameDecoded(bc.YNode(), c.YNode()) {
		t.Errorf("the overlay's run changed the base's collector:\n%s", lineDiff(bc.MustString(), c.MustString()))
	}
}

func TestKpt(t *testing.T) {
	t.Parallel()
	kpt := tool(t, "kpt", "kpt ships at /usr/bin/kpt")
	pkg := filepath.Join(t.TempDir(), "prometheus")
	copyDir(t, "../examples/kpt/prometheus", pkg)
	// The example's Kptfile names the image (for users); tests use the exec form.
	kptfile := filepath.Join(pkg, "Kptfile")
	b, _ := os.ReadFile(kptfile)
	exe := regexp.MustCompile(`- image: \S+`).ReplaceAllString(string(b), "- exec: "+binary(t))
	if exe == string(b) {
		t.Fatal("the example Kptfile has no image mutator")
	}
	os.WriteFile(kptfile, []byte(exe), 0o644)

	render := func() {
		t.Helper()
		if out, err := exec.Command(kpt, "fn", "render", "--allow-exec", pkg).CombinedOutput(); err != nil {
			t.Fatalf("kpt fn render: %v\n%s", err, out)
		}
	}
	render()
	first := snapshot(t, pkg)
	if !strings.Contains(first["deployment.yaml"], "name: istio-proxy") || !strings.Contains(first["configmap.yaml"], "kubernetes-pods-istio-secure") {
		t.Fatal("kpt fn render did not transform the package")
	}
	render()
	if second := snapshot(t, pkg); !equalMaps(first, second) {
		t.Error("a second kpt fn render changed the package")
	}

	out, stderr, err := runDoc(t, "kpt-eval")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(out, "image: docker.io/istio/proxyv2:1.22.0") {
		t.Error("kpt fn eval with istio-version=1.22 did not use the 1.22 proxy")
	}
	assertTransformed(t, parseBuilt(t, out), "prometheus-config")

	_, stderr, err = runDoc(t, "kpt-eval-error")
	if err == nil {
		t.Fatal("the error case exited 0")
	}
	if !strings.Contains(stderr, "no workload matches spec.target (name=grafana)") {
		t.Errorf("kpt's output lacks our result:\n%s", stderr)
	}
}

// TestHelm4Plugin runs the Helm 4 block of docs/clients.md with helm v4.3.1 in homes of its own:
// the plugin is packaged (make helm-plugin, for this platform) and installed from
// its archive, and `helm template --post-renderer istio-prometheus-mtls` runs it;
// then from its directory; a chart the function refuses fails helm.
func TestHelm4Plugin(t *testing.T) {
	t.Parallel() // a subprocess does the work: it overlaps with the others
	helm4 := tool(t, "helm4", helm4Install)
	shadow := t.TempDir()
	if err := os.Symlink(helm4, filepath.Join(shadow, "helm")); err != nil {
		t.Fatal(err)
	}
	homes := t.TempDir()
	env := []string{"PATH=" + shadow, "PLATFORMS=" + runtime.GOOS + "/" + runtime.GOARCH,
		"HELM_DATA_HOME=" + filepath.Join(homes, "data"), "HELM_CONFIG_HOME=" + filepath.Join(homes, "config"), "HELM_CACHE_HOME=" + filepath.Join(homes, "cache")}
	out, stderr, err := runDoc(t, "helm4", env...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	// make and helm plugin install speak first; the rendered stream starts at "---".
	_, rendered, ok := strings.Cut(out, "\n---\n")
	if !ok || !strings.Contains(out, "Installed plugin: istio-prometheus-mtls") {
		t.Fatalf("no plugin install, or no rendered stream:\n%s", out)
	}
	assertTransformed(t, parseBuilt(t, "---\n"+rendered), "demo-prometheus")
	assertResultComments(t, rendered)

	helm := func(args ...string) (string, error) {
		cmd := exec.Command(helm4, args...)
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), env[2:]...)
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	if out, err := helm("plugin", "list"); err != nil || !strings.Contains(out, "postrenderer/v1") {
		t.Fatalf("helm plugin list: %v\n%s", err, out)
	}
	// From the plugin directory too.
	if out, err := helm("plugin", "uninstall", "istio-prometheus-mtls"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if out, err := helm("plugin", "install", "dist/helm-plugin/"+runtime.GOOS+"-"+runtime.GOARCH+"/istio-prometheus-mtls"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	out, err = helm("template", "demo", "testdata/charts/prometheus-mini", "-n", "monitoring", "--post-renderer", "istio-prometheus-mtls", "--post-renderer-args", "istio-version=1.31")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	assertTransformed(t, parseBuilt(t, out), "demo-prometheus")

	// Helm fails when the post-renderer does. (Helm 4.3 drops a post-renderer
	// plugin's stderr: it says only that the plugin exited with an error.)
	for _, args := range [][]string{
		{"template", "demo", "testdata/charts/no-prometheus", "--post-renderer", "istio-prometheus-mtls"},
		{"template", "demo", "testdata/charts/prometheus-mini", "--post-renderer", "istio-prometheus-mtls", "--post-renderer-args", "istio-version=1.2"},
	} {
		out, err := helm(args...)
		if err == nil || !strings.Contains(out, `plugin "istio-prometheus-mtls" exited with error`) || strings.Contains(out, "kind:") {
			t.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// assertResultComments: what helm template prints holds the function's results
// as comments on the documents they are about (Helm 4 drops a plugin's stderr).
func assertResultComments(t *testing.T, out string) {
	t.Helper()
	for _, want := range []string{
		"\n# istio-prometheus-mtls info: istio-proxy sidecar in spec.initContainers",
		"\n# istio-prometheus-mtls info: key \"prometheus.yml\": job \"kubernetes-pods-istio-secure\"",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("helm's output lacks the result line %q:\n%s", want, out)
		}
	}
}

func TestHelmPostRenderer(t *testing.T) {
	t.Parallel()
	out, stderr, err := runDoc(t, "helm")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	assertTransformed(t, parseBuilt(t, out), "demo-prometheus")
	assertResultComments(t, out)

	// A failing post-render fails helm.
	helm := tool(t, "helm", helmInstall)
	cmd := exec.Command(helm, "template", "demo", "testdata/charts/prometheus-mini", "--post-renderer", binary(t),
		"--post-renderer-args", "post-render", "--post-renderer-args", "istio-version=1.2")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "Istio 1.2 is not supported") {
		t.Errorf("helm with a failing post-renderer: %v\n%s", err, out)
	}
	cmd = exec.Command(helm, "template", "demo", "testdata/charts/no-prometheus", "--post-renderer", binary(t), "--post-renderer-args", "post-render")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "no scraper workload found") {
		t.Errorf("helm on a chart without Prometheus: %v\n%s", err, out)
	}
}

// TestArgoCDPlugin runs plugin.yaml's generate command exactly as written, as the
// CMP server would: in a copy of the app, with Argo CD's environment and a PATH
// that holds only kustomize and the function.
func TestArgoCDPlugin(t *testing.T) {
	t.Parallel()
	var plugin struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			Version  string `json:"version"`
			Generate struct {
				Command []string `json:"command"`
				Args    []string `json:"args"`
			} `json:"generate"`
			// Discover must stay unset: see TestArgoCDPluginClaimsOnlyNamedApps.
			Discover *struct {
				FileName string `json:"fileName"`
				Find     any    `json:"find"`
			} `json:"discover"`
		} `json:"spec"`
	}
	b, err := os.ReadFile("../examples/argocd/plugin.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := sigyaml.UnmarshalStrict(b, &plugin); err != nil {
		t.Fatal(err)
	}
	if plugin.Kind != "ConfigManagementPlugin" || plugin.Spec.Generate.Command[0] == "sh" || plugin.Spec.Generate.Command[0] == "bash" {
		t.Fatalf("plugin.yaml: %+v (the sidecar image has no shell)", plugin)
	}
	// Argo CD asks plugins first for every Application without an explicit
	// source type: any discover rule would claim apps that never asked for the
	// function (fileName ./kustomization.yaml claimed every Kustomize app). With
	// none, only Applications that name the plugin use it.
	if plugin.Spec.Discover != nil {
		t.Errorf("plugin.yaml has a discover rule (%+v): it would claim plain Kustomize apps", *plugin.Spec.Discover)
	}
	app, _ := os.ReadFile("../examples/argocd/application.yaml")
	if !strings.Contains(string(app), "name: "+plugin.Metadata.Name+"-"+plugin.Spec.Version) {
		t.Error("application.yaml does not name the plugin as <name>-<version>")
	}
	if !strings.Contains(string(app), "- CreateNamespace=true") {
		t.Error("application.yaml does not create its destination namespace")
	}

	pathDir := t.TempDir()
	for name, target := range map[string]string{"kustomize": tool(t, "kustomize", kustomizeInstall), "istio-prometheus-mtls": binary(t)} {
		if err := os.Symlink(target, filepath.Join(pathDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	generate := func(appDir string) (string, string, error) {
		argv := append(append([]string{}, plugin.Spec.Generate.Command...), plugin.Spec.Generate.Args...)
		cmd := exec.Command(filepath.Join(pathDir, argv[0]), argv[1:]...)
		cmd.Dir = appDir
		cmd.Env = []string{"PATH=" + pathDir, "HOME=" + t.TempDir(),
			"ARGOCD_APP_NAME=prometheus", "ARGOCD_APP_NAMESPACE=monitoring", "ARGOCD_APP_REVISION=abc123",
			"ARGOCD_APP_SOURCE_PATH=examples/argocd/app", "ARGOCD_ENV_CLUSTER=prod"}
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		return o.String(), e.String(), err
	}

	appDir := filepath.Join(t.TempDir(), "app")
	copyDir(t, "../examples/argocd/app", appDir)
	out, stderr, err := generate(appDir)
	if err != nil {
		t.Fatalf("generate: %v\n%s", err, stderr)
	}
	assertTransformed(t, parseBuilt(t, out), "prometheus-config-")

	// A failing build makes the command exit non-zero.
	cfg := filepath.Join(appDir, "prometheus-mtls.yaml")
	c, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(c), `version: "1.28"`, `version: "1.2"`, 1)), 0o644)
	if _, stderr, err := generate(appDir); err == nil || !strings.Contains(stderr, "Istio 1.2 is not supported") {
		t.Errorf("a failing build: err %v\n%s", err, stderr)
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			out[e.Name()] = string(b)
		}
	}
	return out
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// argoCDInstallURL is what examples/argocd/repo-server names as its resource: Argo
// CD v3.5.1's manifests/install.yaml, which ../shared/fixtures/argocd-install.yaml
// holds unmodified.
const argoCDInstallURL = "https://raw.githubusercontent.com/argoproj/argo-cd/v3.5.1/manifests/install.yaml"

// buildRepoServerOverlay builds a copy of examples/argocd/repo-server with the real
// kustomize on Argo CD's real install.yaml (the fixture in place of the URL), with
// namespace set in the kustomization when given, and the patch rewritten by edit.
func buildRepoServerOverlay(t *testing.T, namespace string, edit func(patch string) string) ([]byte, error) {
	t.Helper()
	kustomize := tool(t, "kustomize", kustomizeInstall)
	dir := filepath.Join(t.TempDir(), "repo-server")
	copyDir(t, "../examples/argocd/repo-server", dir)
	install, err := os.ReadFile(filepath.Join(fixturesDir, "argocd-install.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("install.yaml", string(install))
	k := snapshot(t, dir)["kustomization.yaml"]
	if !strings.Contains(k, "- "+argoCDInstallURL+"\n") {
		t.Fatalf("the overlay's resources do not name %s:\n%s", argoCDInstallURL, k)
	}
	k = strings.Replace(k, argoCDInstallURL, "install.yaml", 1)
	if namespace != "" {
		k += "namespace: " + namespace + "\n"
	}
	write("kustomization.yaml", k)
	if edit != nil {
		write("cmp-sidecar-patch.yaml", edit(snapshot(t, dir)["cmp-sidecar-patch.yaml"]))
	}
	return exec.Command(kustomize, "build", dir).CombinedOutput()
}

// repoServer finds argocd-repo-server in a kustomize build and decodes it strictly.
func repoServer(t *testing.T, out []byte) (appsv1.Deployment, int) {
	t.Helper()
	items, err := checks.Items(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, it := range items {
		if it.GetKind() == "Deployment" && it.GetName() == "argocd-repo-server" {
			var d appsv1.Deployment
			if err := sigyaml.UnmarshalStrict([]byte(it.MustString()), &d); err != nil {
				t.Fatal(err)
			}
			return d, len(items)
		}
	}
	t.Fatalf("no argocd-repo-server Deployment in the build:\n%.2000s", out)
	return appsv1.Deployment{}, 0
}

// defaultContainer is the container `kubectl logs` and `kubectl exec` open without
// -c: the one the kubectl.kubernetes.io/default-container annotation names, else
// the first.
func defaultContainer(spec corev1.PodTemplateSpec) string {
	if name := spec.Annotations["kubectl.kubernetes.io/default-container"]; name != "" {
		for _, c := range spec.Spec.Containers {
			if c.Name == name {
				return name
			}
		}
	}
	if len(spec.Spec.Containers) == 0 {
		return ""
	}
	return spec.Spec.Containers[0].Name
}

// TestArgoCDRepoServerOverlay builds examples/argocd/repo-server with the real
// kustomize on Argo CD v3.5.1's own install.yaml, as shipped (applied with -n argocd)
// and with `namespace: argocd` in the kustomization as Argo CD documents its
// kustomize install: the patch must apply both ways, put the plugin sidecar with its
// mounts into argocd-repo-server, keep the repo server the default container, and
// leave the install's other objects in the build.
func TestArgoCDRepoServerOverlay(t *testing.T) {
	t.Parallel() // a subprocess does the work: it overlaps with the others
	installItems, err := checks.Items(mustRead(t, filepath.Join(fixturesDir, "argocd-install.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	for name, namespace := range map[string]string{"plain": "", "namespace argocd": "argocd"} {
		t.Run(name, func(t *testing.T) {
			out, err := buildRepoServerOverlay(t, namespace, nil)
			if err != nil {
				t.Fatalf("kustomize build: %v\n%s", err, out)
			}
			d, n := repoServer(t, out)
			if n != len(installItems) {
				t.Errorf("the build has %d objects, the install %d", n, len(installItems))
			}
			if d.Namespace != namespace {
				t.Errorf("built %s/%s", d.Namespace, d.Name)
			}
			pod := d.Spec.Template
			if got := defaultContainer(pod); got != "argocd-repo-server" {
				t.Errorf("kubectl logs/exec without -c would open %q, not argocd-repo-server", got)
			}
			if len(pod.Spec.InitContainers) != 1 || pod.Spec.InitContainers[0].Name != "copyutil" {
				t.Errorf("init containers: %v", pod.Spec.InitContainers)
			}
			byName := map[string]corev1.Container{}
			for _, c := range pod.Spec.Containers {
				byName[c.Name] = c
			}
			if _, ok := byName["argocd-repo-server"]; !ok || len(byName) != 2 {
				t.Fatalf("containers: %v", pod.Spec.Containers)
			}
			side, ok := byName["istio-prometheus-mtls"]
			if !ok {
				t.Fatal("no plugin sidecar")
			}
			if len(side.Command) != 1 || side.Command[0] != "/var/run/argocd/argocd-cmp-server" || *side.SecurityContext.RunAsUser != 999 {
				t.Errorf("sidecar: %+v", side)
			}
			vols := map[string]bool{}
			for _, v := range pod.Spec.Volumes {
				vols[v.Name] = true
			}
			mounts := map[string]string{}
			for _, m := range side.VolumeMounts {
				mounts[m.MountPath] = m.Name
				if !vols[m.Name] {
					t.Errorf("the sidecar mounts %s, which the pod does not declare", m.Name)
				}
			}
			for path, vol := range map[string]string{"/var/run/argocd": "var-files", "/home/argocd/cmp-server/plugins": "plugins", "/tmp": "cmp-tmp"} {
				if mounts[path] != vol {
					t.Errorf("sidecar mount at %s is %q, want %q", path, mounts[path], vol)
				}
			}
		})
	}
	// Negative controls: the checks above catch the two mistakes users hit.
	t.Run("without the default-container annotation the plugin is the default", func(t *testing.T) {
		out, err := buildRepoServerOverlay(t, "", func(p string) string {
			return regexp.MustCompile(`(?s)\n    metadata:\n.*?default-container: argocd-repo-server`).ReplaceAllString(p, "")
		})
		if err != nil {
			t.Fatalf("kustomize build: %v\n%s", err, out)
		}
		d, _ := repoServer(t, out)
		if _, ok := d.Spec.Template.Annotations["kubectl.kubernetes.io/default-container"]; ok {
			t.Fatal("the annotation was not removed")
		}
		if got := defaultContainer(d.Spec.Template); got != "istio-prometheus-mtls" {
			t.Errorf("without the annotation the default container is %q; the ordering check would not catch its loss", got)
		}
	})
	t.Run("a patch naming a namespace does not apply to install.yaml", func(t *testing.T) {
		out, err := buildRepoServerOverlay(t, "", func(p string) string {
			return strings.Replace(p, "  name: argocd-repo-server\n", "  name: argocd-repo-server\n  namespace: argocd\n", 1)
		})
		if err == nil {
			t.Errorf("kustomize built the overlay with a namespaced patch on install.yaml:\n%.500s", out)
		}
	})
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
