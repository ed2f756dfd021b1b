//go:build tools

// Package tools pins the programs the end-to-end test builds from this module:
// the control plane and the kubelet need k8s.io/kubernetes with its staging
// modules replaced.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
