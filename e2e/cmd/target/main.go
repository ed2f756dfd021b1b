// Command target is the end-to-end test's scrape target in a pod of the real
// node. With -certs DIR it serves its metrics over mTLS with the workload
// certificate its pod's Istio agent wrote into DIR (a client certificate from
// the mesh is required, as Envoy's inbound listener under STRICT requires one),
// standing in for a sidecar-injected application; without it, in plaintext.
// -allow names the clients served (SPIFFE ID prefixes, comma-separated), as an
// authorization policy would; others fail the handshake. -status ADDR serves,
// in plaintext, what the test reads: GET /seen, the SPIFFE identities of the
// clients that completed a handshake, one per line, in order; GET /handshakes,
// each handshake (when, the client certificate's serial and identity) and the
// requests served per client certificate, as JSON.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// handshake is one client's completed handshake.
type handshake struct {
	At       time.Time `json:"at"`
	Serial   string    `json:"serial"`
	Identity string    `json:"identity"`
}

func main() {
	addr := flag.String("addr", ":8080", "address of the metrics")
	certs := flag.String("certs", "", "directory of cert-chain.pem, key.pem, root-cert.pem: serve mTLS")
	allow := flag.String("allow", "", "SPIFFE ID prefixes of the clients served, comma-separated (all when empty)")
	status := flag.String("status", "", "address of /seen and /handshakes (plaintext)")
	name := flag.String("metric", "e2e_requests_total", "the counter served")
	flag.Parse()

	var requests atomic.Int64
	var mu sync.Mutex
	var shakes []handshake
	perSerial := map[string]int{}
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := requests.Add(1)
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			mu.Lock()
			perSerial[r.TLS.PeerCertificates[0].SerialNumber.String()]++
			mu.Unlock()
		}
		fmt.Fprintf(w, "# TYPE %s counter\n%s %d\n", *name, *name, n)
	})
	if *status != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/seen", func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			var ids []string
			for _, h := range shakes {
				ids = append(ids, h.Identity)
			}
			fmt.Fprint(w, strings.Join(ids, "\n"))
		})
		mux.HandleFunc("/handshakes", func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			json.NewEncoder(w).Encode(map[string]any{"handshakes": shakes, "requests": perSerial})
		})
		go func() { log.Fatal(http.ListenAndServe(*status, mux)) }()
	}
	if *certs == "" {
		log.Fatal(http.ListenAndServe(*addr, metrics))
	}
	var allowed []string
	if *allow != "" {
		allowed = strings.Split(*allow, ",")
	}
	srv := &http.Server{Addr: *addr, Handler: metrics, TLSConfig: &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The files are read at each handshake: the agent rotates them.
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cert, err := tls.LoadX509KeyPair(filepath.Join(*certs, "cert-chain.pem"), filepath.Join(*certs, "key.pem"))
			if err != nil {
				return nil, err
			}
			root, err := os.ReadFile(filepath.Join(*certs, "root-cert.pem"))
			if err != nil {
				return nil, err
			}
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(root)
			return &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
				VerifyPeerCertificate: func(_ [][]byte, chains [][]*x509.Certificate) error {
					leaf := chains[0][0]
					if len(leaf.URIs) == 0 {
						return fmt.Errorf("client certificate names no SPIFFE identity")
					}
					id := leaf.URIs[0].String() // an Istio workload certificate names one
					if len(allowed) > 0 && !slices.ContainsFunc(allowed, func(p string) bool { return strings.HasPrefix(id, p) }) {
						return fmt.Errorf("client %s is none of %v", id, allowed)
					}
					mu.Lock()
					shakes = append(shakes, handshake{time.Now(), leaf.SerialNumber.String(), id})
					mu.Unlock()
					return nil
				}}, nil
		},
	}}
	log.Fatal(srv.ListenAndServeTLS("", ""))
}
