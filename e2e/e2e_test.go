// Package e2e runs what the function emits on a real single-node cluster: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler, the kubelet and a
// containerd of the test's own, istiod (pilot-discovery) out of cluster and
// prometheus-operator; the pods run Istio's agent (pilot-agent) and the scrapers
// (Prometheus, vmagent, the collector), and the tests check that each scrapes a
// sidecar pod over mTLS with the certificate its agent fetched, also through
// faults (TestRealNodeFaults). `make e2e` builds the components (e2e/build.sh)
// and runs them; E2E_BIN names the binaries.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
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

// servedClients are the mesh identities the mTLS targets serve (SPIFFE ID
// prefixes, as an AuthorizationPolicy would name them): Istio addon's
// Prometheus and the scrapers of the monitoring namespace.
var servedClients = []string{promIdentity, "spiffe://cluster.local/ns/monitoring/sa/"}

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
// template: the tests read its pod template).
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
	return activeTargets(web)
}

// activeTargets are the active targets of the targets API at web (Prometheus's
// or vmagent's), none when it does not answer.
func activeTargets(web string) []promTarget {
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

// sidecarCost reads a container's cgroups (dirs: its directory in each
// hierarchy, v1 or v2): peak memory, resident anonymous memory now, and CPU
// time as millicores over its life since start and over a last 10 s window.
func sidecarCost(t *testing.T, dirs []string, start time.Time) cost {
	t.Helper()
	read := func(files ...string) (string, bool) {
		for _, f := range files {
			for _, d := range dirs {
				if b, err := os.ReadFile(filepath.Join(d, f)); err == nil {
					return strings.TrimSpace(string(b)), true
				}
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
	cpuNanos := func() float64 {
		if s, ok := read("cpuacct.usage"); ok {
			return num(s)
		}
		if s, ok := read("cpu.stat"); ok {
			return stat(s, "usage_usec") * 1000
		}
		t.Fatalf("no cgroup CPU accounting in %v", dirs)
		return 0
	}
	var c cost
	before, t0 := cpuNanos(), time.Now()
	time.Sleep(10 * time.Second)
	total := cpuNanos()
	c.over = time.Since(start)
	c.lastMilli = (total - before) / float64(time.Since(t0).Nanoseconds()) * 1000
	c.avgMilli = total / float64(c.over.Nanoseconds()) * 1000
	if s, ok := read("memory.max_usage_in_bytes"); ok {
		c.peakMiB = num(s) / (1 << 20)
		m, _ := read("memory.stat")
		c.rssMiB = stat(m, "rss") / (1 << 20)
	} else if s, ok := read("memory.peak"); ok {
		c.peakMiB = num(s) / (1 << 20)
		m, _ := read("memory.stat")
		c.rssMiB = stat(m, "anon") / (1 << 20)
	} else {
		t.Fatalf("no cgroup memory accounting in %v", dirs)
	}
	return c
}
