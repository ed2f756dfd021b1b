// Command demo runs the built function on a package directory, as kpt fn eval
// would but with nothing besides Go: it wraps the package's YAML files into a
// ResourceList with the function config, runs the binary on it, and prints what
// changed as a unified diff of each file, before and after (coloured on a
// terminal), followed by the function's results in words. The package is not
// written to.
//
//	go run ./hack/demo -fn bin/istio-prometheus-mtls -config examples/demo/fn-config.yaml examples/demo/package
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kptdev/krm-functions-sdk/go/fn"
	"github.com/pmezard/go-difflib/difflib"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/kio/kioutil"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

func main() {
	fnPath := flag.String("fn", "bin/istio-prometheus-mtls", "the function binary")
	cfgPath := flag.String("config", "", "the function config (default: none, every default)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: demo [-fn BINARY] [-config FILE] PACKAGE_DIR\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	color := os.Getenv("NO_COLOR") == "" && isTerminal(os.Stdout)
	code, err := demo(os.Stdout, *fnPath, *cfgPath, flag.Arg(0), color)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// demo prints the diff and the results; the exit code is the function's.
func demo(w io.Writer, fnPath, cfgPath, dir string, color bool) (int, error) {
	in, err := (&kio.LocalPackageReader{PackagePath: dir}).Read()
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", dir, err)
	}
	var cfg *yaml.RNode
	if cfgPath != "" {
		if cfg, err = yaml.ReadFile(cfgPath); err != nil {
			return 0, fmt.Errorf("reading %s: %w", cfgPath, err)
		}
	}
	before, err := files(in)
	if err != nil {
		return 0, err
	}
	var rl bytes.Buffer
	if err := (kio.ByteWriter{Writer: &rl, KeepReaderAnnotations: true, FunctionConfig: cfg,
		WrappingKind: kio.ResourceListKind, WrappingAPIVersion: kio.ResourceListAPIVersion}).Write(in); err != nil {
		return 0, err
	}
	cmd := exec.Command(fnPath)
	cmd.Stdin, cmd.Stderr = &rl, os.Stderr
	out, runErr := cmd.Output()
	var exitErr *exec.ExitError
	if runErr != nil && !errors.As(runErr, &exitErr) {
		return 0, fmt.Errorf("running %s: %w", fnPath, runErr)
	}
	items, err := (&kio.ByteReader{Reader: bytes.NewReader(out), OmitReaderAnnotations: true}).Read()
	if err != nil {
		return 0, fmt.Errorf("reading the function's output: %w", err)
	}
	if err := kioutil.DefaultPathAndIndexAnnotation("", items); err != nil {
		return 0, err
	}
	after, err := files(items)
	if err != nil {
		return 0, err
	}
	if err := printDiff(w, before, after, color); err != nil {
		return 0, err
	}
	parsed, err := fn.ParseResourceList(out)
	if err != nil {
		return 0, fmt.Errorf("reading the function's results: %w", err)
	}
	printResults(w, parsed.Results)
	if exitErr != nil {
		return exitErr.ExitCode(), nil
	}
	return 0, nil
}

// files renders nodes into the files their path annotations name, the way kpt
// writes a package back.
func files(nodes []*yaml.RNode) (map[string]string, error) {
	copies := make([]*yaml.RNode, len(nodes))
	for i, n := range nodes {
		copies[i] = n.Copy()
	}
	fs := filesys.MakeFsInMemory()
	if err := (kio.LocalPackageWriter{PackagePath: "/", FileSystem: filesys.FileSystemOrOnDisk{FileSystem: fs}}).Write(copies); err != nil {
		return nil, err
	}
	out := map[string]string{}
	err := fs.Walk("/", func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := fs.ReadFile(p)
		out[strings.TrimPrefix(p, "/")] = string(b)
		return err
	})
	return out, err
}

func printDiff(w io.Writer, before, after map[string]string, color bool) error {
	var names []string
	for n := range before {
		names = append(names, n)
	}
	for n := range after {
		if _, ok := before[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	changed := false
	for _, n := range names {
		d, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A: difflib.SplitLines(before[n]), B: difflib.SplitLines(after[n]),
			FromFile: filepath.Join("a", n), ToFile: filepath.Join("b", n), Context: 3,
		})
		if err != nil {
			return err
		}
		if d == "" {
			continue
		}
		changed = true
		for _, line := range strings.SplitAfter(d, "\n") {
			fmt.Fprint(w, paint(line, color))
		}
	}
	if !changed {
		fmt.Fprintln(w, "(no file changed)")
	}
	return nil
}

func paint(line string, color bool) string {
	if !color || line == "" {
		return line
	}
	code := ""
	switch {
	case strings.HasPrefix(line, "+++"), strings.HasPrefix(line, "---"):
		code = "1"
	case strings.HasPrefix(line, "@@"):
		code = "36"
	case strings.HasPrefix(line, "+"):
		code = "32"
	case strings.HasPrefix(line, "-"):
		code = "31"
	default:
		return line
	}
	body, nl := strings.CutSuffix(line, "\n")
	s := "\x1b[" + code + "m" + body + "\x1b[0m"
	if nl {
		s += "\n"
	}
	return s
}

// printResults says each result in a line: its severity, the resource and field
// it is about, and the message.
func printResults(w io.Writer, results fn.Results) {
	fmt.Fprintf(w, "\nResults (%d):\n", len(results))
	for _, r := range results {
		about := ""
		if ref := r.ResourceRef; ref != nil {
			about = ref.Kind + " "
			if ref.Namespace != "" {
				about += ref.Namespace + "/"
			}
			about += ref.Name
		}
		if r.Field != nil && r.Field.Path != "" {
			about = strings.TrimSpace(about + " " + r.Field.Path)
		}
		if about != "" {
			about = " [" + about + "]"
		}
		fmt.Fprintf(w, "  %s%s: %s\n", r.Severity, about, r.Message)
	}
}
