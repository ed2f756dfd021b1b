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
	vmIdentity   = "spiffe://cluster.local/ns/monitoring/sa/vma-victoria-metrics-agent"
	vmImage      = "istio-prometheus-mtls-e2e/vmagent:test"
	vmagentBin   = "vmagent-v1.151.0"
	agentImage   = "istio-prometheus-mtls-e2e/agent:test"
	promImage    = "istio-prometheus-mtls-e2e/prometheus:test"
	// The workload certificate's lifetime asked of istiod (the agent's SECRET_TTL):
	// short, so that the test sees the agent rotate it and Prometheus follow.
	certTTL = 60 * time.Second
)

// scraperIdentities are the mesh identities the secure target lets in: the
// scrapers' service accounts (an AuthorizationPolicy would name them).
var scraperIdentities = []string{promIdentity, vmIdentity, otelIdentity}

// emitted is what the function wrote for the Istio addon's Prometheus.
type emitted struct {
	stream     []byte
	deployment appsv1.Deployment
}

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
func runFunction(t *testing.T, args ...string) emitted {
	t.Helper()
	return runFunctionOn(t, "istio-addon-prometheus.yaml", args...)
}

// runFunctionOn runs the function as a Helm post-renderer over a shared
// fixture, with key=value config args, and returns its output.
func runFunctionOn(t *testing.T, fixture string, args ...string) emitted {
	t.Helper()
	in, err := os.ReadFile("../../shared/fixtures/" + fixture)
	if err != nil {
		t.Fatalf("%v (the tests expect ../shared beside the checkout)", err)
	}
	return runFunctionWith(t, in, args...)
}

// runFunctionWith runs the function as a post-renderer on in; the scraper's
// Deployment or DaemonSet is read back (a DaemonSet as a Deployment of its
// template: the kubelet runner starts one pod of either).
func runFunctionWith(t *testing.T, in []byte, args ...string) emitted {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "istio-prometheus-mtls")
	build := exec.Command("go", "build", "-o", bin, "./fn")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the function: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, append([]string{"post-render", "istio-version=1.31"}, args...)...)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the function: %v\n%s", err, stderr.String())
	}
	e := emitted{stream: out}
	for _, doc := range strings.Split(string(out), "\n---\n") {
		switch {
		case strings.Contains(doc, "\nkind: Deployment\n"):
			if err := yaml.UnmarshalStrict([]byte(doc), &e.deployment); err != nil {
				t.Fatal(err)
			}
		case strings.Contains(doc, "\nkind: DaemonSet\n"):
			var ds appsv1.DaemonSet
			if err := yaml.UnmarshalStrict([]byte(doc), &ds); err != nil {
				t.Fatal(err)
			}
			e.deployment = appsv1.Deployment{ObjectMeta: ds.ObjectMeta, Spec: appsv1.DeploymentSpec{Selector: ds.Spec.Selector, Template: ds.Spec.Template}}
		}
	}
	if e.deployment.Name == "" {
		t.Fatal("no Deployment or DaemonSet in the function's output")
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

// createPod creates pod in the API server, bound to this machine's node, with
// the IP the kubelet's sandbox would give it; with running, its status says
// running and ready (a stand-in pod no kubelet runs), else it is pending for
// the kubelet runner to report.
func (c *cluster) createPod(t *testing.T, pod *corev1.Pod, ip string, running bool) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	pod.Spec.NodeName = "e2e-node"
	created, err := c.client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s/%s: %v", pod.Namespace, pod.Name, err)
	}
	now := metav1.Now()
	created.Status = corev1.PodStatus{
		Phase: corev1.PodPending, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}, HostIP: "127.0.0.1",
		HostIPs: []corev1.HostIP{{IP: "127.0.0.1"}}, StartTime: &now,
	}
	if running {
		created.Status.Phase = corev1.PodRunning
		created.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}
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
			writeConfigMap(t, dir, cm, s.ConfigMap.Items, s.ConfigMap.Optional)
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
					writeConfigMap(t, dir, cm, src.ConfigMap.Items, src.ConfigMap.Optional)
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

// writeConfigMap writes cm into dir as the kubelet does: every key under its
// own name, or with items only the keys they list, each at its path (a listed
// key the ConfigMap lacks fails the mount, here the test, unless optional).
func writeConfigMap(t *testing.T, dir string, cm *corev1.ConfigMap, items []corev1.KeyToPath, optional *bool) {
	t.Helper()
	if len(items) == 0 {
		for k, val := range cm.Data {
			writeFile(t, filepath.Join(dir, k), val)
		}
		return
	}
	for _, it := range items {
		val, ok := cm.Data[it.Key]
		if !ok && optional != nil && *optional {
			continue
		}
		if !ok {
			t.Fatalf("ConfigMap %s/%s has no key %s", cm.Namespace, cm.Name, it.Key)
		}
		writeFile(t, filepath.Join(dir, it.Path), val)
	}
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
	addr       string
	mu         sync.Mutex
	serials    []string // client certificate serials seen, in order
	hits       int
	perSerial  map[string]int // requests by client certificate serial
	handshakes []handshake
}

// handshake is one TLS handshake of a client, with the certificate it presented.
type handshake struct {
	at     time.Time
	serial string
}

func (tg *target) handshake(serial string) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	tg.handshakes = append(tg.handshakes, handshake{time.Now(), serial})
}

func (tg *target) shakes() ([]handshake, map[string]int) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	per := map[string]int{}
	for k, v := range tg.perSerial {
		per[k] = v
	}
	return append([]handshake{}, tg.handshakes...), per
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
			if tg.perSerial == nil {
				tg.perSerial = map[string]int{}
			}
			tg.perSerial[s]++
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

// mtlsConfig reads the certificates the target's agent keeps writing to dir, at
// every handshake; each client's handshake is told to shook.
func mtlsConfig(dir string, shook func(serial string)) *tls.Config {
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
						if slices.Contains(scraperIdentities, u.String()) {
							shook(chains[0][0].SerialNumber.String())
							return nil
						}
					}
					return fmt.Errorf("client is none of %v: %v", scraperIdentities, chains[0][0].URIs)
				},
			}, nil
		},
	}
}

// promTarget is one active target of Prometheus's /api/v1/targets.
type promTarget struct {
	ScrapePool string    `json:"scrapePool"`
	ScrapeURL  string    `json:"scrapeUrl"`
	Health     string    `json:"health"`
	LastError  string    `json:"lastError"`
	LastScrape time.Time `json:"lastScrape"`
	// LastSamples is vmagent's samples of the last scrape (Prometheus has none).
	LastSamples int               `json:"lastSamplesScraped"`
	Labels      map[string]string `json:"labels"`
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
