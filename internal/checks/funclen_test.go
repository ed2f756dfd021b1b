package checks

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoLongFunctions keeps every function of the product code (fn/ and
// transformers/, tests aside) within 80 lines, so each reads as one step.
func TestNoLongFunctions(t *testing.T) {
	fset := token.NewFileSet()
	n := 0
	for _, root := range []string{"../../fn", "../../transformers"} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, p, nil, 0)
			if err != nil {
				return err
			}
			for _, decl := range f.Decls {
				if fd, ok := decl.(*ast.FuncDecl); ok {
					n++
					if lines := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1; lines > 80 {
						t.Errorf("%s: %s is %d lines (at most 80)", p, fd.Name.Name, lines)
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n < 100 {
		t.Fatalf("only %d functions found", n)
	}
}
