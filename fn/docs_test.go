package main

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// A runnable block of the docs: a ```sh block right after a marker
//
//	<!-- runnable: NAME -->        the block must exit 0
//	<!-- runnable: NAME fails -->  the block must exit non-zero (an error users should see)
//
// in README.md or a page of docs/. Every such block runs in `make test`: the client tests run
// theirs by name (runDoc) and check what they print; TestDocBlocks runs every other one.
type docBlock struct {
	file   string // relative to the repository root
	line   int
	name   string
	fails  bool
	script string
}

var (
	docMarkerRE = regexp.MustCompile(`<!-- runnable:[^>]*-->`)
	docBlockRE  = regexp.MustCompile("(?s)<!-- runnable: ([a-z0-9-]+)( fails)? -->[ \t]*\n```sh\n(.*?)```")
)

// docFiles lists README.md and every page of docs/, relative to root.
func docFiles(root string) ([]string, error) {
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		return nil, err
	}
	files := []string{"README.md"}
	for _, p := range pages {
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return nil, err
		}
		files = append(files, rel)
	}
	return files, nil
}

// parseDocBlocks reads the runnable blocks of files (relative to root). A marker that is
// not followed by a sh block, or a name used twice, is an error: either would let a
// documented command go unrun.
func parseDocBlocks(root string, files []string) ([]docBlock, error) {
	var out []docBlock
	seen := map[string]string{}
	var errs []error
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			return nil, err
		}
		text := string(b)
		// Markers inside inline code (`<!-- runnable: NAME -->` in prose) are not markers.
		markers := 0
		for _, loc := range docMarkerRE.FindAllStringIndex(text, -1) {
			if loc[0] > 0 && text[loc[0]-1] == '`' {
				continue
			}
			markers++
		}
		matches := docBlockRE.FindAllStringSubmatchIndex(text, -1)
		if len(matches) != markers {
			errs = append(errs, fmt.Errorf("%s: %d runnable markers but %d are followed by a ```sh block (write the block on the line after its marker)", f, markers, len(matches)))
		}
		for _, m := range matches {
			blk := docBlock{
				file:   f,
				line:   1 + strings.Count(text[:m[0]], "\n"),
				name:   text[m[2]:m[3]],
				fails:  m[4] >= 0,
				script: text[m[6]:m[7]],
			}
			where := fmt.Sprintf("%s:%d", f, blk.line)
			if prev, ok := seen[blk.name]; ok {
				errs = append(errs, fmt.Errorf("%s: runnable block %q is also at %s: names are unique", where, blk.name, prev))
			}
			seen[blk.name] = where
			out = append(out, blk)
		}
	}
	return out, errors.Join(errs...)
}

// allDocBlocks reads the repository's runnable blocks.
func allDocBlocks(t *testing.T) []docBlock {
	t.Helper()
	files, err := docFiles("..")
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseDocBlocks("..", files)
	if err != nil {
		t.Fatal(err)
	}
	return blocks
}

// docCommand returns the text of the runnable block name.
func docCommand(t *testing.T, name string) string {
	t.Helper()
	for _, b := range allDocBlocks(t) {
		if b.name == name {
			return b.script
		}
	}
	t.Fatalf("no block of README.md or docs/ is marked runnable: %s", name)
	return ""
}

// blocksRunByName lists the block names the tests of this package run through
// runDoc or docCommand with a literal name, read from their source.
func blocksRunByName(t *testing.T) map[string]bool {
	t.Helper()
	names, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, n := range names {
		f, err := parser.ParseFile(token.NewFileSet(), n, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(node ast.Node) bool {
			call, ok := node.(*ast.CallExpr)
			if !ok || len(call.Args) < 2 {
				return true
			}
			if id, ok := call.Fun.(*ast.Ident); !ok || (id.Name != "runDoc" && id.Name != "docCommand") {
				return true
			}
			if lit, ok := call.Args[1].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil {
					out[s] = true
				}
			}
			return true
		})
	}
	return out
}

// checkBlock runs b and says how its exit differs from what its marker promises.
func checkBlock(t *testing.T, b docBlock) error {
	t.Helper()
	stdout, stderr, err := runScript(t, b.script)
	var exit *exec.ExitError
	switch {
	case err != nil && !errors.As(err, &exit):
		return fmt.Errorf("%s:%d %s: could not run: %v", b.file, b.line, b.name, err)
	case err == nil && b.fails:
		return fmt.Errorf("%s:%d %s: marked `fails` but exited 0:\n%s", b.file, b.line, b.name, stdout)
	case err != nil && !b.fails:
		return fmt.Errorf("%s:%d %s: %v\nstderr:\n%s\nstdout:\n%s", b.file, b.line, b.name, err, stderr, stdout)
	case !b.fails && strings.TrimSpace(stdout) == "":
		return fmt.Errorf("%s:%d %s: printed nothing", b.file, b.line, b.name)
	}
	return nil
}

// TestDocBlocks runs every runnable block of README.md and docs/ that no client test
// runs by name, and fails on a block whose exit is not what its marker says.
func TestDocBlocks(t *testing.T) {
	t.Parallel()
	byName := blocksRunByName(t)
	blocks := allDocBlocks(t)
	found := map[string]bool{}
	for _, b := range blocks {
		found[b.name] = true
	}
	for name := range byName {
		if !found[name] {
			t.Errorf("a test runs the runnable block %q, which no page has", name)
		}
	}
	ran := 0
	for _, b := range blocks {
		if byName[b.name] {
			continue
		}
		ran++
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			if err := checkBlock(t, b); err != nil {
				t.Error(err)
			}
		})
	}
	if ran == 0 {
		t.Error("no runnable block left for TestDocBlocks: the marker or the parser is broken")
	}
}

// TestDocBlocksCatchBreakage: a broken block, a block marked `fails` that succeeds, a
// marker without its block and a name used twice are each caught.
func TestDocBlocksCatchBreakage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	page := func(name, text string) string {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return name
	}
	ok := docBlock{file: "x.md", name: "ok", script: "kustomize build examples/kustomize/base\n"}
	if err := checkBlock(t, ok); err != nil {
		t.Fatalf("the control block fails: %v", err)
	}
	broken := ok
	broken.script = "kustomize build examples/kustomize/bsae\n"
	if err := checkBlock(t, broken); err == nil {
		t.Error("a block naming a missing directory passed")
	}
	wrongFails := ok
	wrongFails.fails = true
	if err := checkBlock(t, wrongFails); err == nil {
		t.Error("a block marked `fails` that exits 0 passed")
	}
	blocks, err := parseDocBlocks(dir, []string{page("a.md", "<!-- runnable: a -->\n```sh\ntrue\n```\n<!-- runnable: b fails -->\n```sh\nfalse\n```\n")})
	if err != nil || len(blocks) != 2 || blocks[1].name != "b" || !blocks[1].fails || blocks[0].line != 1 || blocks[1].line != 5 {
		t.Errorf("two blocks read as %+v, %v", blocks, err)
	}
	for what, text := range map[string]string{
		"a marker with a yaml block": "<!-- runnable: c -->\n```yaml\na: b\n```\n",
		"a marker with text between": "<!-- runnable: c -->\nsay it\n```sh\ntrue\n```\n",
		"a name used twice":          "<!-- runnable: c -->\n```sh\ntrue\n```\n<!-- runnable: c -->\n```sh\ntrue\n```\n",
	} {
		if _, err := parseDocBlocks(dir, []string{page("c.md", text)}); err == nil {
			t.Errorf("%s is not an error", what)
		}
	}
	if _, err := parseDocBlocks(dir, []string{page("d.md", "Mark a block with `<!-- runnable: NAME -->`.\n")}); err != nil {
		t.Errorf("a marker quoted in prose: %v", err)
	}
}

// TestDocLinks: every relative link of README.md and docs/ names a file of the
// repository, and every #anchor a heading of its page.
func TestDocLinks(t *testing.T) {
	t.Parallel()
	files, err := docFiles("..")
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join("..", f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(stripFences(string(b)), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, anchor, _ := strings.Cut(target, "#")
			page := f
			if path != "" {
				page = filepath.Join(filepath.Dir(f), path)
				if _, err := os.Stat(filepath.Join("..", page)); err != nil {
					t.Errorf("%s links to %s, which does not exist", f, target)
					continue
				}
			}
			if anchor != "" && strings.HasSuffix(page, ".md") && !slices.Contains(anchors(t, page), anchor) {
				t.Errorf("%s links to %s: %s has no heading with that anchor", f, target, page)
			}
		}
	}
}

// stripFences drops fenced code blocks, whose text is not markdown.
func stripFences(s string) string {
	var out []string
	in := false
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "```") {
			in = !in
			continue
		}
		if !in {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// anchors returns the anchors GitHub makes of a page's headings.
func anchors(t *testing.T, page string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", page))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(stripFences(string(b)), "\n") {
		h, ok := strings.CutPrefix(strings.TrimLeft(l, "#"), " ")
		if !ok || !strings.HasPrefix(l, "#") {
			continue
		}
		var a strings.Builder
		for _, r := range strings.ToLower(h) {
			switch {
			case r == ' ':
				a.WriteRune('-')
			case r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9'):
				a.WriteRune(r)
			}
		}
		out = append(out, a.String())
	}
	return out
}
