package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// node is what the kubelet would know of a pod: its API object and where each of
// its volumes lives on this machine (a docker --mount source).
type node struct {
	pod     *corev1.Pod
	apiPort int
	mounts  map[string]string // volume name -> "type=bind,src=DIR" or "type=volume,src=NAME"
}

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// expand does the kubelet's $(VAR) expansion of command, args and env values.
func expand(s string, env map[string]string) string {
	return varRef.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := env[m[2:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

// envOf resolves a container's environment as the kubelet does: literal values
// with $(VAR) expansion, downward-API fieldRefs from the pod, resourceFieldRefs
// from the container's limits, and the service variables every pod gets.
func (n node) envOf(t *testing.T, c corev1.Container) []string {
	t.Helper()
	env := map[string]string{
		"KUBERNETES_SERVICE_HOST": "127.0.0.1",
		"KUBERNETES_SERVICE_PORT": fmt.Sprint(n.apiPort),
	}
	order := []string{"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"}
	for _, e := range c.Env {
		v := expand(e.Value, env)
		if e.ValueFrom != nil {
			switch {
			case e.ValueFrom.FieldRef != nil:
				v = n.field(t, e.ValueFrom.FieldRef.FieldPath)
			case e.ValueFrom.ResourceFieldRef != nil:
				v = resourceValue(t, c, e.ValueFrom.ResourceFieldRef)
			default:
				t.Fatalf("env %s: a source this test does not fill in", e.Name)
			}
		}
		if _, seen := env[e.Name]; !seen {
			order = append(order, e.Name)
		}
		env[e.Name] = v
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+env[k])
	}
	return out
}

func (n node) field(t *testing.T, path string) string {
	p := n.pod
	switch path {
	case "metadata.name":
		return p.Name
	case "metadata.namespace":
		return p.Namespace
	case "status.podIP":
		return p.Status.PodIP
	case "status.hostIP":
		return "127.0.0.1"
	case "spec.serviceAccountName":
		return p.Spec.ServiceAccountName
	case "spec.nodeName":
		return p.Spec.NodeName
	}
	t.Fatalf("fieldRef %s: not filled in by this test", path)
	return ""
}

// resourceValue is the kubelet's rounding: ceil(limit / divisor).
func resourceValue(t *testing.T, c corev1.Container, r *corev1.ResourceFieldSelector) string {
	name, _ := strings.CutPrefix(r.Resource, "limits.")
	q, ok := c.Resources.Limits[corev1.ResourceName(name)]
	if !ok {
		t.Fatalf("%s: no limit", r.Resource)
	}
	d := r.Divisor
	if d.IsZero() {
		d = resource.MustParse("1")
	}
	if name == "cpu" {
		return fmt.Sprint((q.MilliValue() + d.MilliValue() - 1) / d.MilliValue())
	}
	return fmt.Sprint((q.Value() + d.Value() - 1) / d.Value())
}

// dockerArgs is how container c of the pod starts with docker, as the kubelet
// would start it: its image (one of ours, FROM scratch), args and env resolved,
// its volume mounts, its user, read-only root and dropped capabilities; host
// network, with istiod's service name on 127.0.0.1. The container's name comes
// first (after "run -d --name").
func (n node) dockerArgs(t *testing.T, image string, c corev1.Container, user string) []string {
	t.Helper()
	args := []string{"--network", "host",
		"--add-host", "istiod.istio-system.svc:127.0.0.1", "--user", user,
		"--cap-drop", "ALL", "--security-opt", "no-new-privileges"}
	if sc := c.SecurityContext; sc != nil && sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem {
		args = append(args, "--read-only")
	}
	env := n.envOf(t, c)
	vars := map[string]string{}
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		vars[k] = v
		args = append(args, "-e", e)
	}
	for _, m := range c.VolumeMounts {
		src, ok := n.mounts[m.Name]
		if !ok {
			t.Fatalf("container %s mounts %s, which this pod's node does not provide", c.Name, m.Name)
		}
		spec := src + ",dst=" + m.MountPath
		if m.ReadOnly {
			spec += ",readonly"
		}
		args = append(args, "--mount", spec)
	}
	args = append(args, image)
	for _, a := range append(append([]string{}, c.Command...), c.Args...) {
		args = append(args, expand(a, vars))
	}
	return args
}

// run starts container c of the pod with docker (see dockerArgs), for the
// pods no kubelet runs (the targets' agents, the negative controls).
func (n node) run(t *testing.T, name, image string, c corev1.Container, user string) string {
	t.Helper()
	args := append([]string{"run", "-d", "--name", name}, n.dockerArgs(t, image, c, user)...)
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	id := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := exec.Command("docker", "logs", "--tail", "60", id).CombinedOutput()
			t.Logf("--- docker logs %s:\n%s", name, logs)
		}
		exec.Command("docker", "rm", "-f", id).Run()
	})
	return id
}

// hostDir is an emptyDir on this machine, writable by any pod user.
func hostDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp(t.TempDir(), "vol")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o777); err != nil {
		t.Fatal(err)
	}
	return d
}

func bind(dir string) string { return "type=bind,src=" + dir }

// memoryVolume is a shared emptyDir {medium: Memory}: a tmpfs docker volume.
func memoryVolume(t *testing.T, name string) string {
	t.Helper()
	exec.Command("docker", "volume", "rm", "-f", name).Run()
	if out, err := exec.Command("docker", "volume", "create", "--driver", "local", "--opt", "type=tmpfs",
		"--opt", "device=tmpfs", "--opt", "o=size=4m,mode=0777", name).CombinedOutput(); err != nil {
		t.Fatalf("docker volume create: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "volume", "rm", "-f", name).Run() })
	return "type=volume,src=" + name
}

// image builds a FROM scratch image of the given files (path in image -> file).
func image(t *testing.T, tag string, files map[string]string, entrypoint string) {
	t.Helper()
	ctx := t.TempDir()
	var df strings.Builder
	df.WriteString("FROM scratch\n")
	for dst, src := range files {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		local := filepath.Join(ctx, filepath.Base(dst))
		if err := os.WriteFile(local, b, 0o755); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&df, "COPY %s %s\n", filepath.Base(dst), dst)
	}
	fmt.Fprintf(&df, "ENTRYPOINT [%q]\n", entrypoint)
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(df.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("docker", "build", "-q", "-t", tag, ctx).CombinedOutput(); err != nil {
		t.Fatalf("docker build %s: %v\n%s", tag, err, out)
	}
}
