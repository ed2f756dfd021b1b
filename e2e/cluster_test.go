package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// cluster is etcd, kube-apiserver and istiod, all real, on 127.0.0.1.
type cluster struct {
	dir        string // certificates, kubeconfig, logs
	bin        string // the built binaries
	apiPort    int
	caPEM      []byte // the API server's serving CA (in-cluster ca.crt)
	kubeconfig string
	client     *kubernetes.Clientset
	config     *rest.Config
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs a process until the test ends, its output in dir/name.log.
func start(t *testing.T, dir, name string, env []string, cmdline ...string) *exec.Cmd {
	t.Helper()
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cmdline[0], cmdline[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("--- last of %s.log:\n%s", name, b)
		}
	})
	return cmd
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// serving makes a CA and a serving certificate for 127.0.0.1 and the in-cluster
// names of the API server.
func serving(t *testing.T, dir string) (caPEM []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e-apiserver-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		// 10.96.0.1: the kubernetes Service's address, which the real node's
		// pods reach it at.
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, "ca.crt"), "CERTIFICATE", caDER)
	ckb, _ := x509.MarshalECPrivateKey(caKey)
	writePEM(t, filepath.Join(dir, "ca.key"), "EC PRIVATE KEY", ckb) // client certificates (clientCert)
	writePEM(t, filepath.Join(dir, "apiserver.crt"), "CERTIFICATE", der)
	kb, _ := x509.MarshalECPrivateKey(key)
	writePEM(t, filepath.Join(dir, "apiserver.key"), "EC PRIVATE KEY", kb)
	// The service-account signing key (TokenRequest, TokenReview).
	sa, _ := rsa.GenerateKey(rand.Reader, 2048)
	writePEM(t, filepath.Join(dir, "sa.key"), "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(sa))
	pub, _ := x509.MarshalPKIXPublicKey(&sa.PublicKey)
	writePEM(t, filepath.Join(dir, "sa.pub"), "PUBLIC KEY", pub)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
}

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = ok(); err == nil {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %v", what, timeout, err)
}

// clientCert signs a client certificate of user cn in groups with the API
// server's client CA (serving's), written as dir/name.crt and dir/name.key.
func clientCert(t *testing.T, dir, name, cn string, groups ...string) (crt, key string) {
	t.Helper()
	caPair, err := tls.LoadX509KeyPair(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caPair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn, Organization: groups},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &k.PublicKey, caPair.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	crt, key = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	writePEM(t, crt, "CERTIFICATE", der)
	kb, _ := x509.MarshalECPrivateKey(k)
	writePEM(t, key, "EC PRIVATE KEY", kb)
	return crt, key
}

// startClusterWith runs etcd and kube-apiserver with its state in dir, the
// authorization modes given, and a token (tokens.csv line) for each of users
// beside the admin's.
func startClusterWith(t *testing.T, bin, dir, authz string, users []string, flags ...string) *cluster {
	t.Helper()
	c := &cluster{dir: dir, bin: bin}
	c.caPEM = serving(t, c.dir)
	etcdPort, peerPort := freePort(t), freePort(t)
	start(t, c.dir, "etcd", nil, "etcd", "--data-dir", filepath.Join(c.dir, "etcd"),
		"--listen-client-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdPort),
		"--advertise-client-urls", fmt.Sprintf("http://127.0.0.1:%d", etcdPort),
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peerPort),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peerPort),
		"--initial-cluster", fmt.Sprintf("default=http://127.0.0.1:%d", peerPort))
	token := "e2e-admin-token"
	tokens := token + ",admin,admin,system:masters\n" + strings.Join(users, "")
	if err := os.WriteFile(filepath.Join(c.dir, "tokens.csv"), []byte(tokens), 0o600); err != nil {
		t.Fatal(err)
	}
	c.apiPort = freePort(t)
	start(t, c.dir, "kube-apiserver", nil, append([]string{filepath.Join(bin, "kube-apiserver"),
		"--etcd-servers", fmt.Sprintf("http://127.0.0.1:%d", etcdPort),
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", c.apiPort),
		"--endpoint-reconciler-type=none",
		"--tls-cert-file=apiserver.crt", "--tls-private-key-file=apiserver.key", "--client-ca-file=ca.crt",
		"--token-auth-file=tokens.csv", "--authorization-mode=" + authz,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=sa.pub", "--service-account-signing-key-file=sa.key",
		"--api-audiences=https://kubernetes.default.svc.cluster.local,istio-ca",
		"--service-cluster-ip-range=10.96.0.0/16"}, flags...)...)
	c.kubeconfig = filepath.Join(c.dir, "kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster: {server: "https://127.0.0.1:%d", certificate-authority: %s}
users:
- name: admin
  user: {token: %s}
contexts:
- name: e2e
  context: {cluster: e2e, user: admin}
current-context: e2e
`, c.apiPort, filepath.Join(c.dir, "ca.crt"), token)
	if err := os.WriteFile(c.kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c.config = cfg
	c.client = kubernetes.NewForConfigOrDie(cfg)
	waitFor(t, "kube-apiserver /readyz", 90*time.Second, func() error {
		b, err := c.client.RESTClient().Get().AbsPath("/readyz").DoRaw(context.Background())
		if err != nil {
			return fmt.Errorf("%v %s", err, b)
		}
		return nil
	})
	return c
}

// kubectl runs the machine's kubectl against the cluster.
func (c *cluster) kubectl(t *testing.T, stdin []byte, args ...string) string {
	t.Helper()
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// startIstiod runs pilot-discovery out of cluster against the API server, with its
// self-signed CA, every listener on 127.0.0.1 (gRPC TLS on 15012, as CA_ADDR says).
// name names its log; it returns the process. Started again, istiod finds its
// CA in the istio-ca-secret it wrote the first time.
func (c *cluster) startIstiod(t *testing.T, crds, name string) *exec.Cmd {
	t.Helper()
	c.kubectl(t, nil, "apply", "--server-side", "-f", crds)
	mesh := filepath.Join(c.dir, "mesh.yaml")
	if err := os.WriteFile(mesh, []byte("trustDomain: cluster.local\ndefaultConfig:\n  discoveryAddress: istiod.istio-system.svc:15012\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []int{15010, 15012, 15014, 15017, 18080} {
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err != nil {
			t.Fatalf("istiod's port %d is taken: %v", p, err)
		} else {
			l.Close()
		}
	}
	cmd := start(t, c.dir, name, []string{"POD_NAMESPACE=istio-system", "POD_NAME=istiod-e2e", "REVISION=default",
		"ISTIOD_CUSTOM_HOST=istiod.istio-system.svc"},
		filepath.Join(c.bin, "pilot-discovery"), "discovery", "--kubeconfig", c.kubeconfig, "--meshConfig", mesh,
		"--httpAddr=127.0.0.1:18080", "--grpcAddr=127.0.0.1:15010", "--secureGRPCAddr=127.0.0.1:15012",
		"--monitoringAddr=127.0.0.1:15014", "--httpsAddr=127.0.0.1:15017")
	waitFor(t, "istiod ready", 120*time.Second, func() error {
		resp, err := http.Get("http://127.0.0.1:18080/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	waitFor(t, "istiod serving TLS on 15012", 60*time.Second, func() error {
		conn, err := tls.Dial("tcp", "127.0.0.1:15012", &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			return err
		}
		return conn.Close()
	})
	return cmd
}
