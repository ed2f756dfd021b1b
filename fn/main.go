// Command istio-prometheus-mtls is a KRM function: it gives a Prometheus workload an
// istio-proxy sidecar that only fetches Istio workload certificates, mounts them
// into Prometheus and adds an https scrape job that uses them.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/kptdev/krm-functions-sdk/go/fn"
)

// version is stamped at build time (-ldflags -X main.version=...).
var version = "dev"

func main() {
	limitsMemory = true
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// limitsMemory: the process is the function's own (main), whose memory
// limitMemory may set; tests run the function inside theirs.
var limitsMemory bool

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "-h", "--help", "help":
			fmt.Fprint(stdout, usage())
			return 0
		case "post-render":
			return postRender(args[1:], stdin, stdout, stderr)
		case "--version", "version":
			fmt.Fprintln(stdout, version)
			return 0
		default:
			fmt.Fprintf(stderr, "istio-prometheus-mtls: unknown argument %q (see --help)\n", args[0])
			return 2
		}
	}
	in, err := readLimited(stdin, maxInput, "stdin")
	if err != nil {
		fmt.Fprintf(stderr, "istio-prometheus-mtls: %v\n", err)
		return 1
	}
	limitMemory(len(in))
	out, rl, err := runKRM(in)
	if len(out) > 0 {
		if _, werr := stdout.Write(out); werr != nil {
			fmt.Fprintf(stderr, "istio-prometheus-mtls: writing stdout: %v\n", werr)
			return 1
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "istio-prometheus-mtls: %s\n", summary(rl, err))
		return 1
	}
	return 0
}

// limitMemory sets the Go runtime's soft memory limit for an input of n bytes,
// unless GOMEMLIMIT sets one: the parsed items take about 25 times their text,
// and with the default GOGC the heap would grow to twice that before the
// collector runs. The limit makes it collect sooner; it never fails a run.
func limitMemory(n int) {
	if !limitsMemory || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(max(256<<20, 40*int64(n)))
}

// summary is the one-line stderr message: the first error result, or err.
func summary(rl *fn.ResourceList, err error) string {
	if rl != nil {
		for _, r := range rl.Results {
			if r.Severity == fn.Error {
				return strings.ReplaceAll(r.String(), "\n", " ")
			}
		}
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
}
