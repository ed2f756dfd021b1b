package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	targetImage   = "istio-prometheus-mtls-e2e/target:1"
	securePort    = 8443 // the secure target's metrics, mTLS
	targetStatus  = 8080 // its /seen; the plain target's metrics
	reloaderBin   = "prometheus-config-reloader"
	reloaderImage = "istio-prometheus-mtls-e2e/prometheus-config-reloader:test"
	operatorBin   = "prometheus-operator"
	realNodeLimit = 3 * time.Minute
)

// goBuild builds a package of this module (static, for a FROM scratch image).
func goBuild(t *testing.T, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// podImages builds the images the pods of the function's output ask for, FROM
// scratch with the pinned builds (the Istio agent, Prometheus,
// prometheus-operator's config reloader), under the test's own names; and
// the test's own (the pause sandbox, the targets). It returns, for each
// image a pod asks for, the test's image that stands for it: the node's
// containerd gets it under the asked-for name (importImages), Docker never
// holds an upstream name.
func podImages(t *testing.T, bin string, specs ...corev1.PodSpec) map[string]string {
	t.Helper()
	images := map[string]string{pauseImage: pauseImage, targetImage: targetImage}
	image(t, pauseImage, map[string]string{"/pause": goBuild(t, "./cmd/pause")}, "/pause")
	image(t, targetImage, map[string]string{"/target": goBuild(t, "./cmd/target")}, "/target")
	for _, spec := range specs {
		for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
			switch {
			case c.Name == "istio-proxy":
				images[c.Image] = agentImage
			case strings.Contains(c.Image, "prometheus-config-reloader"):
				images[c.Image] = reloaderImage
			case strings.Contains(c.Image, "prometheus"):
				images[c.Image] = promImage
			default:
				t.Fatalf("container %q: no image of %s is built here", c.Name, c.Image)
			}
		}
	}
	image(t, agentImage, map[string]string{"/usr/local/bin/pilot-agent": filepath.Join(bin, "pilot-agent")}, "/usr/local/bin/pilot-agent")
	image(t, promImage, map[string]string{"/bin/prometheus": filepath.Join(bin, "prometheus")}, "/bin/prometheus")
	image(t, reloaderImage, map[string]string{"/bin/prometheus-config-reloader": filepath.Join(bin, reloaderBin)}, "/bin/prometheus-config-reloader")
	return images
}

// TestRealNode: the function's output for Istio's Prometheus addon (native
// sidecar), applied with kubectl as a user applies it, runs on a real node:
// kube-controller-manager makes the ReplicaSet and the Pod, kube-scheduler binds
// it, the kubelet has containerd start it (the agent first, Prometheus once its
// startup probe passed), and Prometheus scrapes the target pod over mTLS with
// the certificate its agent fetched from istiod — the target sees Prometheus's
// mesh identity — and the plaintext pod in its plain job, each once.
func TestRealNode(t *testing.T) {
	bin := os.Getenv("E2E_BIN")
	if bin == "" {
		t.Fatal("E2E_BIN is not set: run `make e2e` (e2e/build.sh builds the components)")
	}
	e := runFunction(t)
	spec := e.deployment.Spec.Template.Spec
	images := podImages(t, bin, spec)

	n := startRealNode(t, bin)
	n.importImages(t, images)
	c := n.cluster
	for _, ns := range []string{"istio-system", "apps"} {
		c.kubectl(t, nil, "create", "namespace", ns)
	}
	crds := filepath.Join(goModCache(t), "istio.io", "istio@"+istioVersion, "manifests/charts/base/files/crd-all.gen.yaml")
	c.startIstiod(t, crds, "istiod")
	for _, ns := range []string{"istio-system", "apps"} {
		// Published by the real controllers: kube-root-ca.crt by
		// kube-controller-manager, istio-ca-root-cert by istiod.
		for _, cm := range []string{"kube-root-ca.crt", "istio-ca-root-cert"} {
			waitFor(t, cm+" in "+ns, 60*time.Second, func() error {
				_, err := c.client.CoreV1().ConfigMaps(ns).Get(context.Background(), cm, metav1.GetOptions{})
				return err
			})
		}
		waitFor(t, "the default service account of "+ns, 60*time.Second, func() error {
			_, err := c.client.CoreV1().ServiceAccounts(ns).Get(context.Background(), "default", metav1.GetOptions{})
			return err
		})
	}

	// The targets: a pod with its own agent (as injected) serving mTLS, and a
	// plaintext one.
	c.kubectl(t, nil, "-n", "apps", "create", "serviceaccount", "secure-app")
	c.kubectl(t, nil, "-n", "apps", "create", "serviceaccount", "plain-app")
	agent := container(t, spec, "istio-proxy")
	var volumes []corev1.Volume
	var certDir string
	for _, v := range spec.Volumes {
		for _, m := range agent.VolumeMounts {
			if m.Name == v.Name {
				volumes = append(volumes, v)
			}
			if m.Name == "istio-certs" {
				certDir = m.MountPath
			}
		}
	}
	if certDir == "" {
		t.Fatal("the agent mounts no istio-certs volume")
	}
	never := corev1.PullNever
	secure := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "secure-app", Namespace: "apps", Annotations: map[string]string{
			"prometheus.io/scrape": "true", "prometheus.io/port": fmt.Sprint(securePort),
			"sidecar.istio.io/status": `{"initContainers":["istio-proxy"],"containers":null}`}},
		Spec: corev1.PodSpec{ServiceAccountName: "secure-app", InitContainers: []corev1.Container{agent}, Volumes: volumes,
			Containers: []corev1.Container{{Name: "app", Image: targetImage, ImagePullPolicy: never,
				Args:         []string{"-addr", fmt.Sprintf(":%d", securePort), "-certs", certDir, "-status", fmt.Sprintf(":%d", targetStatus), "-metric", "e2e_secure_requests_total"},
				VolumeMounts: []corev1.VolumeMount{{Name: "istio-certs", MountPath: certDir, ReadOnly: true}},
				Ports:        []corev1.ContainerPort{{ContainerPort: securePort}}}}},
	}
	plain := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "plain-app", Namespace: "apps", Annotations: map[string]string{
			"prometheus.io/scrape": "true", "prometheus.io/port": fmt.Sprint(targetStatus)}},
		Spec: corev1.PodSpec{ServiceAccountName: "plain-app", Containers: []corev1.Container{{Name: "app", Image: targetImage, ImagePullPolicy: never,
			Args:  []string{"-addr", fmt.Sprintf(":%d", targetStatus), "-metric", "e2e_plain_requests_total"},
			Ports: []corev1.ContainerPort{{ContainerPort: targetStatus}}}}},
	}
	for _, p := range []*corev1.Pod{secure, plain} {
		if _, err := c.client.CoreV1().Pods("apps").Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// The function's output, everything of it, as a user applies it.
	applied := time.Now()
	c.kubectl(t, e.stream, "apply", "--server-side", "-f", "-")
	prom := n.readyPod(t, e.deployment.Namespace, metav1.FormatLabelSelector(e.deployment.Spec.Selector), realNodeLimit)
	t.Logf("Prometheus pod %s ready %s after apply (made by the ReplicaSet %s)", prom.Name, time.Since(applied).Round(time.Second), prom.OwnerReferences[0].Name)
	n.checkStartOrder(t, prom)
	securePod := n.readyPod(t, "apps", "", realNodeLimit, "secure-app")
	plainPod := n.readyPod(t, "apps", "", realNodeLimit, "plain-app")

	web := prom.Status.PodIP + ":9090"
	secureAddr := fmt.Sprintf("%s:%d", securePod.Status.PodIP, securePort)
	plainAddr := fmt.Sprintf("%s:%d", plainPod.Status.PodIP, targetStatus)
	waitFor(t, "each target up in its job, once", 2*time.Minute, func() error {
		ts := targets(t, web)
		s, p := on(ts, secureJob, secureAddr), on(ts, plainJob, plainAddr)
		if len(s) != 1 || s[0].Health != "up" || !strings.HasPrefix(s[0].ScrapeURL, "https://") {
			return fmt.Errorf("secure target %+v", s)
		}
		if len(p) != 1 || p[0].Health != "up" || !strings.HasPrefix(p[0].ScrapeURL, "http://") {
			return fmt.Errorf("plain target %+v", p)
		}
		if k, m := len(on(ts, "", secureAddr)), len(on(ts, "", plainAddr)); k != 1 || m != 1 {
			return fmt.Errorf("the secure pod is scraped by %d jobs, the plain one by %d", k, m)
		}
		return nil
	})
	resp, err := http.Get(fmt.Sprintf("http://%s:%d/seen", securePod.Status.PodIP, targetStatus))
	if err != nil {
		t.Fatal(err)
	}
	seen, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	ids := strings.Fields(string(seen))
	if len(ids) == 0 || slices.ContainsFunc(ids, func(id string) bool { return id != promIdentity }) {
		t.Fatalf("the secure target saw %q, want only %s", ids, promIdentity)
	}
	t.Logf("the secure target saw %d handshakes, all from %s", len(ids), promIdentity)
}

// goModCache is the module cache (Istio's CRDs are read from its source).
func goModCache(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// readyPod waits for the pod (by label selector, or by name) to be Ready as
// the kubelet reports it, and returns it.
func (n *realNode) readyPod(t *testing.T, ns, selector string, within time.Duration, name ...string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	waitFor(t, fmt.Sprintf("pod %s%s in %s Ready", selector, strings.Join(name, ""), ns), within, func() error {
		var pods []corev1.Pod
		if len(name) > 0 {
			p, err := n.client.CoreV1().Pods(ns).Get(context.Background(), name[0], metav1.GetOptions{})
			if err != nil {
				return err
			}
			pods = []corev1.Pod{*p}
		} else {
			l, err := n.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
			if err != nil {
				return err
			}
			pods = l.Items
		}
		if len(pods) != 1 {
			return fmt.Errorf("%d pods", len(pods))
		}
		p := pods[0]
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				pod = &p
				return nil
			}
		}
		b, _ := json.Marshal(p.Status)
		return fmt.Errorf("phase %s: %s", p.Status.Phase, b)
	})
	return pod
}

// checkStartOrder: the kubelet started the native sidecar before Prometheus
// and Prometheus only once the agent was started (its startup probe passed),
// each once: no restarts.
func (n *realNode) checkStartOrder(t *testing.T, p *corev1.Pod) {
	t.Helper()
	started := map[string]time.Time{}
	for _, s := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if s.RestartCount != 0 {
			t.Errorf("container %s restarted %d times", s.Name, s.RestartCount)
		}
		if s.State.Running != nil {
			started[s.Name] = s.State.Running.StartedAt.Time
		}
	}
	agent, ok := started["istio-proxy"]
	if !ok {
		t.Fatalf("the agent is not running: %+v", p.Status.InitContainerStatuses)
	}
	for name, at := range started {
		if name != "istio-proxy" && at.Before(agent) {
			t.Errorf("container %s started at %s, before the agent (%s)", name, at, agent)
		}
	}
}
