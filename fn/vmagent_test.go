package main

import (
	"os/exec"
	"strings"
	"testing"
)

const vmagentInstall = "go install github.com/VictoriaMetrics/VictoriaMetrics/app/vmagent@v1.151.0"

// TestVMAgentDryRun runs vmagent's own check (`-dryRun -promscrape.config`,
// which parses strictly and knows its relabel actions, such as the chart's
// keep_if_equal, that promtool lacks) on the edited scrape config of every
// vmagent golden case.
func TestVMAgentDryRun(t *testing.T) {
	t.Parallel() // a subprocess does the work: it overlaps with the others
	vmagent := tool(t, "vmagent", vmagentInstall)
	checkGoldensWith(t, "vmagent", func(file string) (string, error) {
		out, err := exec.Command(vmagent, "-dryRun", "-promscrape.config="+file).CombinedOutput()
		return string(out), err
	}, func(out string, err error) bool { return err == nil && strings.Contains(out, "all the configs are ok") })
}
