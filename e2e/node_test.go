package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// The real node's network: pods on a bridge of the test's own, the Services
// they reach (the API server, istiod, the DNS) translated to the test's
// loopback listeners on that bridge only (route_localnet), as kube-proxy would
// translate them to endpoints.
const (
	nodeBridge   = "ipm-e2e0"
	nodeSubnet   = "10.250.77.0/24"
	nodeGateway  = "10.250.77.1"
	apiServiceIP = "10.96.0.1"  // the kubernetes Service (the first of the range)
	dnsServiceIP = "10.96.0.10" // the kubelet's clusterDNS
	istiodIP     = "10.96.0.15" // what istiod.istio-system.svc resolves to
	nodeName     = "localhost"
	pauseImage   = "istio-prometheus-mtls-e2e/pause:1"
)

// realNode is a single-node cluster of real components: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, and a node — a containerd of the
// test's own (its own config, root, state and socket) and the kubelet, both in
// a private mount namespace, with the CNI bridge plugin — each built from its
// pinned source (e2e/build.sh) and started as a cluster starts it.
type realNode struct {
	*cluster
	dir    string // short: containerd's sockets live under it
	sock   string // containerd's socket
	nsPid  int    // the process holding the node's mount namespace
	cgroup string // the kubelet's cgroupRoot
}

// kubeconfigFor writes a kubeconfig for a component authenticating with token.
func (c *cluster) kubeconfigFor(t *testing.T, name, token string) string {
	t.Helper()
	p := filepath.Join(c.dir, name+".kubeconfig")
	kc := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: e2e\n  cluster: {server: \"https://127.0.0.1:%d\", certificate-authority: %s}\n"+
		"users:\n- name: %s\n  user: {token: %s}\ncontexts:\n- name: e2e\n  context: {cluster: e2e, user: %s}\ncurrent-context: e2e\n",
		c.apiPort, filepath.Join(c.dir, "ca.crt"), name, token, name)
	if err := os.WriteFile(p, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// run runs a command to completion, failing the test on error.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// startRealNode brings the cluster and the node up; everything it starts is
// stopped, and everything it made on the host (the bridge, the iptables rules,
// the cgroups, the runtime's state) removed, when the test ends, failed or not.
func startRealNode(t *testing.T, bin string) *realNode {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the real node needs root (mount namespace, cgroups, bridge)")
	}
	for _, p := range []string{"containerd", "runc", "ctr", "unshare", "nsenter", "iptables", "ip", "/usr/lib/cni/bridge"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s is missing: %v (e2e/build.sh installs Debian's containerd, runc and containernetworking-plugins)", p, err)
		}
	}
	dir, err := os.MkdirTemp("", "ipm-node")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	n := &realNode{dir: dir, sock: filepath.Join(dir, "run", "containerd.sock"), cgroup: "ipm-e2e-" + strconv.Itoa(os.Getpid())}
	for _, d := range []string{"run", "cp", "cni/conf", "cni/bin", "kubelet", "logs", "manifests", "plugins", "kcm-plugins"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	// The control plane: Node and RBAC authorization, NodeRestriction and (on
	// by default) Pod Security admission; the controllers and the scheduler
	// authenticate with tokens of their users.
	users := []string{
		"kcm-token,system:kube-controller-manager,kcm\n",
		"scheduler-token,system:kube-scheduler,scheduler\n",
		"kubelet-token,system:node:" + nodeName + ",kubelet,system:nodes\n",
	}
	n.cluster = startClusterWith(t, bin, filepath.Join(dir, "cp"), "Node,RBAC", users, "--enable-admission-plugins=NodeRestriction")
	c := n.cluster
	kcm := c.kubeconfigFor(t, "kcm", "kcm-token")
	start(t, c.dir, "kube-controller-manager", nil, filepath.Join(bin, "kube-controller-manager"),
		"--kubeconfig="+kcm, "--secure-port=0", "--leader-elect=false",
		"--service-account-private-key-file=sa.key", "--root-ca-file=ca.crt", "--use-service-account-credentials=true",
		"--flex-volume-plugin-dir="+filepath.Join(dir, "kcm-plugins"))
	start(t, c.dir, "kube-scheduler", nil, filepath.Join(bin, "kube-scheduler"),
		"--kubeconfig="+c.kubeconfigFor(t, "scheduler", "scheduler-token"), "--secure-port=0", "--leader-elect=false")

	// The network: the bridge (the CNI plugin finds it made), the Services'
	// addresses translated to loopback for traffic from the bridge only.
	n.network(t)
	dnsPort := n.serveDNS(t)
	n.nat(t, "udp", dnsServiceIP, 53, dnsPort)
	n.nat(t, "tcp", apiServiceIP, 443, c.apiPort)
	n.nat(t, "tcp", istiodIP, 15012, 15012)

	// The node: cgroups under the kubelet's cgroupRoot, the mount namespace,
	// containerd and its images, the kubelet.
	n.cgroups(t)
	n.namespace(t)
	n.containerd(t)
	n.kubelet(t, bin)
	waitFor(t, "node "+nodeName+" Ready", 120*time.Second, func() error {
		node, err := c.client.CoreV1().Nodes().Get(context.Background(), nodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == "Ready" && cond.Status == "True" {
				return nil
			}
		}
		return fmt.Errorf("conditions %v", node.Status.Conditions)
	})
	t.Cleanup(func() {
		// First of the cleanups: what the cluster says, when the test failed.
		if t.Failed() {
			for _, args := range [][]string{{"get", "deploy,rs,sts,pods", "-A", "-o", "wide"}, {"get", "events", "-A", "--sort-by=.lastTimestamp"}} {
				out, _ := exec.Command("kubectl", append([]string{"--kubeconfig", c.kubeconfig}, args...)...).CombinedOutput()
				t.Logf("kubectl %s:\n%s", strings.Join(args, " "), out)
			}
			// The containers' logs, as the kubelet keeps them (podLogsDir).
			logs, _ := filepath.Glob(filepath.Join(n.dir, "logs", "*", "*", "*.log"))
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				if len(b) > 3000 {
					b = b[len(b)-3000:]
				}
				t.Logf("--- last of %s:\n%s", strings.TrimPrefix(l, n.dir), b)
			}
		}
	})
	return n
}

// provision makes a hostPath PersistentVolume (in the test's directory) for
// each PersistentVolumeClaim in stream, as a cluster's storage would: the
// claim binds to it (kube-controller-manager's binder).
func (n *realNode) provision(t *testing.T, stream []byte) {
	t.Helper()
	for _, doc := range strings.Split(string(stream), "\n---\n") {
		if !strings.Contains(doc, "\nkind: PersistentVolumeClaim\n") {
			continue
		}
		var pvc corev1.PersistentVolumeClaim
		if err := yaml.Unmarshal([]byte(doc), &pvc); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(n.dir, "pv", pvc.Name)
		if err := os.MkdirAll(dir, 0o777); err != nil {
			t.Fatal(err)
		}
		os.Chmod(dir, 0o777) // any uid the pod runs as (hostPath takes no fsGroup)
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: pvc.Namespace + "-" + pvc.Name},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      pvc.Spec.Resources.Requests,
				AccessModes:                   pvc.Spec.AccessModes,
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}},
			},
		}
		if _, err := n.client.CoreV1().PersistentVolumes().Create(context.Background(), pv, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// network makes the pods' bridge and lets traffic between its ports through
// the host's FORWARD chain (Docker's policy drops it, br_netfilter being on).
func (n *realNode) network(t *testing.T) {
	t.Helper()
	run(t, "ip", "link", "add", nodeBridge, "type", "bridge")
	t.Cleanup(func() { exec.Command("ip", "link", "del", nodeBridge).Run() })
	run(t, "ip", "addr", "add", nodeGateway+"/24", "dev", nodeBridge)
	run(t, "ip", "link", "set", nodeBridge, "up")
	// Only this bridge routes to 127.0.0.0/8 (the translated Services).
	run(t, "sysctl", "-q", "-w", "net.ipv4.conf."+nodeBridge+".route_localnet=1")
	n.rule(t, "filter", "FORWARD", "-i", nodeBridge, "-o", nodeBridge, "-j", "ACCEPT")
	conf := fmt.Sprintf(`{"cniVersion": "0.4.0", "name": "ipm-e2e", "plugins": [
  {"type": "bridge", "bridge": %q, "isGateway": true, "isDefaultGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": %q, "gateway": %q}]], "dataDir": %q}},
  {"type": "loopback"}]}`, nodeBridge, nodeSubnet, nodeGateway, filepath.Join(n.dir, "cni", "ipam"))
	if err := os.WriteFile(filepath.Join(n.dir, "cni", "conf", "10-ipm-e2e.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"bridge", "host-local", "loopback"} {
		if err := os.Symlink("/usr/lib/cni/"+p, filepath.Join(n.dir, "cni", "bin", p)); err != nil {
			t.Fatal(err)
		}
	}
}

// rule inserts an iptables rule, deleted when the test ends.
func (n *realNode) rule(t *testing.T, table, chain string, spec ...string) {
	t.Helper()
	run(t, "iptables", append([]string{"-w", "-t", table, "-I", chain, "1"}, spec...)...)
	t.Cleanup(func() {
		if out, err := exec.Command("iptables", append([]string{"-w", "-t", table, "-D", chain}, spec...)...).CombinedOutput(); err != nil {
			t.Errorf("removing the iptables rule %s %s: %v %s", chain, spec, err, out)
		}
	})
}

// nat translates a Service address of the pods to a loopback listener.
func (n *realNode) nat(t *testing.T, proto, ip string, port, to int) {
	t.Helper()
	n.rule(t, "nat", "PREROUTING", "-i", nodeBridge, "-p", proto, "-d", ip, "--dport", strconv.Itoa(port),
		"-j", "DNAT", "--to-destination", fmt.Sprintf("127.0.0.1:%d", to))
}

// serveDNS answers the pods' lookups as cluster DNS would for the one name they
// need (istiod.istio-system.svc, as the agent's CA_ADDR has it); every other
// name does not exist.
func (n *realNode) serveDNS(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	names := map[string]bool{"istiod.istio-system.svc.": true, "istiod.istio-system.svc.cluster.local.": true}
	go func() {
		buf := make([]byte, 1500)
		for {
			k, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:k])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			known := names[strings.ToLower(q.Name.String())]
			hdr := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}
			if !known {
				hdr.RCode = dnsmessage.RCodeNameError
			}
			b := dnsmessage.NewBuilder(nil, hdr)
			b.EnableCompression()
			b.StartQuestions()
			b.Question(q)
			b.StartAnswers()
			if known && q.Type == dnsmessage.TypeA {
				b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 30}, dnsmessage.AResource{A: [4]byte(net.ParseIP(istiodIP).To4())})
			}
			if msg, err := b.Finish(); err == nil {
				pc.WriteTo(msg, from)
			}
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// cgroups makes the kubelet's cgroupRoot in every cgroup v1 hierarchy (these
// machines mount v1) and removes what is left of it at the end.
func (n *realNode) cgroups(t *testing.T) {
	t.Helper()
	hier, _ := filepath.Glob("/sys/fs/cgroup/*")
	var made []string
	for _, h := range hier {
		var st syscall.Statfs_t
		if syscall.Statfs(h, &st) != nil || st.Type != 0x27e0eb { // CGROUP_SUPER_MAGIC: v1 only
			continue
		}
		d := filepath.Join(h, n.cgroup)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		made = append(made, d)
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if b, err := os.ReadFile(filepath.Join(h, f)); err == nil {
				os.WriteFile(filepath.Join(d, f), b, 0o644)
			}
		}
	}
	t.Cleanup(func() {
		// The kubelet makes its cgroupRoot in the v2 hierarchy of a hybrid
		// host too.
		all, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", n.cgroup))
		for _, d := range all {
			if !slices.Contains(made, d) {
				made = append(made, d)
			}
		}
		for _, d := range made {
			// Leaves first; a cgroup with a process left in it stays, and says so.
			var dirs []string
			filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
				if err == nil && e.IsDir() {
					dirs = append(dirs, p)
				}
				return nil
			})
			for i := len(dirs) - 1; i >= 0; i-- {
				if err := syscall.Rmdir(dirs[i]); err != nil && !os.IsNotExist(err) {
					t.Errorf("cgroup %s: %v", dirs[i], err)
				}
			}
		}
	})
}

// nodeNamespace is run as the holder of the node's mount namespace: a private
// copy of the host's mounts without the ones the node must not pin (Docker's
// container filesystems), a /run of its own (containerd 1.6's shims put their
// sockets in /run/containerd, whatever its config says), /var/lib and /var/log as overlays whose
// writes (libcni's cache, the kubelet's fixed paths) stay in the test's
// directory, and the sysctls the kubelet would otherwise set on the host
// already showing the values it wants.
const nodeNamespace = `set -eu
D="$1"
keep='^(/|/proc|/sys|/sys/fs/cgroup(/.*)?|/dev|/dev/pts|/dev/shm|/dev/mqueue|/tmp)$'
awk '{print $5}' /proc/self/mountinfo | sort -r -u | while read -r m; do
  m=$(printf '%b' "$m")
  case "$m" in "$D"*) continue;; esac
  if printf '%s\n' "$m" | grep -Eq "$keep"; then continue; fi
  umount -l "$m" 2>/dev/null || true
done
mkdir -p "$D/ns/sysctl" "$D/ns/varlib/upper" "$D/ns/varlib/work" "$D/ns/varlog/upper" "$D/ns/varlog/work"
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/containerd
mount -t overlay overlay -o lowerdir=/var/lib,upperdir="$D/ns/varlib/upper",workdir="$D/ns/varlib/work" /var/lib
mount -t overlay overlay -o lowerdir=/var/log,upperdir="$D/ns/varlog/upper",workdir="$D/ns/varlog/work" /var/log
echo 1 > "$D/ns/sysctl/overcommit_memory"; mount --bind "$D/ns/sysctl/overcommit_memory" /proc/sys/vm/overcommit_memory
echo 10 > "$D/ns/sysctl/panic"; mount --bind "$D/ns/sysctl/panic" /proc/sys/kernel/panic
echo 1 > "$D/ns/sysctl/panic_on_oops"; mount --bind "$D/ns/sysctl/panic_on_oops" /proc/sys/kernel/panic_on_oops
touch "$D/run/ns.ready"
exec sleep infinity
`

// namespace starts the holder of the node's mount namespace.
func (n *realNode) namespace(t *testing.T) {
	t.Helper()
	cmd := start(t, n.dir, "node-namespace", nil, "unshare", "--mount", "--propagation", "private", "sh", "-c", nodeNamespace, "sh", n.dir)
	n.nsPid = cmd.Process.Pid
	waitFor(t, "the node's mount namespace", 30*time.Second, func() error {
		if _, err := os.Stat(filepath.Join(n.dir, "run", "ns.ready")); err != nil {
			return fmt.Errorf("not ready (%v)", err)
		}
		return nil
	})
}

// inNode is a command line run inside the node's mount namespace.
func (n *realNode) inNode(cmdline ...string) []string {
	return append([]string{"nsenter", "-t", strconv.Itoa(n.nsPid), "-m", "--"}, cmdline...)
}

// containerd starts Debian's containerd with the test's own config, and
// imports the test's images; at the end the pods' containers are killed and its
// shims (left behind by design) stopped.
func (n *realNode) containerd(t *testing.T) {
	t.Helper()
	d := n.dir
	conf := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]
[grpc]
  address = %[3]q
[ttrpc]
  address = "%[3]s.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = %[4]q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[5]q
  netns_mounts_under_state_dir = true
  # root here lacks CAP_SYS_RESOURCE: runc cannot lower a sandbox's oom_score_adj
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = %[6]q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[7]q
    conf_dir = %[8]q
    max_conf_num = 1
`, filepath.Join(d, "ctrd", "root"), filepath.Join(d, "ctrd", "state"), n.sock, filepath.Join(d, "ctrd", "opt"),
		pauseImage, filepath.Join(d, "ctrd", "runc"), filepath.Join(d, "cni", "bin"), filepath.Join(d, "cni", "conf"))
	if err := os.WriteFile(filepath.Join(d, "containerd.toml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := start(t, d, "containerd", nil, n.inNode("containerd", "--config", filepath.Join(d, "containerd.toml"))...)
	t.Cleanup(func() {
		// Before containerd stops (cleanups run last first): kill every
		// container of the pods, then the shims of this containerd, found in
		// the node's namespace by the socket they name.
		ctr := func(args ...string) *exec.Cmd {
			return exec.Command("ctr", append([]string{"-a", n.sock, "-n", "k8s.io"}, args...)...)
		}
		if out, err := ctr("tasks", "ls", "-q").Output(); err == nil {
			for _, id := range strings.Fields(string(out)) {
				ctr("tasks", "kill", "-s", "SIGKILL", id).Run()
			}
		}
		cmd.Process.Signal(syscall.SIGTERM)
		time.Sleep(time.Second)
		ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", n.nsPid))
		procs, _ := os.ReadDir("/proc")
		for _, p := range procs {
			pid, err := strconv.Atoi(p.Name())
			if err != nil || pid == n.nsPid {
				continue
			}
			if m, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid)); m != ns || ns == "" {
				continue
			}
			cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if bytes.Contains(cl, []byte(n.sock)) || bytes.Contains(cl, []byte(n.dir)) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	waitFor(t, "containerd", 30*time.Second, func() error {
		return exec.Command("ctr", "-a", n.sock, "version").Run()
	})
}

// importImages imports the test's images into the node's containerd, each
// under every name a pod asks for it by (images: asked-for name → the
// test's image).
func (n *realNode) importImages(t *testing.T, images map[string]string) {
	t.Helper()
	tar := filepath.Join(n.dir, "images.tar")
	var ours []string
	for _, img := range images {
		if !slices.Contains(ours, img) {
			ours = append(ours, img)
		}
	}
	run(t, "docker", append([]string{"save", "-o", tar}, ours...)...)
	ctr := []string{"-a", n.sock, "-n", "k8s.io", "images"}
	run(t, "ctr", append(ctr, "import", tar)...)
	os.Remove(tar)
	for asked, img := range images {
		if asked != img {
			run(t, "ctr", append(ctr, "tag", "--force", fullName(img), fullName(asked))...)
		}
	}
}

// fullName is an image reference as containerd names it (docker.io/library
// added where Docker leaves it out).
func fullName(ref string) string {
	first, _, ok := strings.Cut(ref, "/")
	switch {
	case !ok:
		return "docker.io/library/" + ref
	case !strings.ContainsAny(first, ".:") && first != "localhost":
		return "docker.io/" + ref
	}
	return ref
}

// kubelet starts the kubelet in the node's namespace, configured for this
// machine: cgroup v1 allowed (failCgroupV1: false), the cgroupfs driver
// (containerd 1.6 does not answer the CRI RuntimeConfig call), no iptables
// chains of its own on the host, everything it writes under the test's
// directory, and eviction thresholds a shared disk does not trip.
func (n *realNode) kubelet(t *testing.T, bin string) {
	t.Helper()
	d := n.dir
	port, healthz := freePort(t), freePort(t)
	conf := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: %d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
containerRuntimeEndpoint: unix://%s
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /%s
makeIPTablesUtilChains: false
protectKernelDefaults: false
podLogsDir: %s
volumePluginDir: %s
staticPodPath: %s
failSwapOn: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%%", nodefs.inodesFree: "1%%", imagefs.available: "1%%"}
authentication: {anonymous: {enabled: false}, webhook: {enabled: true}, x509: {clientCAFile: %s}}
authorization: {mode: Webhook}
clusterDomain: cluster.local
clusterDNS: [%s]
resolvConf: /etc/resolv.conf
syncFrequency: 10s
fileCheckFrequency: 5s
`, port, healthz, n.sock, n.cgroup, filepath.Join(d, "logs"), filepath.Join(d, "plugins"), filepath.Join(d, "manifests"),
		filepath.Join(n.cluster.dir, "ca.crt"), dnsServiceIP)
	if err := os.WriteFile(filepath.Join(d, "kubelet.yaml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, d, "kubelet", nil, n.inNode(filepath.Join(bin, "kubelet"), "--config="+filepath.Join(d, "kubelet.yaml"),
		"--kubeconfig="+n.cluster.kubeconfigFor(t, "kubelet", "kubelet-token"),
		"--root-dir="+filepath.Join(d, "kubelet"), "--cert-dir="+filepath.Join(d, "kubelet", "pki"),
		"--hostname-override="+nodeName, "--v=2")...)
	t.Cleanup(func() {
		// The pods go first (cleanups run last first), so that the kubelet
		// stops their sandboxes and the CNI plugin releases their addresses.
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		nss, err := n.client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			return
		}
		for _, ns := range nss.Items {
			n.client.AppsV1().Deployments(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
			n.client.AppsV1().StatefulSets(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
			n.client.AppsV1().ReplicaSets(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
			n.client.CoreV1().Pods(ns.Name).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		}
		for ctx.Err() == nil {
			pods, err := n.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
			if err != nil || len(pods.Items) == 0 {
				break
			}
			time.Sleep(time.Second)
		}
	})
}
