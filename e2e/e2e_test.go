// Package e2e runs what the function emits with the real components: etcd,
// kube-apiserver, istiod (pilot-discovery) out of cluster, Istio's agent
// (pilot-agent) and Prometheus in containers, and checks that Prometheus scrapes a
// sidecar pod over mTLS with the certificates the agent fetched. `make e2e` builds
// the components (e2e/build.sh) and runs it; E2E_BIN names the binaries.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

const (
	istioVersion = "v0.0.0-20260827124520-eed52ebb66ad"
	secureJob    = "kubernetes-pods-istio-secure"
	plainJob     = "kubernetes-pods"
	promIdentity = "spiffe://cluster.local/ns/istio-system/sa/prometheus"
	agentImage   = "istio-prometheus-mtls-e2e/agent:test"
	promImage    = "istio-prometheus-mtls-e2e/prometheus:test"
	// The workload certificate's lifetime asked of istiod (the agent's SECRET_TTL):
	// short, so that the test sees the agent rotate it and Prometheus follow.
	certTTL = 60 * time.Second
)

// emitted is what the function wrote for the Istio addon's Prometheus.
type emitted struct {
	stream     []byte
	deployment appsv1.Deployment
}

// outage is how long istiod is unreachable when the Prometheus pod's agent
// starts: well inside the emitted startup probe's budget (600 × 1 s).
const outage = 20 * time.Second

// startupProbe returns a probe of c's startup probe at podIP as the kubelet
// makes it (HTTP GET, its timeout): the status code, or 0 when nothing answers.
func startupProbe(t *testing.T, c corev1.Container, podIP string) func() int {
	t.Helper()
	p := c.StartupProbe
	if p == nil || p.HTTPGet == nil {
		t.Fatalf("istio-proxy has no HTTP startup probe: %+v", p)
	}
	url := fmt.Sprintf("http://%s:%d%s", podIP, p.HTTPGet.Port.IntValue(), p.HTTPGet.Path)
	client := &http.Client{Timeout: time.Duration(p.TimeoutSeconds) * time.Second}
	return func() int {
		resp, err := client.Get(url)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
}

// runFunction builds the function from the main module and runs it as a Helm
// post-renderer over the Istio addon fixture: Istio 1.31 (the agent built here is
// a 1.31-era snapshot), its default form, which is agent only (no Envoy can be
// built here: the run fails if the default asks for Envoy).
func runFunction(t *testing.T) emitted {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "istio-prometheus-mtls")
	build := exec.Command("go", "build", "-o", bin, "./fn")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the function: %v\n%s", err, out)
	}
	in, err := os.ReadFile("../../shared/fixtures/istio-addon-prometheus.yaml")
	if err != nil {
		t.Fatalf("%v (the tests expect ../shared beside the checkout)", err)
	}
	cmd := exec.Command(bin, "post-render", "istio-version=1.31")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the function: %v\n%s", err, stderr.String())
	}
	e := emitted{stream: out}
	for _, doc := range strings.Split(string(out), "\n---\n") {
		if strings.Contains(doc, "\nkind: Deployment\n") {
			if err := yaml.UnmarshalStrict([]byte(doc), &e.deployment); err != nil {
				t.Fatal(err)
			}
		}
	}
	if e.deployment.Name == "" {
		t.Fatal("no Deployment in the function's output")
	}
	return e
}

func container(t *testing.T, spec corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %s", name)
	return corev1.Container{}
}

// createPod creates pod in the API server and sets its status as a kubelet would
// for a running pod on 127.0.0.x (no kubelet runs).
func (c *cluster) createPod(t *testing.T, pod *corev1.Pod, ip string) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	pod.Spec.NodeName = "e2e-node"
	created, err := c.client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s/%s: %v", pod.Namespace, pod.Name, err)
	}
	now := metav1.Now()
	created.Status = corev1.PodStatus{
		Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}, HostIP: "127.0.0.1",
		HostIPs: []corev1.HostIP{{IP: "127.0.0.1"}}, StartTime: &now,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}},
	}
	updated, err := c.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("pod status: %v", err)
	}
	return updated
}

// volumes makes, on this machine, what the kubelet would for each volume of pod:
// emptyDirs (the certificate volume as a shared tmpfs), ConfigMaps from the API
// server, the projected service-account tokens as real TokenRequests bound to the
// pod, and the downward API files.
func (c *cluster) volumes(t *testing.T, pod *corev1.Pod, memoryName string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		dir := hostDir(t)
		switch s := v.VolumeSource; {
		case s.EmptyDir != nil && s.EmptyDir.Medium == corev1.StorageMediumMemory && v.Name == memoryName:
			out[v.Name] = memoryVolume(t, "e2e-"+pod.Name+"-"+v.Name)
			continue
		case s.EmptyDir != nil:
		case s.ConfigMap != nil:
			var cm *corev1.ConfigMap
			waitFor(t, "ConfigMap "+s.ConfigMap.Name, 60*time.Second, func() error {
				var err error
				cm, err = c.client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, s.ConfigMap.Name, metav1.GetOptions{})
				if err != nil && s.ConfigMap.Optional != nil && *s.ConfigMap.Optional {
					cm, err = &corev1.ConfigMap{}, nil
				}
				return err
			})
			for k, val := range cm.Data {
				writeFile(t, filepath.Join(dir, k), val)
			}
		case s.DownwardAPI != nil:
			for _, it := range s.DownwardAPI.Items {
				var m map[string]string
				switch it.FieldRef.FieldPath {
				case "metadata.labels":
					m = pod.Labels
				case "metadata.annotations":
					m = pod.Annotations
				}
				var b strings.Builder
				for k, val := range m {
					fmt.Fprintf(&b, "%s=%q\n", k, val)
				}
				writeFile(t, filepath.Join(dir, it.Path), b.String())
			}
		case s.Projected != nil:
			for _, src := range s.Projected.Sources {
				switch {
				case src.ServiceAccountToken != nil:
					p := src.ServiceAccountToken
					var aud []string
					if p.Audience != "" {
						aud = []string{p.Audience}
					}
					tr, err := c.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, pod.Spec.ServiceAccountName, &authv1.TokenRequest{
						Spec: authv1.TokenRequestSpec{Audiences: aud, ExpirationSeconds: p.ExpirationSeconds,
							BoundObjectRef: &authv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}},
					}, metav1.CreateOptions{})
					if err != nil {
						t.Fatalf("TokenRequest for %s/%s: %v", pod.Namespace, pod.Spec.ServiceAccountName, err)
					}
					writeFile(t, filepath.Join(dir, p.Path), tr.Status.Token)
				case src.ConfigMap != nil:
					cm, err := c.client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, src.ConfigMap.Name, metav1.GetOptions{})
					if err != nil {
						t.Fatal(err)
					}
					for _, it := range src.ConfigMap.Items {
						writeFile(t, filepath.Join(dir, it.Path), cm.Data[it.Key])
					}
				case src.DownwardAPI != nil:
					for _, it := range src.DownwardAPI.Items {
						if it.FieldRef != nil && it.FieldRef.FieldPath == "metadata.namespace" {
							writeFile(t, filepath.Join(dir, it.Path), pod.Namespace)
						}
					}
				}
			}
		default:
			t.Fatalf("volume %s: a source this test does not make", v.Name)
		}
		out[v.Name] = bind(dir)
	}
	return out
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// target is a pod's stand-in server on 127.0.0.x. The secure one stands in for an
// Envoy sidecar's inbound listener: TLS with the workload certificate its own agent
// fetched, client certificates required, chaining to the mesh root and naming
// Prometheus's SPIFFE identity.
type target struct {
	addr    string
	mu      sync.Mutex
	serials []string // client certificate serials seen, in order
	hits    int
}

func (tg *target) metrics(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.mu.Lock()
		tg.hits++
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			s := r.TLS.PeerCertificates[0].SerialNumber.String()
			if len(tg.serials) == 0 || tg.serials[len(tg.serials)-1] != s {
				tg.serials = append(tg.serials, s)
			}
		}
		n := tg.hits
		tg.mu.Unlock()
		fmt.Fprintf(w, "# TYPE %s counter\n%s %d\n", name, name, n)
	})
}

func (tg *target) seen() []string {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return append([]string{}, tg.serials...)
}

func serve(t *testing.T, addr string, h http.Handler, tlsConfig *tls.Config) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if tlsConfig != nil {
		l = tls.NewListener(l, tlsConfig)
	}
	srv := &http.Server{Handler: h, ErrorLog: nil}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
}

// mtlsConfig reads the certificates the target's agent keeps writing to dir.
func mtlsConfig(dir string) *tls.Config {
	load := func() (*tls.Certificate, *x509.CertPool, error) {
		cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert-chain.pem"), filepath.Join(dir, "key.pem"))
		if err != nil {
			return nil, nil, err
		}
		root, err := os.ReadFile(filepath.Join(dir, "root-cert.pem"))
		if err != nil {
			return nil, nil, err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(root)
		return &cert, pool, nil
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cert, pool, err := load()
			if err != nil {
				return nil, err
			}
			return &tls.Config{
				Certificates: []tls.Certificate{*cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
				VerifyPeerCertificate: func(_ [][]byte, chains [][]*x509.Certificate) error {
					for _, u := range chains[0][0].URIs {
						if u.String() == promIdentity {
							return nil
						}
					}
					return fmt.Errorf("client is not %s: %v", promIdentity, chains[0][0].URIs)
				},
			}, nil
		},
	}
}

// promTarget is one active target of Prometheus's /api/v1/targets.
type promTarget struct {
	ScrapePool string            `json:"scrapePool"`
	ScrapeURL  string            `json:"scrapeUrl"`
	Health     string            `json:"health"`
	LastError  string            `json:"lastError"`
	LastScrape time.Time         `json:"lastScrape"`
	Labels     map[string]string `json:"labels"`
}

func targets(t *testing.T, web string) []promTarget {
	t.Helper()
	var r struct {
		Data struct {
			ActiveTargets []promTarget `json:"activeTargets"`
		} `json:"data"`
	}
	resp, err := http.Get("http://" + web + "/api/v1/targets?state=active")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	json.NewDecoder(resp.Body).Decode(&r)
	return r.Data.ActiveTargets
}

func query(t *testing.T, web, q string) int {
	t.Helper()
	var r struct {
		Data struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	resp, err := http.Get("http://" + web + "/api/v1/query?query=" + q)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	json.NewDecoder(resp.Body).Decode(&r)
	return len(r.Data.Result)
}

// on returns the targets of pool whose scrape URL names addr.
func on(ts []promTarget, pool, addr string) []promTarget {
	var out []promTarget
	for _, tg := range ts {
		if (pool == "" || tg.ScrapePool == pool) && strings.Contains(tg.ScrapeURL, "//"+addr+"/") {
			out = append(out, tg)
		}
	}
	return out
}

func firstCertNotAfter(t *testing.T, pemText []byte) (string, time.Time) {
	t.Helper()
	b, _ := pem.Decode(pemText)
	if b == nil {
		t.Fatal("no PEM")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber.String(), c.NotAfter
}

func TestScrapeOverMTLS(t *testing.T) {
	bin := os.Getenv("E2E_BIN")
	if bin == "" {
		t.Fatal("E2E_BIN is not set: run `make e2e` (e2e/build.sh builds the components)")
	}
	for _, p := range []int{9090, 9091, 9092, 15020, 15120} {
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err != nil {
			t.Fatalf("port %d is taken: %v", p, err)
		} else {
			l.Close()
		}
	}
	fnOut := runFunction(t)
	promPodSpec := fnOut.deployment.Spec.Template.Spec
	proxy := container(t, promPodSpec, "istio-proxy")
	if len(promPodSpec.InitContainers) == 0 || promPodSpec.InitContainers[0].Name != "istio-proxy" ||
		proxy.RestartPolicy == nil || *proxy.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Fatalf("istio-proxy is not the first, native, init container: %+v", promPodSpec.InitContainers)
	}
	if !slices.ContainsFunc(proxy.Env, func(e corev1.EnvVar) bool { return e.Name == "DISABLE_ENVOY" && e.Value == "true" }) ||
		proxy.StartupProbe == nil || proxy.StartupProbe.HTTPGet == nil || proxy.StartupProbe.HTTPGet.Port.IntValue() != 15020 {
		t.Fatalf("the default istio-proxy is not the agent alone, probed on 15020: env %+v, startupProbe %+v", proxy.Env, proxy.StartupProbe)
	}

	// The images: FROM scratch, the binaries built here.
	image(t, agentImage, map[string]string{"/usr/local/bin/pilot-agent": filepath.Join(bin, "pilot-agent")}, "/usr/local/bin/pilot-agent")
	reader := filepath.Join(t.TempDir(), "certread")
	if out, err := exec.Command("go", "build", "-o", reader, "./cmd/certread").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	image(t, promImage, map[string]string{"/bin/prometheus": filepath.Join(bin, "prometheus"), "/bin/certread": reader}, "/bin/prometheus")

	c := startCluster(t, bin)
	for _, ns := range []string{"istio-system", "apps"} {
		c.kubectl(t, nil, "create", "namespace", ns)
		// What kube-controller-manager's root-ca-cert-publisher would publish.
		c.kubectl(t, nil, "-n", ns, "create", "configmap", "kube-root-ca.crt", "--from-file=ca.crt="+filepath.Join(c.dir, "ca.crt"))
	}
	// Everything the function emitted but the Deployment (no controller runs): the
	// ServiceAccount, RBAC, the edited ConfigMap, the Service.
	var rest []string
	for _, doc := range strings.Split(string(fnOut.stream), "\n---\n") {
		if !strings.Contains(doc, "\nkind: Deployment\n") {
			rest = append(rest, doc)
		}
	}
	c.kubectl(t, []byte(strings.Join(rest, "\n---\n")), "apply", "-f", "-")
	c.kubectl(t, nil, "-n", "apps", "create", "serviceaccount", "secure-app")
	c.kubectl(t, nil, "-n", "apps", "create", "serviceaccount", "plain-app")
	modcache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	crds := filepath.Join(strings.TrimSpace(string(modcache)), "istio.io", "istio@"+istioVersion, "manifests/charts/base/files/crd-all.gen.yaml")
	istiod := c.startIstiod(t, crds, "istiod")

	// The Prometheus pod, as the Deployment's template says, on 127.0.0.10.
	promPod := c.createPod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "prometheus-e2e", Namespace: "istio-system", Labels: fnOut.deployment.Spec.Template.Labels, Annotations: fnOut.deployment.Spec.Template.Annotations},
		Spec:       *promPodSpec.DeepCopy(),
	}, "127.0.0.10")
	promNode := node{pod: promPod, apiPort: c.apiPort, mounts: c.volumes(t, promPod, "istio-certs")}
	// The agent asks for a short-lived certificate, to see it rotate.
	agent := container(t, promPod.Spec, "istio-proxy")
	agent.Env = append(agent.Env, corev1.EnvVar{Name: "SECRET_TTL", Value: certTTL.String()})

	// Prometheus reads the certificates as its user, 65534.
	certVolume := promNode.mounts["istio-certs"]
	var listing string
	certsIn := func() error {
		out, err := exec.Command("docker", "run", "--rm", "--user", "65534:65534", "--network", "none",
			"--mount", certVolume+",dst=/certs,readonly", "--entrypoint", "/bin/certread", promImage, "/certs").CombinedOutput()
		listing = string(out)
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		for _, f := range []string{"cert-chain.pem ", "key.pem ", "root-cert.pem "} {
			if !strings.Contains(listing, f) {
				return fmt.Errorf("%s missing: %s", f, listing)
			}
		}
		return nil
	}

	// The agent starts while istiod is unreachable (an outage; the pod's volumes,
	// istiod's root ConfigMap among them, exist from before it): its startup
	// probe, asked as the kubelet asks it, must fail while the certificates are
	// missing, so that the kubelet holds Prometheus back, and pass once they
	// are written after istiod is back.
	if err := istiod.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	istiod.Wait()
	agentID := promNode.run(t, "e2e-prometheus-istio-proxy", agentImage, agent, "1337:1337")
	agentStart := time.Now()
	probe := startupProbe(t, agent, "127.0.0.10")
	answers := map[int]int{} // status code (0: no answer) -> probes
	for deadline := time.Now().Add(outage); time.Now().Before(deadline); {
		code := probe()
		if code == http.StatusOK {
			t.Fatalf("the startup probe passed with istiod unreachable")
		}
		answers[code]++
		time.Sleep(time.Duration(agent.StartupProbe.PeriodSeconds) * time.Second)
	}
	if len(answers) == 1 && answers[0] > 0 {
		t.Fatalf("the agent never answered its startup probe in %s", outage)
	}
	t.Logf("startup probes with istiod unreachable, by status (0: no answer yet): %v", answers)
	istiod = c.startIstiod(t, crds, "istiod-again")
	back := time.Now()
	waitFor(t, "the startup probe to pass once istiod is back", 60*time.Second, func() error {
		if code := probe(); code != http.StatusOK {
			return fmt.Errorf("status %d", code)
		}
		return nil
	})
	if err := certsIn(); err != nil {
		t.Fatalf("the startup probe passed, but: %v", err)
	}
	t.Logf("istiod unreachable for %s at the agent's start: startup probe failing throughout, passing %s after istiod was back, with the certificates written",
		outage, time.Since(back).Round(100*time.Millisecond))

	waitFor(t, "the agent's certificates in the shared volume, readable by uid 65534", 60*time.Second, certsIn)
	t.Logf("certificate volume, read as uid 65534:\n%s", listing)

	// The targets: a sidecar pod whose own agent fetched its certificate, served
	// with mTLS, and a plaintext pod.
	securePort, plainPort := freePort(t), freePort(t)
	appAgent := container(t, promPodSpec, "istio-proxy")
	appAgent.Args = append(appAgent.Args, "--statusPort=15120") // two agents share the host's network
	var agentVolumes []corev1.Volume
	for _, v := range promPodSpec.Volumes {
		for _, m := range appAgent.VolumeMounts {
			if m.Name == v.Name {
				agentVolumes = append(agentVolumes, v)
			}
		}
	}
	securePod := c.createPod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "secure-app", Namespace: "apps", Annotations: map[string]string{
			"prometheus.io/scrape": "true", "prometheus.io/port": fmt.Sprint(securePort),
			"sidecar.istio.io/status": `{"initContainers":["istio-proxy"],"containers":null}`}},
		Spec: corev1.PodSpec{ServiceAccountName: "secure-app", Containers: []corev1.Container{{Name: "app", Image: "app",
			Ports: []corev1.ContainerPort{{ContainerPort: int32(securePort)}}}}, Volumes: agentVolumes},
	}, "127.0.0.11")
	appNode := node{pod: securePod, apiPort: c.apiPort, mounts: c.volumes(t, securePod, "")}
	appNode.run(t, "e2e-secure-app-istio-proxy", agentImage, appAgent, "1337:1337")
	appCerts := strings.TrimPrefix(appNode.mounts["istio-certs"], "type=bind,src=")
	waitFor(t, "the target's own workload certificate", 60*time.Second, func() error {
		_, err := os.Stat(filepath.Join(appCerts, "key.pem"))
		return err
	})
	secure := &target{addr: fmt.Sprintf("127.0.0.11:%d", securePort)}
	serve(t, secure.addr, secure.metrics("e2e_secure_requests_total"), mtlsConfig(appCerts))
	plainPod := c.createPod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "plain-app", Namespace: "apps", Annotations: map[string]string{
			"prometheus.io/scrape": "true", "prometheus.io/port": fmt.Sprint(plainPort)}},
		Spec: corev1.PodSpec{ServiceAccountName: "plain-app", Containers: []corev1.Container{{Name: "app", Image: "app",
			Ports: []corev1.ContainerPort{{ContainerPort: int32(plainPort)}}}}},
	}, "127.0.0.12")
	_ = plainPod
	plain := &target{addr: fmt.Sprintf("127.0.0.12:%d", plainPort)}
	serve(t, plain.addr, plain.metrics("e2e_plain_requests_total"), nil)

	// Prometheus, as emitted: its prometheus.yml, its mounts (the certificates
	// read-only), the chart's user; in-cluster service discovery.
	prom := container(t, promPod.Spec, "prometheus-server")
	promID := promNode.run(t, "e2e-prometheus-server", promImage, prom, "65534:65534")
	web := "127.0.0.1:9090"

	var ts []promTarget
	waitFor(t, "both targets up, each in its own job", 120*time.Second, func() error {
		ts = targets(t, web)
		s, p := on(ts, secureJob, secure.addr), on(ts, plainJob, plain.addr)
		if len(s) != 1 || s[0].Health != "up" || !strings.HasPrefix(s[0].ScrapeURL, "https://") {
			return fmt.Errorf("secure target: %+v", s)
		}
		if len(p) != 1 || p[0].Health != "up" || !strings.HasPrefix(p[0].ScrapeURL, "http://") {
			return fmt.Errorf("plain target: %+v", p)
		}
		return nil
	})
	if n := len(on(ts, "", secure.addr)); n != 1 {
		t.Errorf("the secure pod is scraped by %d jobs: %+v", n, on(ts, "", secure.addr))
	}
	if n := len(on(ts, "", plain.addr)); n != 1 {
		t.Errorf("the plain pod is scraped by %d jobs: %+v", n, on(ts, "", plain.addr))
	}
	waitFor(t, "a metric of each target in /api/v1/query", 60*time.Second, func() error {
		if query(t, web, "e2e_secure_requests_total") == 0 || query(t, web, "e2e_plain_requests_total") == 0 {
			return fmt.Errorf("not yet")
		}
		return nil
	})

	// Rotation: the agent writes a new certificate before the first expires, and
	// Prometheus presents it; the target stays up past the first one's expiry.
	first := secure.seen()[0]
	chain := readFromVolume(t, certVolume, "cert-chain.pem")
	serial, notAfter := firstCertNotAfter(t, chain)
	t.Logf("first client certificate %s (presented %s), expires %s", serial, first, notAfter.Format(time.RFC3339))
	waitFor(t, "a rotated client certificate, and the target up after the first expired", certTTL*3, func() error {
		if time.Now().Before(notAfter.Add(20 * time.Second)) {
			return fmt.Errorf("first certificate not expired yet")
		}
		s := on(targets(t, web), secureJob, secure.addr)
		if len(s) != 1 || s[0].Health != "up" || s[0].LastScrape.Before(notAfter) {
			return fmt.Errorf("secure target after expiry: %+v", s)
		}
		seen := secure.seen()
		if len(seen) < 2 || seen[len(seen)-1] == first {
			return fmt.Errorf("client certificates seen: %v", seen)
		}
		return nil
	})
	t.Logf("client certificates presented, in order: %v", secure.seen())

	// What the agent cost, from its container's cgroup, after it started without
	// istiod and rotated its certificate several times.
	cost := sidecarCost(t, agentID, agentStart)
	t.Logf("sidecar cost (the agent alone) over %s: peak memory %.1f MiB, now %.1f MiB (rss); CPU %.1f millicores on average, %.1f over the last 10 s",
		cost.over.Round(time.Second), cost.peakMiB, cost.rssMiB, cost.avgMilli, cost.lastMilli)
	limits := agent.Resources.Limits
	if mem := float64(limits.Memory().Value()) / (1 << 20); cost.peakMiB*2 > mem {
		t.Errorf("the agent's peak memory %.1f MiB leaves less than 2x headroom under its limit %.0f MiB", cost.peakMiB, mem)
	}
	if cpu := float64(limits.Cpu().MilliValue()); cost.avgMilli*2 > cpu {
		t.Errorf("the agent's CPU %.1f millicores leaves less than 2x headroom under its limit %.0fm", cost.avgMilli, cpu)
	}

	// The istio-proxy container killed and started again, as the kubelet
	// restarts a container of a running pod (restartPolicy Always): the pod's
	// memory volume stays, so the certificates are still there while the agent
	// is down, the agent passes its startup probe again, and every scrape of the
	// secure target through it succeeds.
	docker := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	secureUpThrough := func(what string, from time.Time, window time.Duration) time.Duration {
		t.Helper()
		var firstGood time.Duration
		for end := time.Now().Add(window); time.Now().Before(end); time.Sleep(time.Second) {
			s := on(targets(t, web), secureJob, secure.addr)
			if len(s) != 1 {
				continue // Prometheus not answering (restarting)
			}
			if s[0].Health == "down" {
				t.Fatalf("%s: the secure target went down: %s", what, s[0].LastError)
			}
			if firstGood == 0 && s[0].Health == "up" && s[0].LastScrape.After(from) {
				firstGood = s[0].LastScrape.Sub(from)
			}
		}
		if firstGood == 0 {
			t.Fatalf("%s: no good secure scrape in %s", what, window)
		}
		return firstGood
	}
	docker("kill", agentID)
	killed := time.Now()
	if err := certsIn(); err != nil {
		t.Fatalf("with the agent killed, the memory volume lost the certificates: %v", err)
	}
	time.Sleep(5 * time.Second) // the kubelet's first restart back-off is 10 s; less keeps the test short
	docker("start", agentID)
	waitFor(t, "the restarted agent's startup probe", 60*time.Second, func() error {
		if code := probe(); code != http.StatusOK {
			return fmt.Errorf("status %d", code)
		}
		return nil
	})
	t.Logf("istio-proxy killed and restarted: certificates kept in the memory volume, startup probe passing again %s after the kill; first good secure scrape %s after the kill",
		time.Since(killed).Round(100*time.Millisecond), secureUpThrough("istio-proxy restarted", killed, 40*time.Second).Round(100*time.Millisecond))

	// Prometheus restarted with the agent running: it starts with the files in
	// place, and its first scrape of the secure target is good.
	docker("kill", promID)
	docker("start", promID)
	restarted := time.Now()
	t.Logf("Prometheus restarted with the agent running: first good secure scrape %s after the restart",
		secureUpThrough("Prometheus restarted", restarted, 40*time.Second).Round(100*time.Millisecond))

	// istiod restarted mid-run, down for 30 s, with 60 s certificates: a renewal
	// falls in the outage; once istiod is back the agent gets the next
	// certificate and Prometheus presents it at its next scrape.
	if err := istiod.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	istiod.Wait()
	before := len(secure.seen())
	time.Sleep(30 * time.Second)
	c.startIstiod(t, crds, "istiod-third")
	back = time.Now()
	var presented time.Duration
	waitFor(t, "a certificate issued after istiod's restart, presented and scraped", certTTL*3, func() error {
		seen := secure.seen()
		if len(seen) <= before {
			return fmt.Errorf("client certificates seen: %v", seen)
		}
		if presented == 0 {
			presented = time.Since(back)
		}
		s := on(targets(t, web), secureJob, secure.addr)
		if len(s) != 1 || s[0].Health != "up" || s[0].LastScrape.Before(back) {
			return fmt.Errorf("secure target: %+v", s)
		}
		return nil
	})
	t.Logf("istiod down 30 s mid-run: a new client certificate presented %s after istiod was back, the secure target up %s after",
		presented.Round(100*time.Millisecond), time.Since(back).Round(100*time.Millisecond))

	// Negative controls. The same Prometheus without the certificates mounted (an
	// empty directory where the volume was) has no secure job at all: it cannot read
	// the CA file, so the scrape pool is refused. With another workload's mesh
	// certificates (the target's own: valid, but not Prometheus's identity) the
	// sidecar pod is down with a TLS error. The plaintext pod stays up in both.
	negative := func(name, certs, listen string) (promTarget, []promTarget) {
		n := promNode
		n.mounts = map[string]string{}
		for k, v := range promNode.mounts {
			n.mounts[k] = v
		}
		n.mounts["istio-certs"], n.mounts["storage-volume"] = certs, bind(hostDir(t))
		p := prom
		p.Args = append(append([]string{}, prom.Args...), "--web.listen-address="+listen)
		n.run(t, name, promImage, p, "65534:65534")
		var plainT []promTarget
		var ts []promTarget
		waitFor(t, name+": the plain target up", 120*time.Second, func() error {
			ts = targets(t, listen)
			if plainT = on(ts, plainJob, plain.addr); len(plainT) != 1 || plainT[0].Health != "up" {
				return fmt.Errorf("plain target: %+v", plainT)
			}
			return nil
		})
		return plainT[0], ts
	}
	_, ts = negative("e2e-prometheus-without-certs", bind(hostDir(t)), "127.0.0.1:9091")
	if s := on(ts, secureJob, secure.addr); len(s) != 0 {
		t.Errorf("without certificates, the secure job still has targets: %+v", s)
	}
	logs, _ := exec.Command("docker", "logs", "e2e-prometheus-without-certs").CombinedOutput()
	if !strings.Contains(string(logs), "unable to read CA cert") || !strings.Contains(string(logs), "scrape_pool="+secureJob) {
		t.Errorf("without certificates, Prometheus does not say why the secure job has no pool:\n%s", logs)
	}
	negative("e2e-prometheus-other-identity", bind(appCerts)+",readonly", "127.0.0.1:9092")
	waitFor(t, "with another identity's certificates: the secure target down with a TLS error", 60*time.Second, func() error {
		s := on(targets(t, "127.0.0.1:9092"), secureJob, secure.addr)
		if len(s) != 1 || s[0].Health != "down" || !strings.Contains(s[0].LastError, "tls") {
			return fmt.Errorf("secure target: %+v", s)
		}
		t.Logf("with another identity's certificates: %s", s[0].LastError)
		return nil
	})
}

// cost is a container's use of memory and CPU, read from its cgroup.
type cost struct {
	over                                 time.Duration
	peakMiB, rssMiB, avgMilli, lastMilli float64
}

// sidecarCost reads the cgroup of docker container id (v1, or v2 with either
// cgroup driver): peak memory, resident anonymous memory now, and CPU time as
// millicores over its life since start and over a last 10 s window.
func sidecarCost(t *testing.T, id string, start time.Time) cost {
	t.Helper()
	read := func(candidates ...string) (string, bool) {
		for _, c := range candidates {
			if b, err := os.ReadFile(c); err == nil {
				return strings.TrimSpace(string(b)), true
			}
		}
		return "", false
	}
	num := func(s string) float64 {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("cgroup value %q: %v", s, err)
		}
		return f
	}
	stat := func(text, key string) float64 {
		for _, l := range strings.Split(text, "\n") {
			if k, v, ok := strings.Cut(l, " "); ok && k == key {
				return num(v)
			}
		}
		t.Fatalf("no %s in %q", key, text)
		return 0
	}
	v2 := []string{"/sys/fs/cgroup/system.slice/docker-" + id + ".scope/", "/sys/fs/cgroup/docker/" + id + "/"}
	cpuNanos := func() float64 {
		if s, ok := read("/sys/fs/cgroup/cpuacct/docker/" + id + "/cpuacct.usage"); ok {
			return num(s)
		}
		if s, ok := read(v2[0]+"cpu.stat", v2[1]+"cpu.stat"); ok {
			return stat(s, "usage_usec") * 1000
		}
		t.Fatalf("no cgroup CPU accounting found for container %s", id)
		return 0
	}
	var c cost
	before, t0 := cpuNanos(), time.Now()
	time.Sleep(10 * time.Second)
	total := cpuNanos()
	c.over = time.Since(start)
	c.lastMilli = (total - before) / float64(time.Since(t0).Nanoseconds()) * 1000
	c.avgMilli = total / float64(c.over.Nanoseconds()) * 1000
	if s, ok := read("/sys/fs/cgroup/memory/docker/" + id + "/memory.max_usage_in_bytes"); ok {
		c.peakMiB = num(s) / (1 << 20)
		m, _ := read("/sys/fs/cgroup/memory/docker/" + id + "/memory.stat")
		c.rssMiB = stat(m, "rss") / (1 << 20)
	} else if s, ok := read(v2[0]+"memory.peak", v2[1]+"memory.peak"); ok {
		c.peakMiB = num(s) / (1 << 20)
		m, _ := read(v2[0]+"memory.stat", v2[1]+"memory.stat")
		c.rssMiB = stat(m, "anon") / (1 << 20)
	} else {
		t.Fatalf("no cgroup memory accounting found for container %s", id)
	}
	return c
}

// readFromVolume reads a file of a docker volume through a container.
func readFromVolume(t *testing.T, volume, name string) []byte {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	id, err := exec.Command("docker", "create", "--mount", volume+",dst=/certs,readonly", promImage).Output()
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Command("docker", "rm", "-f", strings.TrimSpace(string(id))).Run()
	out := filepath.Join(dir, name)
	if b, err := exec.Command("docker", "cp", strings.TrimSpace(string(id))+":/certs/"+name, out).CombinedOutput(); err != nil {
		t.Fatalf("docker cp: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
