package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
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
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// scraper is one Prometheus pod of the real node, in one form: made by
// kube-controller-manager from a Deployment of the function's output, started
// by the kubelet.
type scraper struct {
	form   string // "native", "classic", …
	n      *realNode
	ns     string
	pod    string // the pod's name
	uid    string
	agent  corev1.Container
	certs  *certWatch
	ip     string // the pod's address, once the kubelet reported it
	server string // the scraper's container
	// scrapes logs the secure target's scrapes (follow).
	scrapes *scrapeLog
	mu      sync.Mutex // guards ip
}

// TestRealNodeFaults runs the fault matrix on the real node: Istio's addon
// Prometheus as the function emits it, native and classic side by side (two
// Deployments of the output), through a cold start with istiod down, keep-alive
// across certificate rotations, the agent and Prometheus killed through the
// runtime (the kubelet restarts them), and istiod down mid-run with a third pod
// that nothing holds back started in that outage; then the negative controls.
// Each pod's agent asks for certTTL certificates (SECRET_TTL) to see them
// rotate; the test follows each pod's certificate in its memory volume (read
// in the node's mount namespace) and the target records every handshake.
func TestRealNodeFaults(t *testing.T) {
	bin := os.Getenv("E2E_BIN")
	if bin == "" {
		t.Fatal("E2E_BIN is not set: run `make e2e` (e2e/build.sh builds the components)")
	}
	native, classic := runFunction(t), runFunction(t, "native-sidecar=false")
	checkForms(t, native, classic)
	interval := scrapeInterval(t, native.stream)
	images := podImages(t, bin, native.deployment.Spec.Template.Spec, classic.deployment.Spec.Template.Spec)

	n := startRealNode(t, bin)
	n.importImages(t, images)
	c := n.cluster
	crds := istioCRDs(t)
	istiod := n.mesh(t, crds, "istio-system", "apps")
	var rest []string
	for _, doc := range strings.Split(string(native.stream), "\n---\n") {
		if !strings.Contains(doc, "\nkind: Deployment\n") {
			rest = append(rest, doc)
		}
	}
	c.kubectl(t, []byte(strings.Join(rest, "\n---\n")), "apply", "--server-side", "-f", "-")
	tg := n.startTargets(t, native.deployment.Spec.Template.Spec)
	secure := &target{addr: tg.secure, status: fmt.Sprintf("%s:%d", tg.securePod, targetStatus)}
	plainAddr := tg.plain

	var record []recovery
	// Each fault is a subtest, and each form a subtest of it; the faults
	// share one timeline (a failed one stops the rest). What lives longer
	// than a fault is made on T.
	T := t
	fault := func(name string, f func(t *testing.T)) {
		if !T.Run(name, f) {
			T.FailNow()
		}
	}
	var pods []*scraper

	// Fault 1: cold start with istiod down. istiod ran (its CA and root
	// ConfigMaps exist, the targets have their certificates), then goes down;
	// the Prometheus Deployments, native and classic, are created in the
	// outage.
	fault("1-cold-start-istiod-down-60s", func(t *testing.T) {
		stopIstiod(t, istiod)
		outageStart := time.Now()
		pods = []*scraper{
			n.deploy(T, "prometheus", "native", native.deployment, nil),
			n.deploy(T, "prometheus-classic", "classic", classic.deployment, nil),
		}
		for _, s := range pods {
			s.follow(T, secure.addr)
		}
		var probe func() int
		waitFor(t, "the native pod's address", 30*time.Second, func() error {
			web := pods[0].web()
			ip, _, _ := strings.Cut(web, ":")
			if ip == "127.0.0.1" {
				return fmt.Errorf("none yet")
			}
			probe = startupProbe(t, pods[0].agent, ip)
			return nil
		})
		answers := map[int]int{}
		for time.Since(outageStart) < coldOutage {
			code := probe()
			if code == http.StatusOK {
				t.Fatal("native: the agent's startup probe passed with istiod unreachable")
			}
			answers[code]++
			for _, s := range pods {
				if st := s.state(t, s.server); st.id != "" {
					t.Fatalf("%s: the kubelet started Prometheus with istiod unreachable, before the certificates existed\n%s", s.form, s.events(t))
				}
			}
			time.Sleep(time.Second)
		}
		if answers[http.StatusServiceUnavailable] == 0 {
			t.Fatalf("native: the agent never answered its startup probe with 503 in the outage: %v", answers)
		}
		t.Logf("istiod down %s at cold start: native startup probe answers by status (0: no answer yet) %v; Prometheus not started in either form", coldOutage, answers)
		istiod = c.startIstiod(T, crds, "istiod-after-cold-start")
		back := time.Now()
		for _, s := range pods {
			t.Run(s.form, func(t *testing.T) {
				took := firstGoodScrape(t, "the secure target up after istiod is back", s, back, coldRecoveryBudget)
				s.checkUntouched(t)
				waitFor(t, "a sample of each target in /api/v1/query", 60*time.Second, func() error {
					if query(t, s.web(), "e2e_secure_requests_total") == 0 || query(t, s.web(), "e2e_plain_requests_total") == 0 {
						return fmt.Errorf("not yet")
					}
					return nil
				})
				waitFor(t, "the plain target up in its own job, each target scraped by one job", 60*time.Second, func() error {
					ts := targets(t, s.web())
					if p := on(ts, plainJob, plainAddr); len(p) != 1 || p[0].Health != "up" || !strings.HasPrefix(p[0].ScrapeURL, "http://") {
						return fmt.Errorf("plain target %+v", p)
					}
					if k, m := len(on(ts, "", secure.addr)), len(on(ts, "", plainAddr)); k != 1 || m != 1 {
						return fmt.Errorf("the secure pod is scraped by %d jobs, the plain one by %d", k, m)
					}
					return nil
				})
				tg.saw(t, tg.securePod, promIdentity)
				record = append(record, recovery{"1 cold start, istiod down 60 s", s.form, took, "no Prometheus restart, no config reload, never saw a missing CA file"})
			})
		}
	})

	// Fault 5: keep-alive across rotations. The target keeps connections
	// alive; the certificate rotates every half lifetime; through three
	// rotations on each pod the target stays up and every new handshake
	// presents the certificate then on disk.
	fault("5-keep-alive-across-rotations", func(t *testing.T) {
		from := time.Now()
		waitFor(t, "three rotations on each pod, the target up throughout", 5*certTTL, func() error {
			for _, s := range pods {
				if ts := on(targets(t, s.web()), secureJob, secure.addr); len(ts) == 1 && ts[0].Health == "down" {
					t.Fatalf("%s: the secure target went down: %s", s.form, ts[0].LastError)
				}
			}
			for _, s := range pods {
				if k := len(certsSince(s.certs, from)); k < 3 {
					return fmt.Errorf("%s: %d rotations so far", s.form, k)
				}
			}
			return nil
		})
		until := time.Now()
		time.Sleep(interval + 2*time.Second) // the last rotation's certificate presented
		for _, s := range pods {
			t.Run(s.form, func(t *testing.T) {
				record = append(record, checkHandshakes(t, s, secure, from, until))
			})
		}
		// What the agent cost, from its container's cgroup: started in
		// istiod's outage, rotated its certificate since.
		pods[0].reportCost(t)
	})

	// Fault 3: istio-proxy killed through the runtime; the kubelet restarts
	// it. Fault 4: Prometheus killed; the kubelet restarts it, the agent
	// running.
	for _, f := range []struct{ name, container, note string }{
		{"3-istio-proxy-killed", "istio-proxy", "started again by the kubelet, running; no secure scrape failed"},
		{"4-prometheus-killed", "prometheus-server", "started with the files in place, first scrape good"},
	} {
		fault(f.name, func(t *testing.T) {
			killed := time.Now()
			for _, s := range pods {
				s.kill(t, f.container)
			}
			took := secureUpThrough(t, pods, f.container, secure, killed, 40*time.Second)
			for _, s := range pods {
				t.Run(s.form, func(t *testing.T) {
					if st := s.state(t, f.container); st.restarts < 1 || !st.running {
						t.Fatalf("the kubelet did not restart %s: %+v\n%s", f.container, st, s.events(t))
					}
					record = append(record, recovery{f.name, s.form, took[s], f.note})
				})
			}
		})
	}

	// Fault 2: istiod down 30 s mid-run, with 60 s certificates: a renewal
	// falls in the outage. Once istiod is back the agents get their next
	// certificates, each presented within one scrape interval. A third
	// Prometheus pod, classic with nothing to hold it back (istio-proxy last,
	// no postStart hook: prometheus-operator's order; pilot-agent before 1.7
	// has no wait), starts in the outage: it starts before its certificates
	// exist and must build the secure pool by itself once they appear.
	var unheld *scraper
	fault("2-istiod-down-30s-mid-run", func(t *testing.T) {
		stopIstiod(t, istiod)
		down := time.Now()
		unheld = n.deploy(T, "prometheus-unheld", "classic, not held back", unhold(classic).deployment, nil)
		unheld.follow(T, secure.addr)
		wentDown := map[string]bool{}
		for time.Since(down) < midOutage {
			for _, s := range pods {
				if ts := on(targets(t, s.web()), secureJob, secure.addr); len(ts) == 1 && ts[0].Health == "down" {
					wentDown[s.form] = true
				}
			}
			time.Sleep(time.Second)
		}
		c.startIstiod(T, crds, "istiod-after-mid-run")
		back := time.Now()
		for _, s := range pods {
			t.Run(s.form, func(t *testing.T) {
				record = append(record, nextCertificate(t, s, secure, back, interval, wentDown[s.form]))
			})
		}
		t.Run("not-held-back", func(t *testing.T) {
			var files handshake
			waitFor(t, "the unheld pod's certificates written", 60*time.Second, func() error {
				var ok bool
				if files, ok = unheld.certs.firstAfter(down); !ok {
					return fmt.Errorf("none yet")
				}
				return nil
			})
			if logs := unheld.logs(t, unheld.server); !strings.Contains(logs, "unable to read CA cert") {
				t.Fatalf("the unheld Prometheus did not start before its certificates (no \"unable to read CA cert\"):\n%s", logs)
			}
			took := firstGoodScrape(t, "the secure target up after its certificates appeared", unheld, files.At, recoveryBudget)
			unheld.checkUntouched(t)
			record = append(record, recovery{"2b Prometheus started before its certificates (not held back)", unheld.form, took,
				"secure pool refused at start (unable to read CA cert), built at the next target update (istio-proxy turning ready), no restart or reload"})
		})
	})

	for _, s := range append(pods, unheld) {
		t.Logf("events of the %s pod %s:\n%s", s.form, s.pod, s.events(t))
	}
	var b strings.Builder
	for _, r := range record {
		fmt.Fprintf(&b, "\n  %-62s %-24s %7s  %s", r.fault, r.form, r.took.Round(100*time.Millisecond), r.note)
	}
	t.Logf("recovery: time from the fault's end to the first good secure scrape%s", b.String())

	t.Run("negative-controls", func(t *testing.T) { n.negativeControls(t, native, secure, plainAddr) })
}

// mesh starts istiod and waits for what the pods of namespaces need from the
// real controllers: kube-root-ca.crt (kube-controller-manager),
// istio-ca-root-cert (istiod) and the default service account; it returns
// istiod's process.
func (n *realNode) mesh(t *testing.T, crds string, namespaces ...string) *exec.Cmd {
	t.Helper()
	c := n.cluster
	for _, ns := range namespaces {
		c.kubectl(t, nil, "create", "namespace", ns)
	}
	istiod := c.startIstiod(t, crds, "istiod")
	for _, ns := range namespaces {
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
	return istiod
}

// deploy creates Deployment name of d (the function's output, a form of it),
// its pods told apart by an e2e-form label, its agent (if any) asking for
// certTTL certificates; edit, if given, changes the pod spec further. It
// returns the scraper once the kubelet gave the pod its address, without
// waiting for it to be ready, and follows its certificate from then on.
func (n *realNode) deploy(t *testing.T, name, form string, d appsv1.Deployment, edit func(*corev1.PodSpec)) *scraper {
	t.Helper()
	d = *d.DeepCopy()
	sel := map[string]string{"e2e-form": name}
	d.ObjectMeta = metav1.ObjectMeta{Name: name, Namespace: d.Namespace, Labels: d.Labels}
	d.Spec.Selector = &metav1.LabelSelector{MatchLabels: sel}
	labels := map[string]string{}
	for k, v := range d.Spec.Template.Labels {
		labels[k] = v
	}
	labels["e2e-form"] = name
	d.Spec.Template.Labels = labels
	spec := &d.Spec.Template.Spec
	for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range list {
			if list[i].Name == "istio-proxy" {
				list[i].Env = append(list[i].Env, corev1.EnvVar{Name: "SECRET_TTL", Value: certTTL.String()})
			}
		}
	}
	if edit != nil {
		edit(spec)
	}
	if _, err := n.client.AppsV1().Deployments(d.Namespace).Create(context.Background(), &d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Deployment %s: %v", name, err)
	}
	s := &scraper{form: form, n: n, ns: d.Namespace, server: spec.Containers[len(spec.Containers)-1].Name}
	for _, c := range spec.Containers {
		if c.Name != "istio-proxy" && strings.Contains(c.Image, "prometheus") && !strings.Contains(c.Image, "reload") {
			s.server = c.Name
		}
	}
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		if c.Name == "istio-proxy" {
			s.agent = c
		}
	}
	waitFor(t, "the pod of Deployment "+name, realNodeLimit, func() error {
		l, err := n.client.CoreV1().Pods(d.Namespace).List(context.Background(), metav1.ListOptions{LabelSelector: "e2e-form=" + name})
		if err != nil {
			return err
		}
		if len(l.Items) != 1 {
			return fmt.Errorf("%d pods", len(l.Items))
		}
		p := l.Items[0]
		s.pod, s.uid, s.ip = p.Name, string(p.UID), p.Status.PodIP
		return nil
	})
	// The memory volume as the kubelet mounted it, in the node's mount
	// namespace.
	s.certs = watchCerts(t, filepath.Join("/proc", strconv.Itoa(n.nsPid), "root", n.dir, "kubelet", "pods", s.uid,
		"volumes", "kubernetes.io~empty-dir", "istio-certs", "cert-chain.pem"))
	return s
}

// web is Prometheus's listen address (pod IP:9090), or one where nothing
// answers while the kubelet has not reported the pod's address: it does only
// once its sync of the pod returns, which the classic form's postStart hook
// holds until the certificates are written.
func (s *scraper) web() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ip == "" {
		if p, err := s.n.client.CoreV1().Pods(s.ns).Get(context.Background(), s.pod, metav1.GetOptions{}); err == nil {
			s.ip = p.Status.PodIP
		}
	}
	if s.ip == "" {
		return "127.0.0.1:1"
	}
	return s.ip + ":9090"
}

// cstate is a container of a pod as the kubelet reports it.
type cstate struct {
	id       string // the runtime's container ID, "" when never created
	restarts int32
	running  bool
}

func (s *scraper) state(t *testing.T, name string) cstate {
	t.Helper()
	p, err := s.n.client.CoreV1().Pods(s.ns).Get(context.Background(), s.pod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
		if st.Name == name {
			_, id, _ := strings.Cut(st.ContainerID, "://")
			return cstate{id: id, restarts: st.RestartCount, running: st.State.Running != nil}
		}
	}
	t.Fatalf("pod %s has no container %s", s.pod, name)
	return cstate{}
}

// kill kills a container of the pod through the runtime (SIGKILL to its
// task), as a crash or an OOM kill would end it.
func (s *scraper) kill(t *testing.T, name string) {
	t.Helper()
	st := s.state(t, name)
	if st.id == "" || !st.running {
		t.Fatalf("%s: container %s is not running: %+v", s.form, name, st)
	}
	run(t, "ctr", "-a", s.n.sock, "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", st.id)
}

// events are the pod's events, oldest first.
func (s *scraper) events(t *testing.T) string {
	t.Helper()
	return s.n.kubectl(t, nil, "-n", s.ns, "get", "events", "--field-selector", "involvedObject.name="+s.pod, "--sort-by=.lastTimestamp")
}

// logs are every log of a container of the pod, as the kubelet keeps them
// (podLogsDir): each instance's, oldest first.
func (s *scraper) logs(t *testing.T, name string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(s.n.dir, "logs", s.ns+"_"+s.pod+"_"+s.uid, name, "*.log"))
	slices.Sort(files)
	var b strings.Builder
	for _, f := range files {
		text, _ := os.ReadFile(f)
		b.Write(text)
	}
	return b.String()
}

// checkUntouched: Prometheus ran as one process from its start (no restart),
// loaded its config once (no reload), and (held back) never read a missing
// CA file.
func (s *scraper) checkUntouched(t *testing.T) {
	t.Helper()
	if st := s.state(t, s.server); st.restarts != 0 || !st.running {
		t.Fatalf("%s: Prometheus was restarted: %+v\n%s", s.form, st, s.events(t))
	}
	started, ok1 := selfMetric(s.web(), "process_start_time_seconds")
	loaded, ok2 := selfMetric(s.web(), "prometheus_config_last_reload_success_timestamp_seconds")
	if !ok1 || !ok2 || loaded-started > 10 {
		t.Fatalf("%s: config reloaded after the start (process started %.0f, config last loaded %.0f; found %v %v)", s.form, started, loaded, ok1, ok2)
	}
	if s.form != "classic, not held back" {
		if logs := s.logs(t, s.server); strings.Contains(logs, "unable to read CA cert") {
			t.Fatalf("%s: Prometheus started before the certificates:\n%s", s.form, logs)
		}
	}
}

// reportCost logs what the pod's agent cost, from its container's cgroup
// under the kubelet's cgroupRoot, and fails when its limits leave less than
// 2x headroom.
func (s *scraper) reportCost(t *testing.T) {
	t.Helper()
	p, err := s.n.client.CoreV1().Pods(s.ns).Get(context.Background(), s.pod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var since time.Time
	var id string
	for _, st := range p.Status.InitContainerStatuses {
		if st.Name == "istio-proxy" && st.State.Running != nil {
			since = st.State.Running.StartedAt.Time
			_, id, _ = strings.Cut(st.ContainerID, "://")
		}
	}
	var dirs []string
	hier, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", s.n.cgroup))
	if d := filepath.Join("/sys/fs/cgroup", s.n.cgroup); dirExists(d) {
		hier = append(hier, d)
	}
	for _, h := range hier {
		filepath.WalkDir(h, func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() && e.Name() == id {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	if since.IsZero() || len(dirs) == 0 {
		t.Fatalf("the agent's container %s: started %s, cgroups %v", id, since, dirs)
	}
	cost := sidecarCost(t, dirs, since)
	t.Logf("sidecar cost (the agent alone) over %s: peak memory %.1f MiB, now %.1f MiB (rss); CPU %.1f millicores on average, %.1f over the last 10 s",
		cost.over.Round(time.Second), cost.peakMiB, cost.rssMiB, cost.avgMilli, cost.lastMilli)
	limits := s.agent.Resources.Limits
	if mem := float64(limits.Memory().Value()) / (1 << 20); cost.peakMiB*2 > mem {
		t.Errorf("the agent's peak memory %.1f MiB leaves less than 2x headroom under its limit %.0f MiB", cost.peakMiB, mem)
	}
	if cpu := float64(limits.Cpu().MilliValue()); cost.avgMilli*2 > cpu {
		t.Errorf("the agent's CPU %.1f millicores leaves less than 2x headroom under its limit %.0fm", cost.avgMilli, cpu)
	}
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// negativeControls: the same Prometheus without its agent (the certificate
// volume an empty memory volume) has no secure job at all: it cannot read the
// CA file, so the scrape pool is refused. Run as another service account (a
// valid mesh certificate, but not an identity the target serves) the scrape
// fails the handshake. The plaintext pod stays up in both.
func (n *realNode) negativeControls(t *testing.T, e emitted, secure *target, plainAddr string) {
	t.Helper()
	ns := e.deployment.Namespace
	plainUp := func(s *scraper) []promTarget {
		var ts []promTarget
		waitFor(t, s.form+": the plain target up", 2*time.Minute, func() error {
			ts = targets(t, s.web())
			if p := on(ts, plainJob, plainAddr); len(p) != 1 || p[0].Health != "up" {
				return fmt.Errorf("plain target: %+v", p)
			}
			return nil
		})
		return ts
	}
	without := n.deploy(t, "prometheus-without-certs", "without certificates", e.deployment, func(s *corev1.PodSpec) {
		s.InitContainers = slices.DeleteFunc(s.InitContainers, func(c corev1.Container) bool { return c.Name == "istio-proxy" })
	})
	if s := on(plainUp(without), secureJob, secure.addr); len(s) != 0 {
		t.Errorf("without certificates, the secure job still has targets: %+v", s)
	}
	if logs := without.logs(t, without.server); !strings.Contains(logs, "unable to read CA cert") || !strings.Contains(logs, "scrape_pool="+secureJob) {
		t.Errorf("without certificates, Prometheus does not say why the secure job has no pool:\n%s", logs)
	}

	// Another identity: a service account with Prometheus's ClusterRole.
	role := ""
	for _, doc := range strings.Split(string(e.stream), "\n---\n") {
		var crb rbacv1.ClusterRoleBinding
		if strings.Contains(doc, "\nkind: ClusterRoleBinding\n") && yaml.Unmarshal([]byte(doc), &crb) == nil {
			role = crb.RoleRef.Name
		}
	}
	if role == "" {
		t.Fatal("no ClusterRoleBinding in the function's output")
	}
	n.kubectl(t, nil, "-n", ns, "create", "serviceaccount", "not-prometheus")
	n.kubectl(t, nil, "create", "clusterrolebinding", "not-prometheus", "--clusterrole="+role, "--serviceaccount="+ns+":not-prometheus")
	other := n.deploy(t, "prometheus-other-identity", "another identity", e.deployment, func(s *corev1.PodSpec) {
		s.ServiceAccountName = "not-prometheus"
	})
	plainUp(other)
	waitFor(t, "with another identity's certificate: the secure target down with a TLS error", 2*time.Minute, func() error {
		s := on(targets(t, other.web()), secureJob, secure.addr)
		if len(s) != 1 || s[0].Health != "down" || !strings.Contains(s[0].LastError, "tls") {
			return fmt.Errorf("secure target: %+v", s)
		}
		t.Logf("with another identity's certificate (spiffe://cluster.local/ns/%s/sa/not-prometheus): %s", ns, s[0].LastError)
		return nil
	})
}

// target is a target pod as the test reads it: the address it is scraped at
// and, for the mTLS one, its status address (what it recorded).
type target struct {
	addr, status string
}

// handshake is one TLS handshake of a client, with the certificate it
// presented (or one certificate first seen on disk).
type handshake struct {
	At     time.Time `json:"at"`
	Serial string    `json:"serial"`
}

// shakes are the handshakes the target recorded, in order, and the requests
// it served per client certificate serial.
func (tg *target) shakes() ([]handshake, map[string]int) {
	var r struct {
		Handshakes []handshake    `json:"handshakes"`
		Requests   map[string]int `json:"requests"`
	}
	resp, err := http.Get("http://" + tg.status + "/handshakes")
	if err != nil {
		return nil, nil
	}
	defer resp.Body.Close()
	json.NewDecoder(resp.Body).Decode(&r)
	return r.Handshakes, r.Requests
}
