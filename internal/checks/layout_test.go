package checks

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/istio-prometheus-mtls/istio-prometheus-mtls/"

// productFiles parses the non-test Go files of dir.
func productFiles(t *testing.T, dir string) map[string]*ast.File {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*ast.File{}
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), n, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = f
	}
	if len(out) == 0 {
		t.Fatalf("no Go files in %s", dir)
	}
	return out
}

// projectImports lists the project packages f imports, by their path below the module.
func projectImports(f *ast.File) []string {
	var out []string
	for _, im := range f.Imports {
		p, _ := strconv.Unquote(im.Path.Value)
		if rest, ok := strings.CutPrefix(p, module); ok {
			out = append(out, rest)
		}
	}
	return out
}

// TestLayout keeps the layout of the flow (docs/architecture.md): process.go only
// wires, podtemplate knows nothing of the features that use it, and the
// ownership record is read and written in one place.
func TestLayout(t *testing.T) {
	wiring := []string{"transformers/config", "transformers/krmerr", "transformers/plan", "transformers/selection", "transformers/workload"}
	for name, f := range productFiles(t, "../../fn") {
		if filepath.Base(name) != "process.go" {
			continue
		}
		for _, p := range projectImports(f) {
			if !slices.Contains(wiring, p) {
				t.Errorf("fn/process.go imports %s: it only wires %v", p, wiring)
			}
		}
	}
	for name, f := range productFiles(t, "../../transformers/podtemplate") {
		for _, p := range projectImports(f) {
			// ownership, plan and workload import podtemplate: the compiler's
			// import-cycle rule keeps podtemplate from importing them.
			if slices.Contains([]string{"transformers/injection", "transformers/operator", "transformers/scrapeconfig"}, p) {
				t.Errorf("%s imports %s: the pod template editor must not know its users", name, p)
			}
		}
	}
	calls := map[string][]string{}
	for _, dir := range []string{"../../fn", "../../transformers/workload", "../../transformers/plan", "../../transformers/podtemplate", "../../transformers/injection", "../../transformers/operator", "../../transformers/selection"} {
		for name, f := range productFiles(t, dir) {
			ast.Inspect(f, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					if x, ok := sel.X.(*ast.Ident); ok && x.Name == "ownership" && (sel.Sel.Name == "Read" || sel.Sel.Name == "Write") {
						calls[sel.Sel.Name] = append(calls[sel.Sel.Name], name)
					}
				}
				return true
			})
		}
	}
	for _, fn := range []string{"Read", "Write"} {
		if len(calls[fn]) != 1 {
			t.Errorf("ownership.%s is called from %v; once per run means one place", fn, calls[fn])
		}
	}
}
