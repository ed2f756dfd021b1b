package main

import (
	"os"
	"os/exec"
	"testing"
)

const otelcolInstall = "make tools (builds the collector of e2e/otelcol)"

// TestCollectorValidate runs the collector's own check (`otelcol validate
// --config`, e2e/otelcol: the chart's components and the contrib prometheus
// receiver v0.165.1) on the edited config of every collector golden case, the
// chart's ${env:MY_POD_IP} set.
func TestCollectorValidate(t *testing.T) {
	t.Parallel() // a subprocess does the work: it overlaps with the others
	otelcol := tool(t, "otelcol", otelcolInstall)
	checkGoldensWith(t, "OpenTelemetry Collector", func(file string) (string, error) {
		cmd := exec.Command(otelcol, "validate", "--config="+file)
		cmd.Env = append(os.Environ(), "MY_POD_IP=127.0.0.1", "OTEL_K8S_NODE_NAME=node-1", "OTEL_K8S_NODE_IP=127.0.0.1")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}, func(_ string, err error) bool { return err == nil })
}
