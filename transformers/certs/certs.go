// Package certs is the one home of what the scraper (Prometheus, vmagent, the
// OpenTelemetry Collector) reads from the certificate volume: the files Istio's
// agent writes to OUTPUT_CERTS.
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

// Why the TLS settings that use these files skip verifying the server: Istio's
// workload certificates carry SPIFFE identities (spiffe://trust-domain/ns/…/sa/…)
// and no DNS names or IPs, and Prometheus has no secure naming to check one, so
// the server certificate cannot be verified against the target's address. The
// client certificate still authenticates Prometheus to the sidecars (STRICT
// mTLS), and the traffic is encrypted.
// SkipVerifyWhy is the comment over insecure_skip_verify in a scrape job of
// the scraper a sentence calls called (its row's Called in the scraper table).
func SkipVerifyWhy(called string) string {
	return "# " + sentence(called) + " cannot verify Istio's SPIFFE identities (no secure naming),\n# so the server certificate is not checked; the client certificate still\n# authenticates " + called + " to the sidecars, and traffic is encrypted."
}

// SkipVerifyWhyShort is its one-line form, for an operator's scrape class.
func SkipVerifyWhyShort(called string) string {
	return "# insecureSkipVerify: " + called + " cannot verify Istio's SPIFFE identities."
}

// sentence is called at the start of a sentence.
func sentence(called string) string {
	if rest, ok := strings.CutPrefix(called, "the "); ok {
		return "The " + rest
	}
	return called
}
