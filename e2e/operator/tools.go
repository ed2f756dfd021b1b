//go:build tools

// Package operator pins prometheus-operator for the end-to-end test: its main
// module has replace directives (its API and client modules, in its own tree),
// which `go install module@version` refuses, so e2e/build.sh builds
// cmd/operator and cmd/prometheus-config-reloader from this module instead.
// v0.85.0 is the only version of the main module the Go module proxy serves
// (2026-12-05); its API and client modules are required at the same version.
package operator

import (
	_ "github.com/prometheus-operator/prometheus-operator/cmd/operator"
	_ "github.com/prometheus-operator/prometheus-operator/cmd/prometheus-config-reloader"
)
