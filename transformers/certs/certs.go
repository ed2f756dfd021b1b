// Package certs is the one home of what Prometheus reads from the certificate
// volume: the files Istio's agent writes to OUTPUT_CERTS.
package certs

import "strings"

// The files pilot-agent writes with OUTPUT_CERTS set.
const (
	CA    = "root-cert.pem"  // the mesh root, to verify the sidecars' certificates
	Chain = "cert-chain.pem" // the workload certificate chain, presented by Prometheus
	Key   = "key.pem"        // its private key
)

// Paths are the three files under dir: CA, certificate chain, key.
func Paths(dir string) (ca, chain, key string) {
	dir = strings.TrimSuffix(dir, "/")
	return dir + "/" + CA, dir + "/" + Chain, dir + "/" + Key
}
