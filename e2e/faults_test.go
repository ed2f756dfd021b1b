package e2e

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
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

// every runs f every d, in the background, until the test ends.
func every(t *testing.T, d time.Duration, f func()) {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(d):
			}
			f()
		}
	}()
}

// certWatch follows the certificate the agent keeps in a pod's memory volume:
// every serial, when it was first seen.
type certWatch struct {
	mu     sync.Mutex
	issued []handshake // serial and when it was first on disk
}

// watchCerts polls the certificate chain at path (cert-chain.pem in a pod's
// memory volume, read as root) every 200 ms until the test ends.
func watchCerts(t *testing.T, path string) *certWatch {
	t.Helper()
	w := &certWatch{}
	every(t, 200*time.Millisecond, func() {
		b, err := os.ReadFile(path)
		if err != nil || len(b) == 0 {
			return
		}
		serial, ok := serialOf(b)
		if !ok {
			return // being written
		}
		w.mu.Lock()
		if len(w.issued) == 0 || w.issued[len(w.issued)-1].Serial != serial {
			w.issued = append(w.issued, handshake{time.Now(), serial})
		}
		w.mu.Unlock()
	})
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
		if c.At.After(t0) {
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
		if c.Serial != serial {
			continue
		}
		if c.At.After(at.Add(slack)) {
			return true, false // presented before it was written
		}
		return true, i == len(all)-1 || all[i+1].At.After(at.Add(-slack))
	}
	return false, false
}

// scrapeLog is every scrape of the secure target a scraper's targets API
// showed, in order: polled every 500 ms (faster than any scrape interval) from
// the scraper's start, so that the first good scrape after a fault is found
// even when the test looks later (the forms are checked one after the other).
type scrapeLog struct {
	mu   sync.Mutex
	seen []promTarget
}

// follow starts s's scrape log of the secure target at addr; it stops when
// the test ends.
func (s *scraper) follow(t *testing.T, addr string) {
	s.scrapes = &scrapeLog{}
	every(t, 500*time.Millisecond, func() {
		ts := on(activeTargets(s.web()), secureJob, addr)
		if len(ts) != 1 || ts[0].LastScrape.IsZero() {
			return
		}
		l := s.scrapes
		l.mu.Lock()
		if n := len(l.seen); n == 0 || !l.seen[n-1].LastScrape.Equal(ts[0].LastScrape) {
			l.seen = append(l.seen, ts[0])
		}
		l.mu.Unlock()
	})
}

// firstGoodScrape waits for the secure target's first good scrape on s after
// from and returns when it came; it fails the test after within.
func firstGoodScrape(t *testing.T, what string, s *scraper, from time.Time, within time.Duration) time.Duration {
	t.Helper()
	var got time.Duration
	waitFor(t, what, within+5*time.Second, func() error {
		l := s.scrapes
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, sc := range l.seen {
			if sc.Health == "up" && sc.LastScrape.After(from) {
				got = sc.LastScrape.Sub(from)
				return nil
			}
		}
		return fmt.Errorf("no good secure scrape since (%d scrapes seen in all)", len(l.seen))
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
			if h.Serial == next.Serial {
				presented = h.At.Sub(next.At)
				return nil
			}
		}
		return fmt.Errorf("not yet")
	})
	if presented > interval+2*time.Second {
		t.Errorf("the new certificate was presented %s after it was written, more than one scrape interval (%s)", presented.Round(100*time.Millisecond), interval)
	}
	took := firstGoodScrape(t, "the secure target up", s, next.At, interval+2*time.Second)
	note := fmt.Sprintf("next certificate %s after istiod was back, presented %s after it was written", next.At.Sub(back).Round(100*time.Millisecond), presented.Round(100*time.Millisecond))
	if wentDown {
		note += "; the target was down in the outage (the certificate expired)"
	} else {
		note += "; the target stayed up through the outage"
	}
	return recovery{"2 istiod down 30 s mid-run", s.form, next.At.Sub(back) + took, note}
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

// certsSince are the certificates first on disk after from.
func certsSince(w *certWatch, from time.Time) []handshake {
	var out []handshake
	for _, c := range w.all() {
		if c.At.After(from) {
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
		if h.At.Before(from) {
			continue
		}
		owned, ok := s.certs.current(h.Serial, h.At)
		if !owned {
			continue // another pod's
		}
		if !ok {
			t.Errorf("a handshake at %s presented certificate %s, not the one on disk then (%v)", h.At.Format("15:04:05.000"), h.Serial, s.certs.all())
		}
		shook++
		perCert[h.Serial]++
	}
	for serial, n := range perCert {
		reused = reused || perSerial[serial] > n
	}
	rotations := 0
	for _, c := range certsSince(s.certs, from) {
		if c.At.After(until) {
			break
		}
		rotations++
		if perCert[c.Serial] == 0 {
			t.Errorf("certificate %s (written %s) was never presented", c.Serial, c.At.Format("15:04:05.000"))
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
			ts := on(targets(t, s.web()), secureJob, secure.addr)
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
			t.Fatalf("%s: %s killed: no good secure scrape in %s\n%s", s.form, name, window, s.events(t))
		}
	}
	return firstGood
}
