package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The kubelet's container restart back-off, as v1.37.2 has it: pkg/kubelet's
// initialCrashLoopBackOff 10 s and MaxContainerBackOff 5 min (the
// ReduceDefaultCrashLoopBackOffDecay gate, alpha and off, would make them 1 s
// and 60 s); doBackOff (kuberuntime_manager.go) restarts a container that
// exited for the first time at once, and later ones once the back-off has
// passed since it finished, doubling it each time (client-go's flowcontrol
// Backoff, forgotten after twice the maximum).
const (
	backOffInitial = 10 * time.Second
	backOffMax     = 5 * time.Minute
	backOffReset   = 10 * time.Minute
)

// runAs is how a container of a pod runs here: one of our images, a user.
type runAs struct{ image, user string }

// kubelet runs one pod's containers on this machine as the kubelet runs them
// (pkg/kubelet/kuberuntime's SyncPod, the prober, the lifecycle handlers):
//   - init containers in order; a native sidecar (restartPolicy Always) counts as
//     started once its startup probe passes, probed at the emitted period,
//     timeout and threshold, and only then does the next one start; a regular
//     init container must exit 0 (it is run again, with back-off, until it does);
//   - then the containers, in order, each after the previous one's postStart
//     hook returned (startContainer runs an exec hook with no timeout; a failed
//     hook kills its container, and SyncPod's step 9 starts the next one anyway);
//   - a container that exits is started again (a new container, as the kubelet
//     makes one) after the back-off, the restart policy being Always;
//   - readiness and liveness probes run once the startup probe passed; a
//     liveness failure kills the container; readiness, restarts and states are
//     written to the pod's status in the API server, as the kubelet's status
//     manager writes them.
//
// It waits on nothing else: no file, no port the kubelet would not probe.
type kubelet struct {
	t    *testing.T
	c    *cluster
	pod  *corev1.Pod
	node node
	// skip names the containers not run here, and why; they are reported
	// waiting, never ready.
	skip map[string]string

	mu    sync.Mutex
	ctrs  map[string]*ctr
	order []string // containers in the pod's order, init containers first
	log   []string
	stop  chan struct{}
	wg    sync.WaitGroup
}

// ctr is the kubelet's view of one container of the pod.
type ctr struct {
	spec     corev1.Container
	init     bool // an init container
	sidecar  bool // a native sidecar (an init container with restartPolicy Always)
	args     []string
	ids      []string // every docker container made for it, the current last
	gen      int      // bumped at every start
	running  bool
	since    time.Time // when the current one started
	started  bool      // startup probe passed (or there is none)
	ready    bool
	restarts int
	backOff  time.Duration
	lastExit *corev1.ContainerStateTerminated
}

// startPod creates the kubelet of pod (already in the API server, its IP set)
// and starts syncing it: it returns at once, the containers start as the
// kubelet would start them. images says how each container runs here; a
// container not in it must be in skip.
func (c *cluster) startPod(t *testing.T, n node, images map[string]runAs, skip map[string]string) *kubelet {
	t.Helper()
	k := &kubelet{t: t, c: c, pod: n.pod, node: n, skip: skip, ctrs: map[string]*ctr{}, stop: make(chan struct{})}
	add := func(spec corev1.Container, init bool) {
		x := &ctr{spec: spec, init: init, sidecar: init && spec.RestartPolicy != nil && *spec.RestartPolicy == corev1.ContainerRestartPolicyAlways}
		if r, ok := images[spec.Name]; ok {
			x.args = n.dockerArgs(t, r.image, spec, r.user)
		} else if _, ok := skip[spec.Name]; !ok {
			t.Fatalf("pod %s: container %s has no image here and no reason to be skipped", n.pod.Name, spec.Name)
		}
		if l := spec.Lifecycle; l != nil && l.PostStart != nil && l.PostStart.Exec == nil {
			t.Fatalf("container %s: only exec postStart hooks are run here", spec.Name)
		}
		k.ctrs[spec.Name] = x
		k.order = append(k.order, spec.Name)
	}
	for _, s := range n.pod.Spec.InitContainers {
		add(s, true)
	}
	for _, s := range n.pod.Spec.Containers {
		add(s, false)
	}
	t.Cleanup(k.shutdown)
	k.wg.Add(1)
	go k.sync()
	return k
}

func (k *kubelet) logf(format string, args ...any) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.log = append(k.log, time.Now().Format("15:04:05.000")+" "+k.pod.Name+": "+fmt.Sprintf(format, args...))
}

func (k *kubelet) stopping() bool {
	select {
	case <-k.stop:
		return true
	default:
		return false
	}
}

// sleep waits d, or less when the pod is torn down; false then.
func (k *kubelet) sleep(d time.Duration) bool {
	select {
	case <-k.stop:
		return false
	case <-time.After(d):
		return true
	}
}

// sync is SyncPod for a new pod: init containers, then containers.
func (k *kubelet) sync() {
	defer k.wg.Done()
	k.report()
	for _, name := range k.order {
		x := k.ctrs[name]
		if !x.init {
			continue
		}
		if x.args == nil {
			k.logf("init container %s is not run here (%s): the pod cannot start", name, k.skip[name])
			return
		}
		if !x.sidecar {
			if !k.runToCompletion(name) {
				return
			}
			continue
		}
		k.launch(name)
		for !k.is(name, func(x *ctr) bool { return x.started }) {
			if !k.sleep(100 * time.Millisecond) {
				return
			}
		}
		k.logf("native sidecar %s started (startup probe passed): the next container may start", name)
	}
	k.report()
	for _, name := range k.order {
		if k.ctrs[name].init {
			continue
		}
		if k.ctrs[name].args == nil {
			k.logf("container %s is not run here (%s)", name, k.skip[name])
			continue
		}
		if k.stopping() {
			return
		}
		k.launch(name)
	}
}

func (k *kubelet) is(name string, f func(*ctr) bool) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return f(k.ctrs[name])
}

// runToCompletion runs a regular init container until it exits 0, with the
// back-off between failed runs.
func (k *kubelet) runToCompletion(name string) bool {
	for !k.stopping() {
		id, err := k.create(name)
		if err != nil {
			return false
		}
		code := k.wait(id)
		k.exited(name, code)
		if code == 0 {
			return true
		}
		if !k.sleep(k.nextBackOff(name)) {
			return false
		}
	}
	return false
}

// launch starts a container (and its postStart hook), then watches it: its
// restarts and probes.
func (k *kubelet) launch(name string) {
	if _, err := k.start(name); err != nil {
		return
	}
	k.wg.Add(2)
	go k.supervise(name)
	go k.probe(name)
}

// create makes and starts a new docker container for name.
func (k *kubelet) create(name string) (string, error) {
	k.mu.Lock()
	x := k.ctrs[name]
	dname := fmt.Sprintf("k8s_%s_%s_%d", name, k.pod.Name, len(x.ids))
	args := append([]string{"run", "-d", "--name", dname}, x.args...)
	k.mu.Unlock()
	if k.stopping() {
		return "", fmt.Errorf("pod %s is being torn down", k.pod.Name)
	}
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		k.logf("starting %s: %v: %s", name, err, out)
		return "", err
	}
	id := strings.TrimSpace(string(out))
	k.mu.Lock()
	if k.stopping() { // torn down while it started: shutdown has its list already
		k.mu.Unlock()
		exec.Command("docker", "rm", "-f", id).Run()
		return "", fmt.Errorf("pod %s is being torn down", k.pod.Name)
	}
	x.ids = append(x.ids, id)
	x.gen++
	x.running, x.since, x.started, x.ready = true, time.Now(), x.spec.StartupProbe == nil, false
	k.mu.Unlock()
	k.logf("started %s (%s, restart %d)", name, dname, x.restarts)
	k.report()
	return id, nil
}

// start is create and then the postStart hook, which blocks the caller (the
// next container) until it returns; a failed hook kills the container.
func (k *kubelet) start(name string) (string, error) {
	id, err := k.create(name)
	if err != nil {
		return "", err
	}
	if l := k.ctrs[name].spec.Lifecycle; l != nil && l.PostStart != nil {
		began := time.Now()
		out, err := exec.Command("docker", append([]string{"exec", id}, l.PostStart.Exec.Command...)...).CombinedOutput()
		if err != nil {
			k.logf("FailedPostStartHook %s after %s: %v: %s; killing it", name, time.Since(began).Round(100*time.Millisecond), err, lastLine(out))
			exec.Command("docker", "kill", id).Run()
			return id, nil
		}
		k.logf("postStart hook of %s returned after %s", name, time.Since(began).Round(100*time.Millisecond))
	}
	return id, nil
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// wait blocks until docker container id exits, and returns its exit code.
func (k *kubelet) wait(id string) int {
	out, err := exec.Command("docker", "wait", id).Output()
	if err != nil {
		return -1
	}
	code, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return code
}

func (k *kubelet) exited(name string, code int) {
	k.mu.Lock()
	x := k.ctrs[name]
	x.running, x.started, x.ready = false, false, false
	x.lastExit = &corev1.ContainerStateTerminated{ExitCode: int32(code), StartedAt: metav1.NewTime(x.since), FinishedAt: metav1.Now()}
	k.mu.Unlock()
	k.logf("%s exited with code %d", name, code)
	k.report()
}

// nextBackOff is the delay before the next restart of name, as the kubelet's
// back-off gives it: none the first time, then 10 s doubling to 5 min,
// forgotten after 10 min of running.
func (k *kubelet) nextBackOff(name string) time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	x := k.ctrs[name]
	if x.lastExit != nil && x.lastExit.FinishedAt.Sub(x.since) >= backOffReset {
		x.backOff = 0
	}
	d := x.backOff
	switch {
	case x.backOff == 0:
		x.backOff = backOffInitial
	default:
		x.backOff = min(2*x.backOff, backOffMax)
	}
	return d
}

// supervise restarts name each time it exits (restartPolicy Always).
func (k *kubelet) supervise(name string) {
	defer k.wg.Done()
	for {
		k.mu.Lock()
		id := k.ctrs[name].ids[len(k.ctrs[name].ids)-1]
		k.mu.Unlock()
		code := k.wait(id)
		if k.stopping() {
			return
		}
		k.exited(name, code)
		d := k.nextBackOff(name)
		if d > 0 {
			k.logf("back-off %s before restarting %s", d, name)
		}
		if !k.sleep(d) {
			return
		}
		k.mu.Lock()
		k.ctrs[name].restarts++
		k.mu.Unlock()
		if _, err := k.start(name); err != nil {
			return
		}
	}
}

// prober is one probe's schedule and counts, for one container instance.
type prober struct {
	p          *corev1.Probe
	next       time.Time
	succ, fail int32
}

func newProber(p *corev1.Probe, since time.Time) *prober {
	if p == nil {
		return nil
	}
	return &prober{p: p, next: since.Add(time.Duration(p.InitialDelaySeconds) * time.Second)}
}

// due runs the probe when it is due and returns whether it ran and passed.
func (pr *prober) due(k *kubelet, x corev1.Container) (ran, ok bool) {
	if pr == nil || time.Now().Before(pr.next) {
		return false, false
	}
	period := max(pr.p.PeriodSeconds, 1)
	pr.next = time.Now().Add(time.Duration(period) * time.Second)
	if k.check(pr.p, x) {
		pr.succ, pr.fail = pr.succ+1, 0
		return true, true
	}
	pr.succ, pr.fail = 0, pr.fail+1
	return true, false
}

func threshold(v, def int32) int32 {
	if v == 0 {
		return def
	}
	return v
}

// probe runs name's startup, then readiness and liveness probes, for each
// container instance anew.
func (k *kubelet) probe(name string) {
	defer k.wg.Done()
	gen := -1
	var startup, readiness, liveness *prober
	for k.sleep(100 * time.Millisecond) {
		k.mu.Lock()
		x := k.ctrs[name]
		running, g, since, started, spec, id := x.running, x.gen, x.since, x.started, x.spec, x.ids[len(x.ids)-1]
		k.mu.Unlock()
		if !running {
			continue
		}
		if g != gen {
			gen = g
			startup, readiness, liveness = newProber(spec.StartupProbe, since), nil, nil
		}
		if !started {
			ran, ok := startup.due(k, spec)
			switch {
			case ran && ok:
				k.set(name, g, func(x *ctr) { x.started = true })
				k.logf("startup probe of %s passed after %s", name, time.Since(since).Round(100*time.Millisecond))
			case ran && startup.fail >= threshold(spec.StartupProbe.FailureThreshold, 3):
				k.logf("startup probe of %s failed %d times: killing it", name, startup.fail)
				exec.Command("docker", "kill", id).Run()
			}
			continue
		}
		if readiness == nil && liveness == nil {
			readiness, liveness = newProber(spec.ReadinessProbe, time.Now()), newProber(spec.LivenessProbe, time.Now())
			if spec.ReadinessProbe == nil {
				k.set(name, g, func(x *ctr) { x.ready = true })
			}
		}
		if ran, ok := readiness.due(k, spec); ran {
			was := k.is(name, func(x *ctr) bool { return x.ready })
			switch {
			case ok && !was && readiness.succ >= threshold(spec.ReadinessProbe.SuccessThreshold, 1):
				k.set(name, g, func(x *ctr) { x.ready = true })
				k.logf("%s ready", name)
			case !ok && was && readiness.fail >= threshold(spec.ReadinessProbe.FailureThreshold, 3):
				k.set(name, g, func(x *ctr) { x.ready = false })
				k.logf("%s not ready", name)
			}
		}
		if ran, ok := liveness.due(k, spec); ran && !ok && liveness.fail >= threshold(spec.LivenessProbe.FailureThreshold, 3) {
			k.logf("liveness probe of %s failed %d times: killing it", name, liveness.fail)
			exec.Command("docker", "kill", id).Run()
		}
	}
}

// set changes the state of name's instance gen (not of a later one), and
// reports the pod's status when something changed.
func (k *kubelet) set(name string, gen int, f func(*ctr)) {
	k.mu.Lock()
	x := k.ctrs[name]
	if x.gen != gen {
		k.mu.Unlock()
		return
	}
	f(x)
	k.mu.Unlock()
	k.report()
}

// check makes one probe of container x, as the prober does: HTTP GET on the
// pod IP (2xx and 3xx pass), a TCP connect, or a command in the container.
func (k *kubelet) check(p *corev1.Probe, x corev1.Container) bool {
	timeout := time.Duration(threshold(p.TimeoutSeconds, 1)) * time.Second
	port := func(v intstr.IntOrString) int {
		if v.Type == intstr.Int {
			return v.IntValue()
		}
		for _, cp := range x.Ports {
			if cp.Name == v.StrVal {
				return int(cp.ContainerPort)
			}
		}
		return 0
	}
	switch {
	case p.HTTPGet != nil:
		scheme := strings.ToLower(string(p.HTTPGet.Scheme))
		if scheme == "" {
			scheme = "http"
		}
		client := &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Get(fmt.Sprintf("%s://%s:%d%s", scheme, k.pod.Status.PodIP, port(p.HTTPGet.Port), p.HTTPGet.Path))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode >= 200 && resp.StatusCode < 400
	case p.TCPSocket != nil:
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("%s:%d", k.pod.Status.PodIP, port(p.TCPSocket.Port)), timeout)
		if err != nil {
			return false
		}
		conn.Close()
		return true
	case p.Exec != nil:
		k.mu.Lock()
		c := k.ctrs[x.Name]
		id := c.ids[len(c.ids)-1]
		k.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return exec.CommandContext(ctx, "docker", append([]string{"exec", id}, p.Exec.Command...)...).Run() == nil
	}
	return false
}

// report writes the pod's status as the kubelet's status manager does: the
// phase, the Initialized, ContainersReady and Ready conditions, and each
// container's state, readiness and restarts.
func (k *kubelet) report() {
	k.mu.Lock()
	st := k.pod.Status.DeepCopy()
	initialized, allReady, anyRunning := true, true, false
	var inits, ctrs []corev1.ContainerStatus
	for _, name := range k.order {
		x := k.ctrs[name]
		started := x.started // a copy: the status is written after the lock is let go
		cs := corev1.ContainerStatus{Name: name, Image: x.spec.Image, Ready: x.ready, RestartCount: int32(x.restarts),
			Started: &started, LastTerminationState: corev1.ContainerState{Terminated: x.lastExit}}
		switch {
		case x.running:
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(x.since)}
			anyRunning = true
		case x.args == nil:
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "NotRunHere", Message: k.skip[name]}
		case x.lastExit != nil:
			cs.State.Terminated = x.lastExit
		default:
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "PodInitializing"}
		}
		if x.init {
			initialized = initialized && (x.started || (!x.sidecar && x.lastExit != nil && x.lastExit.ExitCode == 0))
			if x.sidecar {
				allReady = allReady && x.ready
			}
			inits = append(inits, cs)
			continue
		}
		allReady = allReady && x.ready
		ctrs = append(ctrs, cs)
	}
	k.mu.Unlock()
	cond := func(ok bool) corev1.ConditionStatus {
		if ok {
			return corev1.ConditionTrue
		}
		return corev1.ConditionFalse
	}
	st.Phase = corev1.PodPending
	if anyRunning && initialized {
		st.Phase = corev1.PodRunning
	}
	st.InitContainerStatuses, st.ContainerStatuses = inits, ctrs
	st.Conditions = nil
	for typ, ok := range map[corev1.PodConditionType]bool{corev1.PodInitialized: initialized, corev1.ContainersReady: allReady && initialized, corev1.PodReady: allReady && initialized} {
		st.Conditions = append(st.Conditions, corev1.PodCondition{Type: typ, Status: cond(ok), LastTransitionTime: metav1.Now()})
	}
	slices.SortFunc(st.Conditions, func(a, b corev1.PodCondition) int { return strings.Compare(string(a.Type), string(b.Type)) })
	p := k.pod.DeepCopy()
	p.Status = *st
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 5 {
		cur, err := k.c.client.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			k.logf("status: %v", err)
			return
		}
		cur.Status = *st
		if _, err := k.c.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err == nil {
			return
		}
	}
}

// current is the docker id of name's running instance ("" when none).
func (k *kubelet) current(name string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	x := k.ctrs[name]
	if !x.running || len(x.ids) == 0 {
		return ""
	}
	return x.ids[len(x.ids)-1]
}

// state is a copy of what the kubelet knows of container name.
func (k *kubelet) state(name string) ctr {
	k.mu.Lock()
	defer k.mu.Unlock()
	return *k.ctrs[name]
}

// events is the kubelet's log of this pod so far.
func (k *kubelet) events() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return strings.Join(k.log, "\n")
}

// shutdown removes the pod's containers, as the kubelet does when the pod goes.
func (k *kubelet) shutdown() {
	k.mu.Lock()
	close(k.stop)
	var ids []string
	for _, x := range k.ctrs {
		ids = append(ids, x.ids...)
	}
	k.mu.Unlock()
	if k.t.Failed() {
		k.t.Logf("--- kubelet events of pod %s:\n%s", k.pod.Name, k.events())
		for _, id := range ids {
			logs, _ := exec.Command("docker", "logs", "--tail", "40", id).CombinedOutput()
			k.t.Logf("--- docker logs %s:\n%s", id[:12], logs)
		}
	}
	for _, id := range ids {
		exec.Command("docker", "rm", "-f", id).Run()
	}
	k.wg.Wait()
}
