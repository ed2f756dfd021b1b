package main

// The hostile-input suite: each class of input an adversarial run found to
// hang, crash, amplify, lose data or mislead, made here by a generator (no
// folder of blobs), run through the release binary as a client runs it, with
// a bound on its time, memory and messages checked on the process itself.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/internal/checks"
	"github.com/kptdev/krm-functions-sdk/go/fn"
)

// bounds are what one run may take.
type bounds struct {
	wall time.Duration
	rss  int64 // bytes
}

// The suite's bound for every hostile case, and the for the largest
// inputs (up to 10 MB).
var (
	hostileBound = bounds{wall: 2 * time.Second, rss: 256 << 20}
	largeBound   = bounds{wall: 5 * time.Second, rss: 512 << 20}
)

// maxMessages bounds what a run says: its results' messages and stderr.
const maxMessages = 64 << 10

// bounded is one run of the binary with what it cost.
type bounded struct {
	stdout, stderr []byte
	code           int
	wall           time.Duration
	rss            int64
	results        []*fn.Result
}

// runBounded runs the binary on stdin with args, killing it past twice the
// bound, and fails the test when it crashed, ran past b or said too much. Wall
// time is the best of up to three runs, as a benchmark takes it: a moment's
// load on the machine is not the function's cost (a loaded one fails still).
func runBounded(t *testing.T, b bounds, stdin []byte, args ...string) bounded {
	t.Helper()
	r := runOnce(t, b, stdin, args...)
	for try := 1; try < 3 && r.wall > b.wall; try++ {
		again := runOnce(t, b, stdin, args...)
		r.wall = min(r.wall, again.wall)
	}
	if bytes.Contains(r.stderr, []byte("goroutine ")) || bytes.Contains(r.stderr, []byte("fatal error:")) || bytes.Contains(r.stderr, []byte("panic:")) {
		t.Fatalf("the Go runtime crashed (exit %d):\n%s", r.code, clip(r.stderr))
	}
	if r.wall > b.wall {
		t.Errorf("took %s at best of three, past the bound of %s", r.wall.Round(time.Millisecond), b.wall)
	}
	if r.rss > b.rss {
		t.Errorf("peak RSS %d MB, past the bound of %d MB", r.rss>>20, b.rss>>20)
	}
	said := len(r.stderr)
	if len(args) == 0 && len(r.stdout) > 0 {
		list := r.stdout
		if i := bytes.Index(list, []byte("\nresults:\n")); len(list) > 1<<20 && i >= 0 {
			list = append([]byte("kind: ResourceList\n"), list[i+1:]...) // the results alone
		}
		rl, perr := fn.ParseResourceList(list)
		if perr != nil {
			t.Fatalf("stdout is not a ResourceList: %v\n%s", perr, clip(r.stdout))
		}
		r.results = rl.Results
		for _, res := range rl.Results {
			said += len(res.Message)
		}
	}
	if said > maxMessages {
		t.Errorf("said %d bytes of messages (results and stderr), past %d:\n%s", said, maxMessages, clip(r.stderr))
	}
	for _, m := range append(messages(r.results), string(r.stderr)) {
		if goInternals.MatchString(m) {
			t.Errorf("a message leaks Go internals: %s", clip([]byte(m)))
		}
	}
	return r
}

// runOnce is one run of the binary, measured.
func runOnce(t *testing.T, b bounds, stdin []byte, args ...string) bounded {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(2*b.wall + 5*time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("still running after %s: killed", 2*b.wall+5*time.Second)
	}
	r := bounded{stdout: o.Bytes(), stderr: e.Bytes(), wall: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.rss = ru.Maxrss << 10 // kilobytes on Linux
	}
	t.Logf("exit %d in %s, peak RSS %d MB, stdout %d B, stderr %d B", r.code, r.wall.Round(time.Millisecond), r.rss>>20, len(r.stdout), len(r.stderr))
	return r
}

// goInternals matches what Go, not a user, would read in a message: type names
// and yaml.v3's node kinds.
var goInternals = regexp.MustCompile(`\*?\b(internal|yaml|fn|v1|corev1)\.[A-Z]\w*|\*internal\.|unhandled node kind|node kind \d|\bwas \*`)

func messages(rs []*fn.Result) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Message)
	}
	return out
}

func clip(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + fmt.Sprintf("... (%d bytes)", len(b))
	}
	return string(b)
}

// hasResult tells whether a result of severity sev has a message containing
// every part.
func hasResult(rs []*fn.Result, sev fn.Severity, parts ...string) bool {
	for _, r := range rs {
		if r.Severity != sev {
			continue
		}
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(r.String(), p)
		}
		if ok {
			return true
		}
	}
	return false
}

// withRecord is deploy with the ownership record rec on its pod template.
func withRecord(rec string) string {
	return strings.Replace(deploy, "    metadata: {labels: {app: prom}}\n",
		"    metadata:\n      labels: {app: prom}\n      annotations:\n        istio-prometheus-mtls.dev/status: "+strconv.Quote(rec)+"\n", 1)
}

// userJobs is a ConfigMap with two jobs of the user's: a plain pod job and
// Prometheus scraping itself.
const userJobs = `apiVersion: v1
kind: ConfigMap
metadata: {name: prom-config, namespace: mon}
data:
  prometheus.yml: |
    scrape_configs:
    - job_name: kubernetes-pods
      kubernetes_sd_configs: [{role: pod}]
      relabel_configs:
      - {source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape], regex: "true", action: keep}
    - job_name: prometheus
      static_configs: [{targets: [localhost:9090]}]
`

// outputItem is the item of kind and name in a run's output, decoded.
func outputItem(t *testing.T, out []byte, kind, name string) *fn.KubeObject {
	t.Helper()
	rl, err := fn.ParseResourceList(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range rl.Items {
		if it.GetKind() == kind && it.GetName() == name {
			return it
		}
	}
	t.Fatalf("no %s %s in the output", kind, name)
	return nil
}

// TestForgedRecord: a record naming what the function did not write (copied
// from another workload, edited by hand, stale after a rename) deletes nothing:
// each entry that does not match what the function writes is left alone and
// reported.
func TestForgedRecord(t *testing.T) {
	jobsRec := `{"jobs":["kubernetes-pods","prometheus"]}`
	podRec := `{"containers":["prometheus"],"volumes":["config"],"volumeMounts":["prometheus:/etc/prometheus"]}`
	metaRec := `{"injection":{"created":["labels/app"]},"ambient":{"replaced":{"labels/app":"other"}}}`
	for _, c := range []struct {
		name, rec, mode string
	}{
		{"jobs, sidecar", jobsRec, "sidecar"},
		{"jobs, ambient", jobsRec, "ambient"},
		{"pod, sidecar", podRec, "sidecar"},
		{"pod, ambient", podRec, "ambient"},
		{"pod, injection", podRec, "injection"},
		{"labels, ambient", metaRec, "ambient"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := resourceList(t, []byte(withRecord(c.rec)+"---\n"+userJobs), []byte(cfg("  mode: "+c.mode+"\n")))
			r := runBounded(t, hostileBound, in)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if !hasResult(r.results, fn.Warning, "istio-prometheus-mtls.dev/status") {
				t.Errorf("no warning names the record: %v", r.results)
			}
			cm := outputItem(t, r.stdout, "ConfigMap", "prom-config")
			text := cm.GetMap("data").GetString("prometheus.yml")
			for _, job := range []string{"job_name: kubernetes-pods\n", "job_name: prometheus\n", "targets: [localhost:9090]"} {
				if !strings.Contains(text, job) {
					t.Errorf("the user's %q is gone:\n%s", job, text)
				}
			}
			d := outputItem(t, r.stdout, "Deployment", "prom")
			tpl := d.GetMap("spec").GetMap("template")
			var names []string
			for _, ctr := range tpl.GetMap("spec").GetSlice("containers") {
				names = append(names, ctr.GetString("name"))
				if ctr.GetString("name") == "prometheus" {
					mounted := false
					for _, m := range ctr.GetSlice("volumeMounts") {
						mounted = mounted || m.GetString("mountPath") == "/etc/prometheus"
					}
					if !mounted {
						t.Errorf("the user's mount of /etc/prometheus is gone")
					}
				}
			}
			if !strings.Contains(strings.Join(names, ","), "prometheus") {
				t.Errorf("the user's container is gone: containers %v", names)
			}
			vols := ""
			for _, v := range tpl.GetMap("spec").GetSlice("volumes") {
				vols += v.GetString("name") + ","
			}
			if !strings.Contains(vols, "config,") {
				t.Errorf("the user's volume is gone: volumes %s", vols)
			}
			if got := tpl.GetMap("metadata").GetMap("labels").GetString("app"); got != "prom" {
				t.Errorf("the user's label app is %q, want prom", got)
			}
		})
	}
}

// TestForgedRecordOperator: on an operator's resource, a record naming the
// user's scrape class, Secret, container and volume removes none of them.
func TestForgedRecordOperator(t *testing.T) {
	rec := `{"containers":["config-reloader"],"volumes":["tls"],"scrapeClass":"istio-mtls","created":["Secret/monitoring/scrape-jobs"],"jobs":["pods"]}`
	prom := `apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k8s, namespace: monitoring}
spec:
  podMetadata:
    annotations:
      istio-prometheus-mtls.dev/status: ` + strconv.Quote(rec) + `
  additionalScrapeConfigs: {name: scrape-jobs, key: jobs.yaml}
  scrapeClasses:
  - name: istio-mtls
    tlsConfig: {caFile: /etc/prometheus/secrets/ca/ca.crt}
  containers:
  - {name: config-reloader, args: [--reload-url=http://localhost:9090/-/reload]}
  volumes:
  - {name: tls, secret: {secretName: prom-tls}}
  volumeMounts:
  - {name: tls, mountPath: /etc/tls}
---
apiVersion: v1
kind: Secret
metadata: {name: scrape-jobs, namespace: monitoring}
stringData:
  jobs.yaml: |
    - job_name: pods
      kubernetes_sd_configs: [{role: pod}]
`
	for _, mode := range []string{"ambient", "sidecar"} {
		t.Run(mode, func(t *testing.T) {
			in := resourceList(t, []byte(prom), []byte(cfg("  mode: "+mode+"\n")))
			r := runBounded(t, hostileBound, in)
			out := string(r.stdout)
			for _, want := range []string{"name: scrape-jobs", "- job_name: pods", "caFile: /etc/prometheus/secrets/ca/ca.crt", "name: config-reloader", "secretName: prom-tls", "mountPath: /etc/tls"} {
				if !strings.Contains(out, want) {
					t.Errorf("%q is gone (exit %d, %s)", want, r.code, r.stderr)
				}
			}
		})
	}
}

// mergeFanOut is a prometheus.yml of n jobs, each merging the one before it
// twice: read naively, the keys of the last are 2^n merges away.
func mergeFanOut(n int) string {
	var b strings.Builder
	b.WriteString("scrape_configs:\n- &j0\n  job_name: j0\n  kubernetes_sd_configs: [{role: pod}]\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "- &j%d\n  <<: [*j%d, *j%d]\n  job_name: j%d\n", i, i-1, i-1, i)
	}
	return b.String()
}

func indentBy(s, by string) string {
	return by + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+by) + "\n"
}

// TestHostileInput: every class of hostile input ends within the bound, with an
// error result naming what is wrong (items untouched) or a sound output.
func TestHostileInput(t *testing.T) {
	fanOut := mergeFanOut(40)
	cmFanOut := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: prom-config, namespace: mon}\ndata:\n  prometheus.yml: |\n" + indentBy(fanOut, "    ")
	otelFanOut := otelCR("mode: deployment\n  config:\n    receivers:\n      prometheus:\n        config:\n" + indentBy(fanOut, "          ") +
		"    exporters: {debug: {}}\n    service: {pipelines: {metrics: {receivers: [prometheus], exporters: [debug]}}}")

	deep := 600_000
	alloyDeep := "prometheus.scrape \"x\" {\n  targets = " + strings.Repeat("[", deep) + strings.Repeat("]", deep) + "\n  forward_to = []\n}\n"

	// $(VAR)s that double at each step: the config path expands to megabytes.
	var env strings.Builder
	env.WriteString("        env:\n        - {name: V0, value: " + strings.Repeat("x", 1000) + "}\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&env, "        - {name: V%d, value: \"$(V%d)$(V%d)\"}\n", i, i-1, i-1)
	}
	amplified := strings.Replace(deploy, "        args: [--config.file=/etc/prometheus/prometheus.yml]\n",
		"        args: [--config.file=$(V40)]\n"+env.String(), 1)

	// One big variable named many times in the config path.
	repeated := strings.Replace(deploy, "        args: [--config.file=/etc/prometheus/prometheus.yml]\n",
		"        args: [--config.file="+strings.Repeat("$(A)", 500)+"]\n        env:\n        - {name: A, value: "+strings.Repeat("a", 100_000)+"}\n", 1)

	dependent := strings.Replace(deploy, "        args: [--config.file=/etc/prometheus/prometheus.yml]\n",
		"        args: [--config.file=$(CFG)]\n        env:\n        - {name: DIR, value: /etc/prometheus}\n        - {name: CFG, value: $(DIR)/prometheus.yml}\n", 1)

	dupData := strings.Replace(configMap, "data:\n", "data:\n  prometheus.yml: |\n    global: {}\n", 1)
	dupMeta := strings.Replace(deploy, "metadata: {name: prom, namespace: mon}\n", "metadata: {name: prom, namespace: mon}\nmetadata: {name: other, namespace: mon}\n", 1)
	dupContainers := strings.Replace(deploy, "      volumes:\n", "      containers: [{name: x, image: busybox}]\n      volumes:\n", 1)

	argsString := strings.Replace(deploy, "args: [--config.file=/etc/prometheus/prometheus.yml]", "args: --config.file=/etc/prometheus/prometheus.yml", 1)
	envMap := strings.Replace(deploy, "        args: [--config.file=/etc/prometheus/prometheus.yml]\n", "        args: [--config.file=/etc/prometheus/prometheus.yml]\n        env: {A: b}\n", 1)

	type check func(t *testing.T, r bounded, in []byte)
	fails := func(parts ...string) check {
		return func(t *testing.T, r bounded, in []byte) {
			if r.code != 1 {
				t.Fatalf("exit %d, want 1 (an error result); stderr %s", r.code, clip(r.stderr))
			}
			msg := string(r.stderr)
			for _, res := range r.results {
				msg += "\n" + res.String()
			}
			for _, p := range parts {
				if !strings.Contains(msg, p) {
					t.Errorf("the error does not say %q:\n%s", p, clip([]byte(msg)))
				}
			}
			if len(r.stdout) > 0 && len(in) < 1<<20 {
				assertInputUntouched(t, in, r.stdout)
			}
		}
	}
	succeeds := func(want ...string) check {
		return func(t *testing.T, r bounded, in []byte) {
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, clip(r.stderr))
			}
			for _, w := range want {
				if !bytes.Contains(r.stdout, []byte(w)) {
					t.Errorf("the output does not hold %q", w)
				}
			}
		}
	}
	warns := func(parts ...string) check {
		return func(t *testing.T, r bounded, in []byte) {
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, clip(r.stderr))
			}
			if !hasResult(r.results, fn.Warning, parts...) {
				t.Errorf("no warning saying %q: %v", parts, r.results)
			}
		}
	}

	// Many jobs in one ConfigMap of half a MiB: the edit takes it past
	// Kubernetes' limit on an object.
	var many strings.Builder
	many.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: prom-config, namespace: mon}\ndata:\n  prometheus.yml: |\n    scrape_configs:\n")
	for i := 0; many.Len() < 500_000; i++ {
		fmt.Fprintf(&many, "    - job_name: pods-%d\n      kubernetes_sd_configs: [{role: pod}]\n      relabel_configs:\n      - {source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape], regex: \"true\", action: keep}\n      - {source_labels: [__meta_kubernetes_pod_label_shard], regex: \"%d\", action: keep}\n", i, i)
	}

	cases := []struct {
		name, items, config string
		b                   bounds
		check               check
	}{
		{"merge keys fanning out, ConfigMap", deploy + "---\n" + cmFanOut, "", hostileBound, succeeds("job_name: kubernetes-pods-istio-secure")},
		{"merge keys fanning out, collector spec.config", otelFanOut, "", hostileBound, succeeds("job_name: kubernetes-pods-istio-secure")},
		{"Alloy config nested 600,000 deep", alloyDeploy(indentBy(alloyDeep, "    ")), "", hostileBound, fails("config.alloy", "nested")},
		{"$(VAR) expanding to megabytes", amplified + "---\n" + configMap, "", hostileBound, fails("spec.template.spec.containers[0]", "--config.file")},
		{"$(VAR) named 500 times", repeated + "---\n" + configMap, "", hostileBound, fails("spec.template.spec.containers[0]", "--config.file")},
		{"$(VAR) defined from an earlier one", dependent + "---\n" + configMap, "", hostileBound, succeeds("job_name: kubernetes-pods-istio-secure")},
		{"duplicate data key", deploy + "---\n" + dupData, "", hostileBound, fails("ConfigMap", "prom-config", "data.prometheus.yml", "twice")},
		{"duplicate key in prometheus.yml", deploy + "---\n" + strings.Replace(configMap, "    scrape_configs: []\n", "    scrape_configs: []\n    global: {}\n    scrape_configs: []\n", 1), "", hostileBound, fails("data.prometheus.yml", "scrape_configs", "twice")},
		{"duplicate metadata", dupMeta + "---\n" + configMap, "", hostileBound, fails("Deployment", "metadata", "twice")},
		{"duplicate containers", dupContainers + "---\n" + configMap, "", hostileBound, fails("Deployment", "prom", "spec.template.spec.containers", "twice")},
		{"args as a string", argsString + "---\n" + configMap, "", hostileBound, fails("spec.template.spec.containers[0].args", "list")},
		{"env as a mapping", envMap + "---\n" + configMap, "", hostileBound, fails("spec.template.spec.containers[0].env", "list")},
		{"edited ConfigMap past 1 MiB", deploy + "---\n" + many.String(), "", hostileBound, warns("prom-config", "1 MiB")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := resourceList(t, []byte(c.items), []byte(c.config))
			c.check(t, runBounded(t, c.b, in), in)
		})
	}

	// The ResourceList itself malformed: the SDK's own words named Go types.
	for _, in := range []string{
		"kind: ResourceList\nitems: [1]\n",
		"kind: ResourceList\nitems: {a: b}\n",
		"kind: ResourceList\nfunctionConfig: 1\n",
	} {
		t.Run("ResourceList "+strings.ReplaceAll(in, "\n", " "), func(t *testing.T) {
			r := runBounded(t, hostileBound, []byte(in))
			if r.code != 1 || len(r.stderr) == 0 {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
		})
	}

	// The same through post-render, a Helm stream on stdin.
	for _, c := range []struct {
		name, stream string
		refused      bool // an error saying a key appears twice
	}{
		{"post-render: merge keys fanning out", deploy + "---\n" + cmFanOut, false},
		{"post-render: duplicate data key", deploy + "---\n" + dupData, true},
		{"post-render: duplicate containers", dupContainers + "---\n" + configMap, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runBounded(t, hostileBound, []byte(c.stream), "post-render")
			if c.refused {
				if r.code == 0 || !strings.Contains(string(r.stderr), "twice") {
					t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
				}
				return
			}
			if r.code != 0 || !bytes.Contains(r.stdout, []byte("kubernetes-pods-istio-secure")) {
				t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
			}
		})
	}
	t.Run("post-render --config /dev/zero", func(t *testing.T) {
		r := runBounded(t, hostileBound, []byte(deploy+"---\n"+configMap), "post-render", "--config", "/dev/zero")
		if r.code == 0 || !strings.Contains(string(r.stderr), "/dev/zero") {
			t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
		}
	})
}

// manyDeployments is a Helm stream of n application Deployments beside the
// Prometheus of deploy and its ConfigMap, and the same objects as a
// ResourceList (written directly: resourceList's general wrapping takes
// seconds on 10 MB).
func manyDeployments(n int) (stream, list []byte) {
	var b, l strings.Builder
	l.WriteString("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n")
	for i := range n {
		d := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-%d
  namespace: ns-%d
  labels: {app: app-%d, team: t%d}
spec:
  replicas: 2
  selector: {matchLabels: {app: app-%d}}
  template:
    metadata: {labels: {app: app-%d}, annotations: {prometheus.io/scrape: "true", prometheus.io/port: "8080"}}
    spec:
      containers:
      - name: app
        image: example.com/app:%d
        ports: [{containerPort: 8080, name: http}]
        resources: {requests: {cpu: 10m, memory: 32Mi}}
`, i, i%50, i, i%7, i, i, i)
		b.WriteString(d + "---\n")
		l.WriteString("- " + strings.ReplaceAll(strings.TrimSuffix(d, "\n"), "\n", "\n  ") + "\n")
	}
	b.WriteString(deploy + "---\n" + configMap)
	for _, d := range []string{deploy, configMap} {
		l.WriteString("- " + strings.ReplaceAll(strings.TrimSuffix(d, "\n"), "\n", "\n  ") + "\n")
	}
	return []byte(b.String()), []byte(l.String())
}

// TestLargeInput: the largest inputs the issue names (about 10 MB: many items,
// or one wide item) stay within its bound, through the KRM entry point and
// post-render; a scrape configuration past what the API server stores is
// refused at once.
func TestLargeInput(t *testing.T) {
	stream, in := manyDeployments(20_000)
	t.Logf("ResourceList of %d bytes", len(in))
	r := runBounded(t, largeBound, in)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, clip(r.stderr))
	}
	if n := bytes.Count(r.stdout, []byte("\n  kind: Deployment\n")); n != 20_001 {
		t.Errorf("%d Deployments out, want 20001", n)
	}
	if !bytes.Contains(r.stdout, []byte("job_name: kubernetes-pods-istio-secure")) {
		t.Error("the secure job is not in the output")
	}
	p := runBounded(t, largeBound, stream, "post-render")
	if p.code != 0 {
		t.Fatalf("post-render: exit %d: %s", p.code, clip(p.stderr))
	}

	// One ConfigMap of 60,000 keys beside prometheus.yml (3 MB): a scan of its
	// keys per key, anywhere, takes minutes (200,000 keys hung).
	var wide strings.Builder
	wide.WriteString(configMap)
	for i := range 60_000 {
		fmt.Fprintf(&wide, "  k%d: v%d-%s\n", i, i, strings.Repeat("x", 30))
	}
	w := runBounded(t, largeBound, resourceList(t, []byte(deploy+"---\n"+wide.String()), nil))
	if w.code != 0 || !bytes.Contains(w.stdout, []byte("job_name: kubernetes-pods-istio-secure")) {
		t.Fatalf("a wide ConfigMap: exit %d: %s", w.code, clip(w.stderr))
	}

	// A scrape configuration larger than any object the API server stores is
	// refused before it is parsed.
	var big strings.Builder
	big.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: prom-config, namespace: mon}\ndata:\n  prometheus.yml: |\n    scrape_configs:\n")
	for i := 0; big.Len() < 2<<20; i++ {
		fmt.Fprintf(&big, "    - job_name: pods-%d\n      kubernetes_sd_configs: [{role: pod}]\n", i)
	}
	b := runBounded(t, hostileBound, resourceList(t, []byte(deploy+"---\n"+big.String()), nil))
	if b.code != 1 || !hasResult(b.results, fn.Error, "data.prometheus.yml", "larger than any object the API server stores") {
		t.Fatalf("a 2 MiB prometheus.yml: exit %d, %v", b.code, b.results)
	}
}

// richDeploy is a Prometheus Deployment with things of the user's a forged
// record could name: two containers, a memory volume mounted read-only (as the
// certificate volume is), a storage volume, a label and an annotation.
const richDeploy = `apiVersion: apps/v1
kind: Deployment
metadata: {name: prom, namespace: mon}
spec:
  selector: {matchLabels: {app: prom}}
  template:
    metadata:
      labels: {app: prom}
      annotations: {team: obs}
    spec:
      containers:
      - name: prometheus
        image: prom/prometheus:v3.10.0
        args: [--config.file=/etc/prometheus/prometheus.yml]
        volumeMounts:
        - {name: config, mountPath: /etc/prometheus}
        - {name: cache, mountPath: /cache, readOnly: true}
        - {name: storage, mountPath: /data}
      - name: config-reloader
        image: quay.io/prometheus-operator/prometheus-config-reloader:v0.85.0
        args: [--watched-dir=/etc/config]
        volumeMounts: [{name: config, mountPath: /etc/config}]
      volumes:
      - {name: config, configMap: {name: prom-config}}
      - {name: cache, emptyDir: {medium: Memory}}
      - {name: storage, emptyDir: {}}
`

// TestForgedRecordProperty: 200 records drawn at random from the names of
// everything of the user's (containers, volumes, mounts, jobs, labels and
// annotations to undo, a created object), in every mode, never remove or
// change one of them.
func TestForgedRecordProperty(t *testing.T) {
	t.Parallel()
	pick := func(r *rand.Rand, from ...string) []string {
		var out []string
		for _, s := range from {
			if r.IntN(2) == 0 {
				out = append(out, s)
			}
		}
		return out
	}
	r := rand.New(rand.NewPCG(45, 1))
	ran := 0
	for i := range 200 {
		rec := map[string]any{
			"containers":     pick(r, "prometheus", "config-reloader", "istio-proxy"),
			"initContainers": pick(r, "prometheus", "istio-proxy"),
			"volumes":        pick(r, "config", "cache", "storage", "istio-certs"),
			"volumeMounts":   pick(r, "prometheus:/etc/prometheus", "prometheus:/cache", "prometheus:/data", "config-reloader:/etc/config"),
			"jobs":           pick(r, "kubernetes-pods", "prometheus", "kubernetes-pods-istio-secure"),
			"created":        pick(r, "ConfigMap/mon/prom-config"),
			"injection":      map[string]any{"created": pick(r, "labels/app", "annotations/team"), "replaced": map[string]string{"labels/app": "x", "annotations/team": "y"}},
			"ambient":        map[string]any{"created": pick(r, "labels/app", "annotations/team")},
		}
		b, _ := json.Marshal(rec)
		mode := []string{"sidecar", "injection", "ambient"}[i%3]
		d := strings.Replace(richDeploy, "      annotations: {team: obs}\n", "      annotations: {team: obs, istio-prometheus-mtls.dev/status: "+strconv.Quote(string(b))+"}\n", 1)
		in := resourceList(t, []byte(d+"---\n"+userJobs), []byte(cfg("  mode: "+mode+"\n")))
		out, err := runFn(in)
		if err != nil {
			continue // an error leaves every item as it came (TestBadInput, FuzzProcess)
		}
		ran++
		items, ierr := checks.Items(out)
		if ierr != nil {
			t.Fatal(ierr)
		}
		text := ""
		for _, it := range items {
			text += it.MustString()
		}
		for _, want := range []string{
			"name: prometheus\n", "image: prom/prometheus:v3.10.0", "name: config-reloader", "--watched-dir=/etc/config",
			"{name: config, mountPath: /etc/prometheus}", "{name: cache, mountPath: /cache, readOnly: true}", "{name: storage, mountPath: /data}", "{name: config, mountPath: /etc/config}",
			"{name: config, configMap: {name: prom-config}}", "{name: cache, emptyDir: {medium: Memory}}", "{name: storage, emptyDir: {}}",
			"app: prom", "team: obs", "job_name: kubernetes-pods\n", "job_name: prometheus\n", "targets: [localhost:9090]", "name: prom-config",
		} {
			if !strings.Contains(text, want) {
				t.Fatalf("mode %s, record %s: %q is gone or changed:\n%s", mode, b, want, text)
			}
		}
	}
	if ran < 160 {
		t.Errorf("only %d of 200 runs succeeded: the property was checked on too few", ran)
	}
}
