//go:build tools

// Package tools pins the programs the end-to-end test builds from this module:
// kube-apiserver needs k8s.io/kubernetes with its staging modules replaced.
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
