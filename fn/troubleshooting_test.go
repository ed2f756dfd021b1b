package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	config_util "github.com/prometheus/common/config"
)

// testCA is a certificate authority of a test: a mesh's root, or some other CA.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Organization: []string{name}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return testCA{cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue makes a workload certificate as Istio's CA does: no DNS or IP names, the
// SPIFFE identity as its URI SAN, for client and server use.
func (ca testCA) issue(t *testing.T, spiffeID string) (certPEM, keyPEM []byte) {
	t.Helper()
	return ca.issueFor(t, spiffeID, nil, time.Now().Add(time.Hour))
}

// issueFor makes a certificate with the given IP names, valid until notAfter.
func (ca testCA) issueFor(t *testing.T, spiffeID string, ips []net.IP, notAfter time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := url.Parse(spiffeID)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		NotBefore:    time.Now().Add(-2 * time.Hour),
		NotAfter:     notAfter,
		URIs:         []*url.URL{id},
		IPAddresses:  ips,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// agentFiles writes the three files Istio's agent writes into OUTPUT_CERTS.
func agentFiles(t *testing.T, ca testCA, spiffeID string) string {
	t.Helper()
	cert, key := ca.issue(t, spiffeID)
	return writeAgentFiles(t, ca, cert, key)
}

func writeAgentFiles(t *testing.T, ca testCA, cert, key []byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range map[string][]byte{"root-cert.pem": ca.pem, "cert-chain.pem": cert, "key.pem": key} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestTroubleshootingSymptoms reproduces the TLS symptoms of docs/troubleshooting.md with
// Prometheus's own scrape client (built from the function's secure job, as a scrape pool
// builds it) against a stand-in for a STRICT sidecar's inbound listener: a workload
// certificate of the mesh, and a client certificate required and verified against the
// mesh root. Each error must carry the words the page quotes, and the page must quote them.
func TestTroubleshootingSymptoms(t *testing.T) {
	t.Parallel()
	page, err := os.ReadFile("../docs/troubleshooting.md")
	if err != nil {
		t.Fatal(err)
	}
	job := loadJobs(t, prometheusYAML(t, "istio-addon-1.31"), "kubernetes-pods-istio-secure")[0]
	if job.HTTPClientConfig.TLSConfig.CAFile == "" || !job.HTTPClientConfig.TLSConfig.InsecureSkipVerify {
		t.Fatalf("the secure job's tls_config is not what the page describes: %+v", job.HTTPClientConfig.TLSConfig)
	}

	mesh, other := newTestCA(t, "cluster.local"), newTestCA(t, "another CA")
	serverCert, serverKey := mesh.issue(t, "spiffe://cluster.local/ns/app/sa/app")
	pair, err := tls.X509KeyPair(serverCert, serverKey)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(mesh.cert)
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "up 1\n") })
	listen := func(cfg *tls.Config) *httptest.Server {
		s := httptest.NewUnstartedServer(metrics)
		s.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
		s.TLS = cfg
		s.StartTLS()
		t.Cleanup(s.Close)
		return s
	}
	sidecar := listen(&tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: roots})
	// A listener that also refuses a valid mesh certificate of another identity at the
	// handshake, as the end-to-end test's stand-in for the target's Envoy does.
	identity := listen(&tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: roots,
		VerifyPeerCertificate: func(_ [][]byte, chains [][]*x509.Certificate) error {
			if len(chains) > 0 && len(chains[0][0].URIs) == 1 && chains[0][0].URIs[0].String() == "spiffe://cluster.local/ns/monitoring/sa/prometheus" {
				return nil
			}
			return errors.New("not the scraper's identity")
		}})
	// A TLS target outside the mesh, the API server say: its own CA, its address as a name.
	kubeCA := newTestCA(t, "kubernetes")
	apiCert, apiKey := kubeCA.issueFor(t, "spiffe://not-used", []net.IP{net.IPv4(127, 0, 0, 1)}, time.Now().Add(time.Hour))
	apiPair, err := tls.X509KeyPair(apiCert, apiKey)
	if err != nil {
		t.Fatal(err)
	}
	apiserver := listen(&tls.Config{Certificates: []tls.Certificate{apiPair}})
	plain := httptest.NewServer(metrics)
	defer plain.Close()
	expiredCert, expiredKey := mesh.issueFor(t, "spiffe://cluster.local/ns/monitoring/sa/prometheus", nil, time.Now().Add(-time.Hour))

	// scrape builds the scrape client from the job with its certificate directory
	// replaced by dir, as Prometheus does, and fetches url.
	scrape := func(dir, target string, edit func(*config_util.TLSConfig)) error {
		cfg := job.HTTPClientConfig
		tc := cfg.TLSConfig
		for _, f := range []*string{&tc.CAFile, &tc.CertFile, &tc.KeyFile} {
			if *f != "" {
				*f = filepath.Join(dir, filepath.Base(*f))
			}
		}
		if edit != nil {
			edit(&tc)
		}
		cfg.TLSConfig = tc
		client, err := config_util.NewClientFromConfig(cfg, job.JobName)
		if err != nil {
			return err
		}
		resp, err := client.Get(target + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %s", resp.Status)
		}
		return nil
	}
	https := strings.Replace(plain.URL, "http://", "https://", 1)
	prom := agentFiles(t, mesh, "spiffe://cluster.local/ns/monitoring/sa/prometheus")
	if err := scrape(prom, sidecar.URL, nil); err != nil {
		t.Fatalf("the control: the function's job with the agent's files fails: %v", err)
	}
	for _, c := range []struct {
		symptom, says string
		err           error
	}{
		{"the certificate files are not there", "unable to read CA cert",
			scrape(t.TempDir(), sidecar.URL, nil)},
		{"a client certificate of another CA", "remote error: tls: unknown certificate authority",
			scrape(agentFiles(t, other, "spiffe://cluster.local/ns/monitoring/sa/prometheus"), sidecar.URL, nil)},
		{"no client certificate (a hand-written tls_config with ca_file only)", "remote error: tls: certificate required",
			scrape(prom, sidecar.URL, func(tc *config_util.TLSConfig) { tc.CertFile, tc.KeyFile = "", "" })},
		{"an expired client certificate (files copied once, not rotated by an agent)", "remote error: tls: expired certificate",
			scrape(writeAgentFiles(t, mesh, expiredCert, expiredKey), sidecar.URL, nil)},
		{"another workload's certificate, refused at the handshake", "remote error: tls: bad certificate",
			scrape(agentFiles(t, mesh, "spiffe://cluster.local/ns/app/sa/app"), identity.URL, nil)},
		{"a non-mesh target verified against Istio's root", "x509: certificate signed by unknown authority",
			scrape(prom, apiserver.URL, func(tc *config_util.TLSConfig) { tc.InsecureSkipVerify = false })},
		{"a mesh target verified by address", "because it doesn't contain any IP SANs",
			scrape(prom, sidecar.URL, func(tc *config_util.TLSConfig) { tc.InsecureSkipVerify = false })},
		{"https to a pod whose port has no sidecar", "server gave HTTP response to HTTPS client",
			scrape(prom, https, nil)},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.says) {
			t.Errorf("%s: Prometheus's client says %v, not %q", c.symptom, c.err, c.says)
			continue
		}
		t.Logf("%s: %v", c.symptom, c.err)
		if !strings.Contains(string(page), c.says) {
			t.Errorf("docs/troubleshooting.md does not quote %q (%s)", c.says, c.symptom)
		}
	}
}
