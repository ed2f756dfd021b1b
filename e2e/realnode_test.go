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
	"sigs.k8s.io/yaml"
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
			case strings.Contains(c.Image, "vmagent"):
				images[c.Image] = vmImage
			case strings.Contains(c.Image, "opentelemetry-collector"):
				images[c.Image] = otelImage
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
	image(t, vmImage, map[string]string{"/vmagent-prod": filepath.Join(bin, vmagentBin)}, "/vmagent-prod")
	image(t, otelImage, map[string]string{"/otelcol-k8s": filepath.Join(bin, "otelcol")}, "/otelcol-k8s")
	return images
}

// TestRealNode: the function's output, applied with kubectl as a user applies
// it, runs on a real node, with the targets as pods of that node: a pod with
// its own agent (as injected) serving its metrics over mTLS, and a plaintext
// one.
//   - Istio's Prometheus addon (a Deployment, native sidecar):
//     kube-controller-manager makes the ReplicaSet and the Pod, kube-scheduler
//     binds it, the kubelet has containerd start it (the agent first,
//     Prometheus once the agent's startup probe passed);
//   - kube-prometheus-stack's Prometheus resource: the real prometheus-operator
//     makes the StatefulSet, merging the function's native sidecar into its own
//     init containers, in a namespace that enforces the restricted Pod Security
//     standard; a PodMonitor of a second mTLS target uses the function's scrape
//     class, and a pod breaking the standard is refused there;
//   - the classic form, the prometheus, victoria-metrics-agent and
//     opentelemetry-collector charts, each applied and deleted in turn; and
//     every emitted pod template under restricted admission (a dry run).
//
// Each scraper scrapes the mTLS targets with the certificate its agent
// fetched from istiod — the target sees its mesh identity — and the plaintext
// pod in a plain job, each target once.
func TestRealNode(t *testing.T) {
	bin := os.Getenv("E2E_BIN")
	if bin == "" {
		t.Fatal("E2E_BIN is not set: run `make e2e` (e2e/build.sh builds the components)")
	}
	addon := runFunction(t)
	workloads := []struct {
		name     string
		e        emitted
		identity string
		web      int // the scraper's HTTP port: its targets API
		jobs     func(*realTargets) map[string]string
	}{
		{"istio-addon-classic", runFunction(t, "native-sidecar=false"), promIdentity, 9090, plainJobs},
		{"prometheus-chart", runFunctionOn(t, "helm-prometheus.yaml"), "spiffe://cluster.local/ns/monitoring/sa/prom-prometheus-server", 9090, plainJobs},
		{"vmagent-chart", runFunctionOn(t, "vmagent-chart.yaml"), vmIdentity, 8429, plainJobs},
		{"collector-chart", runFunctionWith(t, collectorInput(t)), otelIdentity, 8889, plainJobs},
	}
	stack := runFunctionOn(t, "kube-prometheus-stack.yaml")
	prometheus := operatorPrometheus(t, stack.stream)
	specs := []corev1.PodSpec{addon.deployment.Spec.Template.Spec, {InitContainers: prometheus.initContainers,
		Containers: []corev1.Container{{Name: "prometheus", Image: prometheus.image}}}}
	for _, w := range workloads {
		specs = append(specs, w.e.deployment.Spec.Template.Spec)
	}
	images := podImages(t, bin, specs...)

	n := startRealNode(t, bin)
	n.importImages(t, images)
	c := n.cluster
	n.mesh(t, istioCRDs(t), "istio-system", "apps", "monitoring")
	tg := n.startTargets(t, addon.deployment.Spec.Template.Spec)

	// Every pod template the function emitted, under restricted admission
	// (kube-prometheus-stack's below runs in a namespace enforcing it).
	t.Run("restricted-admission", func(t *testing.T) {
		n.restrictedAdmits(t, "istio-addon", addon.deployment.Spec.Template)
		for _, w := range workloads {
			n.restrictedAdmits(t, w.name, w.e.deployment.Spec.Template)
		}
	})

	t.Run("istio-addon", func(t *testing.T) {
		e := addon
		applied := time.Now()
		c.kubectl(t, e.stream, "apply", "--server-side", "-f", "-")
		prom := n.readyPod(t, e.deployment.Namespace, metav1.FormatLabelSelector(e.deployment.Spec.Selector), realNodeLimit)
		t.Logf("Prometheus pod %s ready %s after apply (made by the ReplicaSet %s)", prom.Name, time.Since(applied).Round(time.Second), prom.OwnerReferences[0].Name)
		n.checkStartOrder(t, prom)
		tg.scraped(t, prom.Status.PodIP+":9090", promIdentity, plainJobs(tg))
	})

	// The other forms and scrapers, each its output applied, checked, and
	// deleted (as kubectl deletes it) before the next.
	for _, w := range workloads {
		t.Run(w.name, func(t *testing.T) {
			n.provision(t, w.e.stream)
			applied := time.Now()
			c.kubectl(t, w.e.stream, "apply", "--server-side", "--force-conflicts", "-f", "-")
			kind := "deployment"
			if strings.Contains(string(w.e.stream), "\nkind: DaemonSet\n") {
				kind = "daemonset"
			}
			c.kubectl(t, nil, "-n", w.e.deployment.Namespace, "rollout", "status", kind+"/"+w.e.deployment.Name, "--timeout=3m")
			pod := n.readyPod(t, w.e.deployment.Namespace, metav1.FormatLabelSelector(w.e.deployment.Spec.Selector), realNodeLimit)
			t.Logf("pod %s ready %s after apply (made by %s %s)", pod.Name, time.Since(applied).Round(time.Second), pod.OwnerReferences[0].Kind, pod.OwnerReferences[0].Name)
			n.checkStartOrder(t, pod)
			if w.name == "collector-chart" {
				tg.exported(t, fmt.Sprintf("%s:%d", pod.Status.PodIP, w.web), w.identity)
			} else {
				tg.scraped(t, fmt.Sprintf("%s:%d", pod.Status.PodIP, w.web), w.identity, w.jobs(tg))
			}
			if w.name != "istio-addon-classic" { // the native form's Deployment, updated: left for the cleanup
				c.kubectl(t, w.e.stream, "delete", "--wait=false", "-f", "-")
			}
		})
	}

	t.Run("kube-prometheus-stack-operator", func(t *testing.T) {
		c.kubectl(t, nil, "label", "namespace", "monitoring", "pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/enforce-version=latest")
		c.kubectl(t, nil, "apply", "--server-side", "-f",
			filepath.Join(goModCache(t), "github.com/prometheus-operator/prometheus-operator@"+operatorVersion(t), "example/prometheus-operator-crd"))
		crt, key := clientCert(t, c.dir, "operator", "prometheus-operator", "system:masters")
		start(t, c.dir, "prometheus-operator", nil, filepath.Join(bin, operatorBin),
			fmt.Sprintf("-apiserver=https://127.0.0.1:%d", c.apiPort), "-ca-file="+filepath.Join(c.dir, "ca.crt"), "-cert-file="+crt, "-key-file="+key,
			"-prometheus-config-reloader="+fullName(reloaderImage), fmt.Sprintf("-web.listen-address=127.0.0.1:%d", freePort(t)))
		applied := time.Now()
		c.kubectl(t, prometheus.docs, "apply", "--server-side", "-f", "-")
		prom := n.readyPod(t, "monitoring", "", realNodeLimit, "prometheus-"+prometheus.name+"-0")
		t.Logf("Prometheus pod %s ready %s after apply (made by the StatefulSet %s, in a namespace enforcing restricted)", prom.Name, time.Since(applied).Round(time.Second), prom.OwnerReferences[0].Name)
		n.checkStartOrder(t, prom)
		c.kubectl(t, []byte(podMonitors), "apply", "--server-side", "-f", "-")
		identity := "spiffe://cluster.local/ns/monitoring/sa/" + prom.Spec.ServiceAccountName
		tg.scraped(t, prom.Status.PodIP+":9090", identity, map[string]string{secureJob: tg.secure, "podMonitor/apps/secure-monitored/0": tg.monitored, "podMonitor/apps/plain-app/0": tg.plain})
		// The negative control: a pod that runs as root, in that namespace.
		_, err := c.client.CoreV1().Pods("monitoring").Create(context.Background(), &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "breaks-restricted"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: targetImage}}},
		}, metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), `violates PodSecurity "restricted:latest"`) {
			t.Fatalf("a pod breaking the restricted standard was not refused: %v", err)
		}
		t.Logf("refused: %v", err)
	})
}

// plainJobs: the function's secure job scrapes the annotated mTLS target, the
// user's plain pod job the plaintext one.
func plainJobs(tg *realTargets) map[string]string {
	return map[string]string{secureJob: tg.secure, plainJob: tg.plain}
}

// exported: the collector whose prometheus exporter is at web scraped the
// annotated mTLS target in the secure job, over https, and the plaintext one
// in the plain job, each once, and their samples reached that exporter; the
// target saw its identity.
func (tg *realTargets) exported(t *testing.T, web, identity string) {
	t.Helper()
	waitFor(t, "the collector's exporter: each target up in its job, once", 3*time.Minute, func() error {
		up := exported(web, "up")
		sec, pl := of(up, secureJob, tg.secure), of(up, plainJob, tg.plain)
		if len(sec) != 1 || sec[0].value != 1 || sec[0].labels["url_scheme"] != "https" {
			return fmt.Errorf("secure target: %+v", sec)
		}
		if len(pl) != 1 || pl[0].value != 1 || pl[0].labels["url_scheme"] != "http" {
			return fmt.Errorf("plain target: %+v", pl)
		}
		if k, m := len(of(up, "", tg.secure)), len(of(up, "", tg.plain)); k != 1 || m != 1 {
			return fmt.Errorf("the secure pod is scraped by %d jobs, the plain one by %d", k, m)
		}
		if v := of(exported(web, "e2e_secure_requests_total"), secureJob, tg.secure); len(v) != 1 || v[0].value < 1 {
			return fmt.Errorf("no sample of the secure target's metric arrived: %+v", v)
		}
		return nil
	})
	tg.saw(t, tg.securePod, identity)
}

// The PodMonitors of the second mTLS target (the function's scrape class) and
// of the plaintext target, selected by kube-prometheus-stack's Prometheus.
const podMonitors = `apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: secure-monitored, namespace: apps, labels: {release: kps}}
spec:
  scrapeClass: istio-mtls
  selector: {matchLabels: {app: secure-monitored}}
  podMetricsEndpoints: [{port: https-metrics, scheme: https}]
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: plain-app, namespace: apps, labels: {release: kps}}
spec:
  selector: {matchLabels: {app: plain-app}}
  podMetricsEndpoints: [{port: http-metrics}]
`

// opPrometheus is what the function's output holds for the operator: the
// Prometheus resource and what it needs (the documents to apply), its name,
// and the images its pod will ask for.
type opPrometheus struct {
	docs           []byte
	name, image    string
	initContainers []corev1.Container
}

// operatorPrometheus picks, from the function's output on the
// kube-prometheus-stack render, the Prometheus resource, the Secret the
// function created for it, and its service account and RBAC, unmodified.
func operatorPrometheus(t *testing.T, stream []byte) opPrometheus {
	t.Helper()
	var p opPrometheus
	var keep []string
	for _, doc := range strings.Split(string(stream), "\n---\n") {
		var obj struct {
			Kind     string
			Metadata struct {
				Name   string
				Labels map[string]string
			}
			Spec struct {
				Image          string
				InitContainers []corev1.Container `json:"initContainers"`
			}
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil || obj.Kind == "" {
			continue
		}
		switch {
		case obj.Kind == "Prometheus":
			p.name, p.image, p.initContainers = obj.Metadata.Name, obj.Spec.Image, obj.Spec.InitContainers
		case obj.Kind == "Secret" && obj.Metadata.Labels["app.kubernetes.io/managed-by"] == "istio-prometheus-mtls":
		case slices.Contains([]string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding"}, obj.Kind) && obj.Metadata.Name == "kps-kube-prometheus-stack-prometheus":
		default:
			continue
		}
		keep = append(keep, doc)
	}
	if p.name == "" || len(keep) != 5 {
		t.Fatalf("the output holds %d of the 5 documents (Prometheus %q, its Secret, service account, ClusterRole, binding)", len(keep), p.name)
	}
	p.docs = []byte(strings.Join(keep, "\n---\n"))
	return p
}

// targets are the target pods' addresses (pod IP:port): two mTLS ones, one
// scraped by annotation, the other by a PodMonitor, and a plaintext one.
type realTargets struct {
	n                        *realNode
	secure, monitored, plain string
	securePod, monitoredPod  string
}

// startTargets starts the target pods: the mTLS ones run the agent the
// function emitted as a native sidecar (its workload certificate), as an
// injected pod runs one.
func (n *realNode) startTargets(t *testing.T, spec corev1.PodSpec) *realTargets {
	t.Helper()
	c := n.cluster
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
	mtls := func(name string, annotations map[string]string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "apps", Labels: map[string]string{"app": name}, Annotations: annotations},
			Spec: corev1.PodSpec{ServiceAccountName: "secure-app", InitContainers: []corev1.Container{agent}, Volumes: volumes,
				Containers: []corev1.Container{{Name: "app", Image: targetImage, ImagePullPolicy: never,
					Args: []string{"-addr", fmt.Sprintf(":%d", securePort), "-certs", certDir, "-status", fmt.Sprintf(":%d", targetStatus), "-metric", "e2e_secure_requests_total",
						"-allow", strings.Join(servedClients, ",")},
					VolumeMounts: []corev1.VolumeMount{{Name: "istio-certs", MountPath: certDir, ReadOnly: true}},
					Ports:        []corev1.ContainerPort{{Name: "https-metrics", ContainerPort: securePort}}}}},
		}
	}
	pods := []*corev1.Pod{
		mtls("secure-app", map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": fmt.Sprint(securePort),
			"sidecar.istio.io/status": `{"initContainers":["istio-proxy"],"containers":null}`}),
		// Not annotated for scraping: only its PodMonitor scrapes it.
		mtls("secure-monitored", map[string]string{"sidecar.istio.io/status": `{"initContainers":["istio-proxy"],"containers":null}`}),
		{
			ObjectMeta: metav1.ObjectMeta{Name: "plain-app", Namespace: "apps", Labels: map[string]string{"app": "plain-app"}, Annotations: map[string]string{
				"prometheus.io/scrape": "true", "prometheus.io/port": fmt.Sprint(targetStatus)}},
			Spec: corev1.PodSpec{ServiceAccountName: "plain-app", Containers: []corev1.Container{{Name: "app", Image: targetImage, ImagePullPolicy: never,
				Args:  []string{"-addr", fmt.Sprintf(":%d", targetStatus), "-metric", "e2e_plain_requests_total"},
				Ports: []corev1.ContainerPort{{Name: "http-metrics", ContainerPort: targetStatus}}}}},
		},
	}
	for _, p := range pods {
		if _, err := c.client.CoreV1().Pods("apps").Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tg := &realTargets{n: n}
	ip := func(name string) string { return n.readyPod(t, "apps", "", realNodeLimit, name).Status.PodIP }
	tg.securePod, tg.monitoredPod = ip("secure-app"), ip("secure-monitored")
	tg.secure = fmt.Sprintf("%s:%d", tg.securePod, securePort)
	tg.monitored = fmt.Sprintf("%s:%d", tg.monitoredPod, securePort)
	tg.plain = fmt.Sprintf("%s:%d", ip("plain-app"), targetStatus)
	return tg
}

// scraped: the scraper answering on web (Prometheus or vmagent: the same
// targets API) has each target of jobs (job → address) up in that job, over
// https for the mTLS ones, and no target of the test in two jobs; the mTLS
// targets saw its identity.
func (tg *realTargets) scraped(t *testing.T, web, identity string, jobs map[string]string) {
	t.Helper()
	waitFor(t, "each target up in its job, once", 2*time.Minute, func() error {
		ts := targets(t, web)
		for job, addr := range jobs {
			scheme := "http://"
			if addr != tg.plain {
				scheme = "https://"
			}
			if s := on(ts, job, addr); len(s) != 1 || s[0].Health != "up" || !strings.HasPrefix(s[0].ScrapeURL, scheme) {
				return fmt.Errorf("job %s, target %s: %+v", job, addr, s)
			}
			if k := len(on(ts, "", addr)); k != 1 {
				return fmt.Errorf("%s is scraped by %d jobs", addr, k)
			}
		}
		return nil
	})
	addrs := map[string]bool{}
	for _, a := range jobs {
		addrs[a] = true
	}
	for _, pod := range []string{tg.securePod, tg.monitoredPod} {
		if !addrs[fmt.Sprintf("%s:%d", pod, securePort)] {
			continue
		}
		tg.saw(t, pod, identity)
	}
}

// saw: the mTLS target pod saw identity among the clients of its handshakes,
// and no client but the test's scrapers.
func (tg *realTargets) saw(t *testing.T, pod, identity string) {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://%s:%d/seen", pod, targetStatus))
	if err != nil {
		t.Fatal(err)
	}
	seen, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	ids := strings.Fields(string(seen))
	if !slices.Contains(ids, identity) {
		t.Fatalf("the mTLS target %s saw %q, not %s", pod, ids, identity)
	}
	if i := slices.IndexFunc(ids, func(id string) bool {
		return !slices.ContainsFunc(servedClients, func(p string) bool { return strings.HasPrefix(id, p) })
	}); i >= 0 {
		t.Fatalf("the mTLS target %s saw %s, none of the test's scrapers", pod, ids[i])
	}
	t.Logf("the mTLS target %s saw %s (%d handshakes in all)", pod, identity, len(ids))
}

// operatorVersion is the prometheus-operator e2e/build.sh builds: the
// requirement of the wrapper module e2e/operator (its CRDs come from that
// module's source).
func operatorVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("operator/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "require" && f[1] == "github.com/prometheus-operator/prometheus-operator" {
			return f[2]
		}
	}
	t.Fatal("e2e/operator/go.mod requires no prometheus-operator")
	return ""
}

// istioCRDs is Istio's CRDs in the source of the Istio module the agent and
// istiod are built from.
func istioCRDs(t *testing.T) string {
	t.Helper()
	return filepath.Join(goModCache(t), "istio.io", "istio@"+istioVersion, "manifests/charts/base/files/crd-all.gen.yaml")
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

// restrictedAdmits checks, with a server-side dry run in a namespace enforcing
// the restricted Pod Security standard, the pod its controller would make of
// template (an emitted pod template): what the function wrote there (the
// containers and volumes its ownership record names) breaks nothing of the
// standard — where the pod is refused, only the chart's own containers are
// named — and with the chart's own containers set as a user running restricted
// sets them (a restricted securityContext, no host ports), the pod is admitted.
func (n *realNode) restrictedAdmits(t *testing.T, name string, template corev1.PodTemplateSpec) {
	t.Helper()
	const ns = "restricted"
	ctx := context.Background()
	if _, err := n.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
		n.kubectl(t, nil, "create", "namespace", ns)
		n.kubectl(t, nil, "label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/enforce-version=latest")
	}
	if sa := template.Spec.ServiceAccountName; sa != "" {
		if _, err := n.client.CoreV1().ServiceAccounts(ns).Get(ctx, sa, metav1.GetOptions{}); err != nil {
			n.kubectl(t, nil, "-n", ns, "create", "serviceaccount", sa)
		}
	}
	var record struct {
		InitContainers []string `json:"initContainers"`
		Containers     []string `json:"containers"`
		Volumes        []string `json:"volumes"`
	}
	if err := json.Unmarshal([]byte(template.Annotations["istio-prometheus-mtls.dev/status"]), &record); err != nil {
		t.Fatalf("%s: the ownership record: %v", name, err)
	}
	ours := append(slices.Clone(record.InitContainers), record.Containers...)
	if len(ours) == 0 {
		t.Fatalf("%s: the ownership record names no container", name)
	}
	dryRun := func(spec corev1.PodSpec) error {
		_, err := n.client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{GenerateName: name + "-", Labels: template.Labels, Annotations: template.Annotations},
			Spec:       spec,
		}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	}
	err := dryRun(*template.Spec.DeepCopy())
	if err != nil {
		msg := err.Error()
		if !strings.Contains(msg, `violates PodSecurity "restricted:latest"`) {
			t.Fatalf("%s: refused, not by Pod Security: %v", name, err)
		}
		for _, w := range append(ours, record.Volumes...) {
			if strings.Contains(msg, `"`+w+`"`) {
				t.Errorf("%s: what the function wrote (%s) breaks the restricted standard: %v", name, w, err)
			}
		}
		t.Logf("%s as emitted: %v (the chart's own containers)", name, err)
	} else {
		t.Logf("%s as emitted: admitted under restricted", name)
	}
	spec := *template.Spec.DeepCopy()
	no, yes, runtimeDefault := false, true, corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range list {
			c := &list[i]
			if slices.Contains(ours, c.Name) {
				continue
			}
			if c.SecurityContext == nil {
				c.SecurityContext = &corev1.SecurityContext{}
			}
			sc := c.SecurityContext
			sc.AllowPrivilegeEscalation, sc.RunAsNonRoot, sc.SeccompProfile = &no, &yes, &runtimeDefault
			sc.Capabilities = &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}
			if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
				sc.RunAsUser = nil
			}
			for j := range c.Ports {
				c.Ports[j].HostPort = 0
			}
		}
	}
	if err := dryRun(spec); err != nil {
		t.Errorf("%s, its own containers made restricted: refused: %v", name, err)
	}
}
