package e2e

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
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

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// The fault matrix's outages: istiod is down this long at the pods' cold start
// (fault 1) and mid-run (fault 2).
const (
	coldOutage = 60 * time.Second
	midOutage  = 30 * time.Second
	// recoveryBudget is how soon after a fault ends the secure target must be
	// scraped well again.
	recoveryBudget = 60 * time.Second
	// coldRecoveryBudget is that bound after the cold start's outage (fault 1):
	// the agents, which had no certificate yet, retry the CA with a back-off that
	// has grown by then (gaps of 3, 3, 4, 9, 12 and 10 s seen in a 60 s outage), so
	// their next attempt may come 10 to 15 s after istiod is back, and Prometheus is
	// only started then; measured 26–45 s, and once 64 s on a loaded machine.
	coldRecoveryBudget = 90 * time.Second
)

// scraper is one Prometheus pod run by the kubelet runner, in one form.
type scraper struct {
	form   string // "native", "classic", …
	k      *kubelet
	web    string // Prometheus's listen address
	agent  corev1.Container
	volume string // the certificate volume (docker --mount source)
	certs  *certWatch
	ip     string
}

// shifted moves the host ports of a Prometheus pod spec by d, for a second pod
// on this machine's one network (the kubelet gives each pod its own): the
// agent's status port (proxy config's statusPort, probes and hook URL) and
// Prometheus's listen address and probes. d 0 leaves the spec as emitted.
func shifted(s corev1.PodSpec, d int) corev1.PodSpec {
	s = *s.DeepCopy()
	if d == 0 {
		return s
	}
	move := func(p *corev1.Probe, from int) {
		if p != nil && p.HTTPGet != nil && p.HTTPGet.Port.IntValue() == from {
			p.HTTPGet.Port = intstr.FromInt(from + d)
		}
	}
	for _, list := range [][]corev1.Container{s.InitContainers, s.Containers} {
		for i := range list {
			c := &list[i]
			switch c.Name {
			case "istio-proxy":
				withStatusPort(c, 15020+d)
				move(c.StartupProbe, 15020)
				move(c.ReadinessProbe, 15020)
				if l := c.Lifecycle; l != nil && l.PostStart != nil && l.PostStart.Exec != nil {
					for j, a := range l.PostStart.Exec.Command {
						l.PostStart.Exec.Command[j] = strings.Replace(a, "localhost:15020/", fmt.Sprintf("localhost:%d/", 15020+d), 1)
					}
				}
			case "prometheus-server":
				c.Args = append(c.Args, fmt.Sprintf("--web.listen-address=:%d", 9090+d))
				move(c.ReadinessProbe, 9090)
				move(c.LivenessProbe, 9090)
			}
		}
	}
	return s
}

// withStatusPort sets the agent's status port in its PROXY_CONFIG (pilot-agent
// takes the port from its proxy config only; it ignores unknown flags).
func withStatusPort(c *corev1.Container, port int) {
	c.Env = slices.Clone(c.Env) // not the template's
	for i, e := range c.Env {
		if e.Name != "PROXY_CONFIG" {
			continue
		}
		var pc map[string]any
		if err := json.Unmarshal([]byte(e.Value), &pc); err != nil {
			panic(fmt.Sprintf("PROXY_CONFIG %q: %v", e.Value, err))
		}
		pc["statusPort"] = port
		b, _ := json.Marshal(pc)
		c.Env[i].Value = string(b)
		return
	}
	panic("istio-proxy has no PROXY_CONFIG")
}

// certWatch follows the certificate the agent keeps in a pod's memory volume:
// every serial, when it was first seen.
type certWatch struct {
	mu     sync.Mutex
	issued []handshake // serial and when it was first on disk
}

// watchCerts polls cert-chain.pem in volume (the docker volume's directory on
// this machine, read as root) every 200 ms until the test ends.
func watchCerts(t *testing.T, volume string) *certWatch {
	t.Helper()
	name := strings.TrimPrefix(volume, "type=volume,src=")
	out, err := exec.Command("docker", "volume", "inspect", "-f", "{{.Mountpoint}}", name).Output()
	if err != nil {
		t.Fatalf("docker volume inspect %s: %v", name, err)
	}
	path := filepath.Join(strings.TrimSpace(string(out)), "cert-chain.pem")
	w := &certWatch{}
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(200 * time.Millisecond):
			}
			b, err := os.ReadFile(path)
			if err != nil || len(b) == 0 {
				continue
			}
			serial, ok := serialOf(b)
			if !ok {
				continue // being written
			}
			w.mu.Lock()
			if len(w.issued) == 0 || w.issued[len(w.issued)-1].serial != serial {
				w.issued = append(w.issued, handshake{time.Now(), serial})
			}
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *certWatch) all() []handshake {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]handshake{}, w.issued...)
}

// firstAfter is the first certificate seen on disk after t0.
func (w *certWatch) firstAfter(t0 time.Time) (handshake, bool) {
	for _, c := range w.all() {
		if c.at.After(t0) {
			return c, true
		}
	}
	return handshake{}, false
}

// current tells whether serial was the certificate on disk at time at, give or
// take the watch's polling.
func (w *certWatch) current(serial string, at time.Time) (owned, ok bool) {
	const slack = 1500 * time.Millisecond
	all := w.all()
	for i, c := range all {
		if c.serial != serial {
			continue
		}
		if c.at.After(at.Add(slack)) {
			return true, false // presented before it was written
		}
		return true, i == len(all)-1 || all[i+1].at.After(at.Add(-slack))
	}
	return false, false
}

// firstGoodScrape waits for the secure target's first good scrape after from on
// web and returns it; it fails the test after within.
func firstGoodScrape(t *testing.T, what, web string, secure *target, from time.Time, within time.Duration) time.Duration {
	t.Helper()
	var got time.Duration
	waitFor(t, what, within+5*time.Second, func() error {
		s := on(targets(t, web), secureJob, secure.addr)
		if len(s) != 1 || s[0].Health != "up" || !s[0].LastScrape.After(from) {
			return fmt.Errorf("secure target: %+v", s)
		}
		got = s[0].LastScrape.Sub(from)
		return nil
	})
	if got > within {
		t.Fatalf("%s: the first good secure scrape came %s after, more than %s", what, got.Round(100*time.Millisecond), within)
	}
	return got
}

// selfMetric is the value of an unlabelled metric of Prometheus's own
// /metrics at web, and whether it is there.
func selfMetric(web, name string) (float64, bool) {
	resp, err := http.Get("http://" + web + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}

// serialOf is the serial of the first certificate of a PEM chain.
func serialOf(pemText []byte) (string, bool) {
	b, _ := pem.Decode(pemText)
	if b == nil {
		return "", false
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return "", false
	}
	return c.SerialNumber.String(), true
}

// scrapeInterval is the secure job's scrape interval in the emitted
// prometheus.yml (its own, or the global one).
func scrapeInterval(t *testing.T, stream []byte) time.Duration {
	t.Helper()
	for _, doc := range strings.Split(string(stream), "\n---\n") {
		var cm corev1.ConfigMap
		if yaml.Unmarshal([]byte(doc), &cm) != nil || cm.Kind != "ConfigMap" || cm.Data["prometheus.yml"] == "" {
			continue
		}
		var cfg struct {
			Global struct {
				ScrapeInterval string `json:"scrape_interval"`
			} `json:"global"`
			ScrapeConfigs []struct {
				JobName        string `json:"job_name"`
				ScrapeInterval string `json:"scrape_interval"`
			} `json:"scrape_configs"`
		}
		if err := yaml.Unmarshal([]byte(cm.Data["prometheus.yml"]), &cfg); err != nil {
			t.Fatal(err)
		}
		v := cfg.Global.ScrapeInterval
		for _, j := range cfg.ScrapeConfigs {
			if j.JobName == secureJob && j.ScrapeInterval != "" {
				v = j.ScrapeInterval
			}
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("scrape interval %q: %v", v, err)
		}
		return d
	}
	t.Fatal("no prometheus.yml in the function's output")
	return 0
}

// recovery is one line of the fault matrix's record.
type recovery struct {
	fault, form string
	took        time.Duration
	note        string
}

// TestScrapeOverMTLS runs the function's output with the real components, its
// pods started by the kubelet runner, through the fault matrix: cold start
// with istiod down, keep-alive across rotations, the agent and Prometheus
// killed, istiod down mid-run (with a pod that nothing holds back started in
// that outage); then the negative controls.
func TestScrapeOverMTLS(t *testing.T) {
	bin := os.Getenv("E2E_BIN")
	if bin == "" {
		t.Fatal("E2E_BIN is not set: run `make e2e` (e2e/build.sh builds the components)")
	}
	for _, p := range []int{8429, 9090, 9091, 9092, 9290, 9390, 15020, 15120, 15220, 15320, 15420, 15520} {
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err != nil {
			t.Fatalf("port %d is taken: %v", p, err)
		} else {
			l.Close()
		}
	}
	native, classic := runFunction(t), runFunction(t, "native-sidecar=false")
	checkForms(t, native, classic)
	interval := scrapeInterval(t, native.stream)

	image(t, agentImage, map[string]string{"/usr/local/bin/pilot-agent": filepath.Join(bin, "pilot-agent")}, "/usr/local/bin/pilot-agent")
	reader := filepath.Join(t.TempDir(), "certread")
	if out, err := exec.Command("go", "build", "-o", reader, "./cmd/certread").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	image(t, promImage, map[string]string{"/bin/prometheus": filepath.Join(bin, "prometheus"), "/bin/certread": reader}, "/bin/prometheus")

	c := startCluster(t, bin)
	crds := c.setUp(t, native)
	istiod := c.startIstiod(t, crds, "istiod")
	var record []recovery
	// Each fault is a subtest, and each form a subtest of it where the forms
	// are checked apart; the faults share one timeline (a failed one stops
	// the rest). What lives longer than a fault is made on T.
	T := t
	fault := func(name string, f func(t *testing.T)) {
		if !T.Run(name, f) {
			T.FailNow()
		}
	}
	var pods []*scraper
	var secure, plain *target
	var appCerts string

	// Fault 1: cold start with istiod down. istiod ran once (its CA and root
	// ConfigMaps exist, as in any cluster), then goes down; the Prometheus pods,
	// native and classic, and the target pods start in the outage.
	fault("1-cold-start-istiod-down-60s", func(t *testing.T) {
		for _, ns := range []string{"istio-system", "apps"} {
			waitFor(t, "istiod's root ConfigMap in "+ns, 60*time.Second, func() error {
				_, err := c.client.CoreV1().ConfigMaps(ns).Get(context.Background(), "istio-ca-root-cert", metav1.GetOptions{})
				return err
			})
		}
		stopIstiod(t, istiod)
		outageStart := time.Now()
		secure, plain, appCerts = c.startTargets(T, native)
		pods = []*scraper{
			c.startScraper(T, "native", native, 0, "127.0.0.10"),
			c.startScraper(T, "classic", classic, 200, "127.0.0.13"),
		}
		probe := startupProbe(t, pods[0].agent, pods[0].ip)
		answers := map[int]int{}
		for time.Since(outageStart) < coldOutage {
			code := probe()
			if code == http.StatusOK {
				t.Fatal("native: the agent's startup probe passed with istiod unreachable")
			}
			answers[code]++
			for _, s := range pods {
				if st := s.k.state("prometheus-server"); len(st.ids) > 0 {
					t.Fatalf("%s: the kubelet started Prometheus with istiod unreachable, before the certificates existed\n%s", s.form, s.k.events())
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
				took := firstGoodScrape(t, "the secure target up after istiod is back", s.web, secure, back, coldRecoveryBudget)
				s.checkUntouched(t)
				waitFor(t, "a sample of each target in /api/v1/query", 60*time.Second, func() error {
					if query(t, s.web, "e2e_secure_requests_total") == 0 || query(t, s.web, "e2e_plain_requests_total") == 0 {
						return fmt.Errorf("not yet")
					}
					return nil
				})
				waitFor(t, "the plain target up in its own job, each target scraped by one job", 60*time.Second, func() error {
					ts := targets(t, s.web)
					if p := on(ts, plainJob, plain.addr); len(p) != 1 || p[0].Health != "up" || !strings.HasPrefix(p[0].ScrapeURL, "http://") {
						return fmt.Errorf("plain target %+v", p)
					}
					if n, m := len(on(ts, "", secure.addr)), len(on(ts, "", plain.addr)); n != 1 || m != 1 {
						return fmt.Errorf("the secure pod is scraped by %d jobs, the plain one by %d", n, m)
					}
					return nil
				})
				record = append(record, recovery{"1 cold start, istiod down 60 s", s.form, took, "no Prometheus restart, no config reload, never saw a missing CA file"})
			})
		}
	})

	// Fault 5: keep-alive across rotations. The target keeps connections alive;
	// the certificate rotates every half lifetime; through three rotations on
	// each pod the target stays up and every new handshake presents the
	// certificate then on disk.
	fault("5-keep-alive-across-rotations", func(t *testing.T) {
		from := time.Now()
		waitFor(t, "three rotations on each pod, the target up throughout", 5*certTTL, func() error {
			for _, s := range pods {
				if ts := on(targets(t, s.web), secureJob, secure.addr); len(ts) == 1 && ts[0].Health == "down" {
					t.Fatalf("%s: the secure target went down: %s", s.form, ts[0].LastError)
				}
			}
			for _, s := range pods {
				if n := len(certsSince(s.certs, from)); n < 3 {
					return fmt.Errorf("%s: %d rotations so far", s.form, n)
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
		c.reportCost(t, pods[0])
	})

	// Fault 3: istio-proxy killed; the kubelet restarts it. Fault 4: Prometheus
	// killed; the kubelet restarts it, the agent running.
	for _, f := range []struct{ name, container, note string }{
		{"3-istio-proxy-killed", "istio-proxy", "certificates kept in the memory volume, startup probe passing again, no secure scrape failed"},
		{"4-prometheus-killed", "prometheus-server", "started with the files in place, first scrape good"},
	} {
		fault(f.name, func(t *testing.T) {
			killed := time.Now()
			for _, s := range pods {
				if err := exec.Command("docker", "kill", s.k.current(f.container)).Run(); err != nil {
					t.Fatalf("docker kill %s: %v", f.container, err)
				}
			}
			took := secureUpThrough(t, pods, f.container, secure, killed, 40*time.Second)
			for _, s := range pods {
				t.Run(s.form, func(t *testing.T) {
					if st := s.k.state(f.container); st.restarts < 1 {
						t.Fatalf("the kubelet did not restart %s\n%s", f.container, s.k.events())
					}
					record = append(record, recovery{f.name, s.form, took[s], f.note})
				})
			}
		})
	}

	// Fault 2: istiod down 30 s mid-run, with 60 s certificates: a renewal falls
	// in the outage. Once istiod is back the agents get their next certificates,
	// each presented within one scrape interval. A third Prometheus pod,
	// classic with nothing to hold it back (prometheus-operator's containers
	// come before ours; pilot-agent before 1.7 has no wait), starts in the
	// outage: it starts before its certificates exist and must build the
	// secure pool by itself within 60 s of them appearing.
	var unheld *scraper
	fault("2-istiod-down-30s-mid-run", func(t *testing.T) {
		stopIstiod(t, istiod)
		down := time.Now()
		unheld = c.startScraper(T, "classic, not held back", unhold(classic), 300, "127.0.0.14")
		wentDown := map[string]bool{}
		for time.Since(down) < midOutage {
			for _, s := range pods {
				if ts := on(targets(t, s.web), secureJob, secure.addr); len(ts) == 1 && ts[0].Health == "down" {
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
			logs, _ := exec.Command("docker", "logs", unheld.k.current("prometheus-server")).CombinedOutput()
			if !strings.Contains(string(logs), "unable to read CA cert") {
				t.Fatalf("the unheld Prometheus did not start before its certificates (no \"unable to read CA cert\"):\n%s", logs)
			}
			took := firstGoodScrape(t, "the secure target up after its certificates appeared", unheld.web, secure, files.at, recoveryBudget)
			unheld.checkUntouched(t)
			record = append(record, recovery{"2b Prometheus started before its certificates (not held back)", unheld.form, took,
				"secure pool refused at start (unable to read CA cert), built at the next target update (istio-proxy turning ready), no restart or reload"})
		})
	})

	for _, s := range append(pods, unheld) {
		t.Logf("kubelet events, %s pod:\n%s", s.form, s.k.events())
	}
	var b strings.Builder
	for _, r := range record {
		fmt.Fprintf(&b, "\n  %-62s %-24s %7s  %s", r.fault, r.form, r.took.Round(100*time.Millisecond), r.note)
	}
	t.Logf("recovery: time from the fault's end to the first good secure scrape%s", b.String())

	t.Run("negative-controls", func(t *testing.T) { c.negativeControls(t, pods[0], secure, plain, appCerts) })

	// vmagent: the function's output for the victoria-metrics-agent chart, its
	// pod started by the kubelet runner, scrapes the same secure target over
	// mTLS with its own agent's certificates, and the plain one in its own job.
	t.Run("vmagent", func(t *testing.T) {
		vm := runFunctionOn(t, "vmagent-chart.yaml", "istio-version=1.31")
		c.apply(T, vm, vm.deployment.Namespace)
		image(T, vmImage, map[string]string{"/vmagent-prod": filepath.Join(bin, vmagentBin)}, "/vmagent-prod")
		s := c.startPodOf(T, "vmagent", vm, 400, "127.0.0.15", "127.0.0.1:8429",
			map[string]runAs{"istio-proxy": {agentImage, "1337:1337"}, "vmagent": {vmImage, "65534:65534"}}, nil)
		var ts []promTarget
		waitFor(t, "vmagent: the secure target up over https, the plain one in its own job", 3*time.Minute, func() error {
			ts = targets(t, s.web)
			sec, pl := on(ts, secureJob, secure.addr), on(ts, plainJob, plain.addr)
			if len(sec) != 1 || sec[0].Health != "up" || !strings.HasPrefix(sec[0].ScrapeURL, "https://") || sec[0].LastSamples == 0 {
				return fmt.Errorf("secure target: %+v", sec)
			}
			if len(pl) != 1 || pl[0].Health != "up" || !strings.HasPrefix(pl[0].ScrapeURL, "http://") {
				return fmt.Errorf("plain target: %+v", pl)
			}
			return nil
		})
		if n, m := len(on(ts, "", secure.addr)), len(on(ts, "", plain.addr)); n != 1 || m != 1 {
			t.Errorf("vmagent: the secure pod is scraped by %d jobs, the plain one by %d: %+v", n, m, ts)
		}
		if !s.presentedItsCertificate(secure) {
			t.Errorf("vmagent: no handshake presented its agent's certificate (%v)", s.certs.all())
		}
		sec := on(ts, secureJob, secure.addr)[0]
		t.Logf("vmagent: secure target up over https with its agent's certificate (%d samples at the last scrape), plain target up in %s\nkubelet events:\n%s", sec.LastSamples, plainJob, s.k.events())
	})

	// The OpenTelemetry Collector likewise, from the opentelemetry-collector
	// chart's DaemonSet; what it scraped is read at its prometheus exporter.
	t.Run("collector", func(t *testing.T) { c.scrapeWithCollector(t, T, bin, secure, plain) })
}

// nextCertificate checks fault 2 on s once istiod is back (at back): the agent
// gets its next certificate, Prometheus presents it within one scrape
// interval, and the secure target is up within one interval of it.
func nextCertificate(t *testing.T, s *scraper, secure *target, back time.Time, interval time.Duration, wentDown bool) recovery {
	t.Helper()
	var next handshake
	waitFor(t, "a certificate issued after istiod is back", certTTL, func() error {
		var ok bool
		if next, ok = s.certs.firstAfter(back); !ok {
			return fmt.Errorf("none yet")
		}
		return nil
	})
	var presented time.Duration
	waitFor(t, "the new certificate presented", 2*interval+5*time.Second, func() error {
		hs, _ := secure.shakes()
		for _, h := range hs {
			if h.serial == next.serial {
				presented = h.at.Sub(next.at)
				return nil
			}
		}
		return fmt.Errorf("not yet")
	})
	if presented > interval+2*time.Second {
		t.Errorf("the new certificate was presented %s after it was written, more than one scrape interval (%s)", presented.Round(100*time.Millisecond), interval)
	}
	took := firstGoodScrape(t, "the secure target up", s.web, secure, next.at, interval+2*time.Second)
	note := fmt.Sprintf("next certificate %s after istiod was back, presented %s after it was written", next.at.Sub(back).Round(100*time.Millisecond), presented.Round(100*time.Millisecond))
	if wentDown {
		note += "; the target was down in the outage (the certificate expired)"
	} else {
		note += "; the target stayed up through the outage"
	}
	return recovery{"2 istiod down 30 s mid-run", s.form, next.at.Sub(back) + took, note}
}

func stopIstiod(t *testing.T, istiod *exec.Cmd) {
	t.Helper()
	if err := istiod.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	istiod.Wait()
}

// checkForms checks what the test relies on in the two forms: the native
// sidecar first in initContainers, the classic one first in containers with
// the postStart hold; the agent alone, probed on 15020; the same scrape config.
func checkForms(t *testing.T, native, classic emitted) {
	t.Helper()
	n, cl := native.deployment.Spec.Template.Spec, classic.deployment.Spec.Template.Spec
	proxy := container(t, n, "istio-proxy")
	if len(n.InitContainers) == 0 || n.InitContainers[0].Name != "istio-proxy" ||
		proxy.RestartPolicy == nil || *proxy.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Fatalf("native: istio-proxy is not the first, native, init container: %+v", n.InitContainers)
	}
	if !slices.ContainsFunc(proxy.Env, func(e corev1.EnvVar) bool { return e.Name == "DISABLE_ENVOY" && e.Value == "true" }) ||
		proxy.StartupProbe == nil || proxy.StartupProbe.HTTPGet == nil || proxy.StartupProbe.HTTPGet.Port.IntValue() != 15020 {
		t.Fatalf("the default istio-proxy is not the agent alone, probed on 15020: env %+v, startupProbe %+v", proxy.Env, proxy.StartupProbe)
	}
	if len(cl.InitContainers) != 0 || cl.Containers[0].Name != "istio-proxy" || cl.Containers[0].Lifecycle == nil ||
		cl.Containers[0].Lifecycle.PostStart == nil || !slices.Contains(cl.Containers[0].Lifecycle.PostStart.Exec.Command, "--url=http://localhost:15020/healthz/ready") {
		t.Fatalf("classic: istio-proxy is not first in containers with the pilot-agent wait hook: %+v", cl.Containers[0])
	}
	conf := func(e emitted) string {
		for _, doc := range strings.Split(string(e.stream), "\n---\n") {
			if strings.Contains(doc, "prometheus.yml") {
				return doc
			}
		}
		return ""
	}
	if conf(native) == "" || conf(native) != conf(classic) {
		t.Fatal("the two forms' prometheus.yml differ, or there is none")
	}
}

// unhold is the classic form with nothing holding Prometheus back: istio-proxy
// last and without its postStart hook, as prometheus-operator orders the
// containers of a Prometheus resource (and as any form without a hold runs).
func unhold(e emitted) emitted {
	d := *e.deployment.DeepCopy()
	cs := d.Spec.Template.Spec.Containers
	var proxy corev1.Container
	var rest []corev1.Container
	for _, c := range cs {
		if c.Name == "istio-proxy" {
			proxy = c
			proxy.Lifecycle = nil
			continue
		}
		rest = append(rest, c)
	}
	d.Spec.Template.Spec.Containers = append(rest, proxy)
	e.deployment = d
	return e
}

// setUp makes what a cluster has before the test's pods: the namespaces, the
// root CA ConfigMaps kube-controller-manager would publish, everything the
// function emitted but the Deployment (no controller runs: its pods are made by
// hand), the targets' service accounts; it returns Istio's CRDs.
func (c *cluster) setUp(t *testing.T, e emitted) string {
	t.Helper()
	c.namespace(t, "apps")
	c.apply(t, e, "istio-system")
	c.kubectl(t, nil, "-n", "apps", "create", "serviceaccount", "secure-app")
	c.kubectl(t, nil, "-n", "apps", "create", "serviceaccount", "plain-app")
	return istioCRDs(t)
}

// namespace creates ns with the kube-root-ca.crt ConfigMap
// kube-controller-manager's root-ca-cert-publisher would publish.
func (c *cluster) namespace(t *testing.T, ns string) {
	t.Helper()
	if _, err := c.client.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{}); err == nil {
		return // made for an earlier scraper (vmagent's and the collector's are both in monitoring)
	}
	c.kubectl(t, nil, "create", "namespace", ns)
	c.kubectl(t, nil, "-n", ns, "create", "configmap", "kube-root-ca.crt", "--from-file=ca.crt="+filepath.Join(c.dir, "ca.crt"))
}

// apply creates namespace ns and applies everything e holds but its Deployment.
func (c *cluster) apply(t *testing.T, e emitted, ns string) {
	t.Helper()
	c.namespace(t, ns)
	var rest []string
	for _, doc := range strings.Split(string(e.stream), "\n---\n") {
		if !strings.Contains(doc, "\nkind: Deployment\n") && !strings.Contains(doc, "\nkind: DaemonSet\n") {
			rest = append(rest, doc)
		}
	}
	c.kubectl(t, []byte(strings.Join(rest, "\n---\n")), "apply", "-f", "-")
}

// startScraper creates a Prometheus pod of the Deployment's template, its
// ports shifted by shift, on ip, and has the kubelet runner start it. Its
// agent asks for short-lived certificates (SECRET_TTL), to see them rotate.
func (c *cluster) startScraper(t *testing.T, form string, e emitted, shift int, ip string) *scraper {
	t.Helper()
	return c.startPodOf(t, form, e, shift, ip, fmt.Sprintf("127.0.0.1:%d", 9090+shift), map[string]runAs{
		"istio-proxy":       {agentImage, "1337:1337"},
		"prometheus-server": {promImage, "65534:65534"},
	}, map[string]string{
		"prometheus-server-configmap-reload": "no image of prometheus-config-reloader is built here; it watches /etc/config, which no fault changes",
	})
}

// startPodOf creates a pod of e's Deployment template (ports shifted by
// shift), on ip, its scraper answering on web, and has the kubelet runner
// start it with images.
func (c *cluster) startPodOf(t *testing.T, form string, e emitted, shift int, ip, web string, images map[string]runAs, skip map[string]string) *scraper {
	t.Helper()
	spec := shifted(e.deployment.Spec.Template.Spec, shift)
	for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range list {
			if list[i].Name == "istio-proxy" {
				list[i].Env = append(list[i].Env, corev1.EnvVar{Name: "SECRET_TTL", Value: certTTL.String()})
			}
		}
	}
	name := e.deployment.Name + "-" + strings.NewReplacer(",", "", " ", "-").Replace(form)
	pod := c.createPod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.deployment.Namespace, Labels: e.deployment.Spec.Template.Labels, Annotations: e.deployment.Spec.Template.Annotations},
		Spec:       spec,
	}, ip, false)
	n := node{pod: pod, apiPort: c.apiPort, mounts: c.volumes(t, pod, "istio-certs")}
	s := &scraper{form: form, web: web, agent: container(t, pod.Spec, "istio-proxy"),
		volume: n.mounts["istio-certs"], ip: ip}
	s.certs = watchCerts(t, s.volume)
	s.k = c.startPod(t, n, images, skip)
	return s
}

// checkUntouched: Prometheus ran as one process from its start (no restart),
// loaded its config once (no reload), and never read a missing CA file.
func (s *scraper) checkUntouched(t *testing.T) {
	t.Helper()
	st := s.k.state("prometheus-server")
	if st.restarts != 0 || len(st.ids) != 1 {
		t.Fatalf("%s: Prometheus was restarted (%d)\n%s", s.form, st.restarts, s.k.events())
	}
	started, ok1 := selfMetric(s.web, "process_start_time_seconds")
	loaded, ok2 := selfMetric(s.web, "prometheus_config_last_reload_success_timestamp_seconds")
	if !ok1 || !ok2 || loaded-started > 10 {
		t.Fatalf("%s: config reloaded after the start (process started %.0f, config last loaded %.0f; found %v %v)", s.form, started, loaded, ok1, ok2)
	}
	if s.form != "classic, not held back" {
		logs, _ := exec.Command("docker", "logs", s.k.current("prometheus-server")).CombinedOutput()
		if strings.Contains(string(logs), "unable to read CA cert") {
			t.Fatalf("%s: Prometheus started before the certificates:\n%s", s.form, logs)
		}
	}
}

// startTargets starts the two target pods: one whose own agent fetched its
// workload certificate, served with mTLS (an Envoy sidecar's inbound listener
// stands in), and a plaintext one. Neither is run by the kubelet runner: they
// are this test's servers.
func (c *cluster) startTargets(t *testing.T, e emitted) (secure, plain *target, appCerts string) {
	t.Helper()
	spec := e.deployment.Spec.Template.Spec
	securePort, plainPort := freePort(t), freePort(t)
	appAgent := container(t, spec, "istio-proxy")
	withStatusPort(&appAgent, 15120) // the agents share the host's network
	var agentVolumes []corev1.Volume
	for _, v := range spec.Volumes {
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
	}, "127.0.0.11", true)
	appNode := node{pod: securePod, apiPort: c.apiPort, mounts: c.volumes(t, securePod, "")}
	appNode.run(t, "e2e-secure-app-istio-proxy", agentImage, appAgent, "1337:1337")
	appCerts = strings.TrimPrefix(appNode.mounts["istio-certs"], "type=bind,src=")
	secure = &target{addr: fmt.Sprintf("127.0.0.11:%d", securePort)}
	serve(t, secure.addr, secure.metrics("e2e_secure_requests_total"), mtlsConfig(appCerts, secure.handshake))
	c.createPod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "plain-app", Namespace: "apps", Annotations: map[string]string{
			"prometheus.io/scrape": "true", "prometheus.io/port": fmt.Sprint(plainPort)}},
		Spec: corev1.PodSpec{ServiceAccountName: "plain-app", Containers: []corev1.Container{{Name: "app", Image: "app",
			Ports: []corev1.ContainerPort{{ContainerPort: int32(plainPort)}}}}},
	}, "127.0.0.12", true)
	plain = &target{addr: fmt.Sprintf("127.0.0.12:%d", plainPort)}
	serve(t, plain.addr, plain.metrics("e2e_plain_requests_total"), nil)
	return secure, plain, appCerts
}

// certsSince are the certificates first on disk after from.
func certsSince(w *certWatch, from time.Time) []handshake {
	var out []handshake
	for _, c := range w.all() {
		if c.at.After(from) {
			out = append(out, c)
		}
	}
	return out
}

// checkHandshakes: every handshake of s since from presented the certificate
// then on its disk, each certificate written between from and until was
// presented (a new handshake each), and connections were kept alive (more
// requests than handshakes with some certificate).
func checkHandshakes(t *testing.T, s *scraper, secure *target, from, until time.Time) recovery {
	t.Helper()
	hs, perSerial := secure.shakes()
	shook, reused := 0, false
	perCert := map[string]int{}
	for _, h := range hs {
		if h.at.Before(from) {
			continue
		}
		owned, ok := s.certs.current(h.serial, h.at)
		if !owned {
			continue // another pod's
		}
		if !ok {
			t.Errorf("a handshake at %s presented certificate %s, not the one on disk then (%v)", h.at.Format("15:04:05.000"), h.serial, s.certs.all())
		}
		shook++
		perCert[h.serial]++
	}
	for serial, n := range perCert {
		reused = reused || perSerial[serial] > n
	}
	rotations := 0
	for _, c := range certsSince(s.certs, from) {
		if c.at.After(until) {
			break
		}
		rotations++
		if perCert[c.serial] == 0 {
			t.Errorf("certificate %s (written %s) was never presented", c.serial, c.at.Format("15:04:05.000"))
		}
	}
	if !reused {
		t.Errorf("%d handshakes over %d rotations, and no connection was reused", shook, rotations)
	}
	return recovery{"5 keep-alive across rotations", s.form, 0,
		fmt.Sprintf("%d rotations, %d handshakes, each with the certificate then on disk; connections kept alive between rotations; target up throughout", rotations, shook)}
}

// secureUpThrough watches the secure target on each pod for window after a
// container of each was killed at from: it must never be down; it returns the
// time to each pod's first good scrape after from.
func secureUpThrough(t *testing.T, pods []*scraper, name string, secure *target, from time.Time, window time.Duration) map[*scraper]time.Duration {
	t.Helper()
	firstGood := map[*scraper]time.Duration{}
	for end := time.Now().Add(window); time.Now().Before(end); time.Sleep(time.Second) {
		for _, s := range pods {
			ts := on(targets(t, s.web), secureJob, secure.addr)
			if len(ts) != 1 {
				continue // Prometheus not answering (restarting)
			}
			if ts[0].Health == "down" {
				t.Fatalf("%s: %s killed: the secure target went down: %s", s.form, name, ts[0].LastError)
			}
			if _, seen := firstGood[s]; !seen && ts[0].Health == "up" && ts[0].LastScrape.After(from) {
				firstGood[s] = ts[0].LastScrape.Sub(from)
			}
		}
	}
	for _, s := range pods {
		if _, ok := firstGood[s]; !ok {
			t.Fatalf("%s: %s killed: no good secure scrape in %s\n%s", s.form, name, window, s.k.events())
		}
	}
	return firstGood
}

// reportCost logs what the native pod's agent cost, from its cgroup, and fails
// when its limits leave less than 2x headroom.
func (c *cluster) reportCost(t *testing.T, s *scraper) {
	t.Helper()
	st := s.k.state("istio-proxy")
	cost := sidecarCost(t, s.k.current("istio-proxy"), st.since)
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

// negativeControls: the same Prometheus without the certificates mounted (an
// empty directory where the volume was) has no secure job at all: it cannot
// read the CA file, so the scrape pool is refused. With another workload's mesh
// certificates (the target's own: valid, but not Prometheus's identity) the
// sidecar pod is down with a TLS error. The plaintext pod stays up in both.
func (c *cluster) negativeControls(t *testing.T, s *scraper, secure, plain *target, appCerts string) {
	t.Helper()
	promNode := s.k.node
	prom := container(t, promNode.pod.Spec, "prometheus-server")
	negative := func(name, certs, listen string) []promTarget {
		n := promNode
		n.mounts = map[string]string{}
		for k, v := range promNode.mounts {
			n.mounts[k] = v
		}
		n.mounts["istio-certs"], n.mounts["storage-volume"] = certs, bind(hostDir(t))
		p := prom
		p.Args = append(append([]string{}, prom.Args...), "--web.listen-address="+listen)
		n.run(t, name, promImage, p, "65534:65534")
		var ts []promTarget
		waitFor(t, name+": the plain target up", 120*time.Second, func() error {
			ts = targets(t, listen)
			if p := on(ts, plainJob, plain.addr); len(p) != 1 || p[0].Health != "up" {
				return fmt.Errorf("plain target: %+v", p)
			}
			return nil
		})
		return ts
	}
	ts := negative("e2e-prometheus-without-certs", bind(hostDir(t)), "127.0.0.1:9091")
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
