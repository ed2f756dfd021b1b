// Command target is the end-to-end test's scrape target in a pod of the real
// node. With -certs DIR it serves its metrics over mTLS with the workload
// certificate its pod's Istio agent wrote into DIR (a client certificate from
// the mesh is required, as Envoy's inbound listener under STRICT requires one),
// standing in for a sidecar-injected application; without it, in plaintext.
// -status ADDR serves, in plaintext, the SPIFFE identities of the clients that
// completed a handshake (GET /seen, one per line, in order) for the test to read.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

func main() {
	addr := flag.String("addr", ":8080", "address of the metrics")
	certs := flag.String("certs", "", "directory of cert-chain.pem, key.pem, root-cert.pem: serve mTLS")
	status := flag.String("status", "", "address of /seen (plaintext)")
	name := flag.String("metric", "e2e_requests_total", "the counter served")
	flag.Parse()

	var requests atomic.Int64
	var mu sync.Mutex
	var seen []string
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := requests.Add(1)
		fmt.Fprintf(w, "# TYPE %s counter\n%s %d\n", *name, *name, n)
	})
	if *status != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/seen", func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprint(w, strings.Join(seen, "\n"))
		})
		go func() { log.Fatal(http.ListenAndServe(*status, mux)) }()
	}
	if *certs == "" {
		log.Fatal(http.ListenAndServe(*addr, metrics))
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
					mu.Lock()
					defer mu.Unlock()
					for _, u := range chains[0][0].URIs {
						seen = append(seen, u.String())
					}
					return nil
				}}, nil
		},
	}}
	log.Fatal(srv.ListenAndServeTLS("", ""))
}
