// Package alloyconfig edits a Grafana Alloy configuration: beside each of the
// user's pod scrape pipelines (a prometheus.scrape whose targets come, directly or
// through discovery.relabel, from a discovery.kubernetes of role "pod") it adds
// a secure pipeline — a discovery.relabel keeping the sidecar pods and a
// prometheus.scrape over https with Istio's certificate files, forwarding where
// the user's scrape forwards — and gives the user's scrape a discovery.relabel
// that leaves those pods to it. The file is read with Grafana's own parser
// (github.com/grafana/alloy/syntax), what is added is built with its token
// builder, and the edit is written into the user's text at the parser's byte
// offsets: every line that is not the function's stays as it was, comments
// included. Which components are the function's is the ownership record's to
// say (scrapeconfig.Options.Owned, component IDs such as
// prometheus.scrape.istio_mtls_pods).
package alloyconfig

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/grafana/alloy/syntax/ast"
	"github.com/grafana/alloy/syntax/parser"
	"github.com/grafana/alloy/syntax/token"
	"github.com/grafana/alloy/syntax/token/builder"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/certs"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/scrapeconfig"
)

// Prefix starts the label of every component the function adds.
const Prefix = "istio_mtls_"

// component is a top-level block of the file.
type component struct {
	block      *ast.BlockStmt
	start, end int // byte offsets of the block in the text
}

// id is a component's ID as Alloy names it: name.label.
func id(b *ast.BlockStmt) string { return strings.Join(b.Name, ".") + "." + b.Label }

// file is a parsed configuration with its text: the components of its top
// level and those of each custom component's declare body, each body a scope of
// its own (a reference there names the body's components).
type file struct {
	text   string
	scopes []*scope
}

// scope is one body of components: the file's, or a declare block's.
type scope struct {
	prefix string // "" for the file; "declare.NAME." for a declare body
	comps  map[string]component
	order  []string // IDs in the order of the text
}

func parse(text string) (*file, error) {
	if err := checkNesting(text); err != nil {
		return nil, err
	}
	f, err := parser.ParseFile("config.alloy", []byte(text))
	if err != nil {
		return nil, krmerr.Errorf("", "is not a valid Alloy configuration: %v", err)
	}
	out := &file{text: text}
	out.add("", f.Body)
	return out, nil
}

func (f *file) add(prefix string, body ast.Body) {
	sc := &scope{prefix: prefix, comps: map[string]component{}}
	f.scopes = append(f.scopes, sc)
	for _, s := range body {
		b, ok := s.(*ast.BlockStmt)
		if !ok || b.Label == "" {
			continue
		}
		if strings.Join(b.Name, ".") == "declare" {
			f.add(prefix+"declare."+b.Label+".", b.Body)
			continue
		}
		sc.comps[id(b)] = component{b, ast.StartPos(b).Offset(), end(b)}
		sc.order = append(sc.order, id(b))
	}
}

// end is the offset just after node n (the parser's EndPos is its last byte).
func end(n ast.Node) int { return ast.EndPos(n).Offset() + 1 }

// attr is the value expression of attribute name in block b, and its text.
func (f *file) attr(b *ast.BlockStmt, name string) (ast.Expr, string) {
	for _, s := range b.Body {
		if a, ok := s.(*ast.AttributeStmt); ok && a.Name.Name == name {
			return a.Value, f.text[ast.StartPos(a.Value).Offset():end(a.Value)]
		}
	}
	return nil, ""
}

// sources are the components an expression reads exports of: each
// reference such as discovery.relabel.pods.output, also inside a call
// (array.concat(a.output, b.output)) or a list.
func sources(e ast.Expr) []string {
	var out []string
	ast.Walk(visitFunc(func(n ast.Node) bool {
		if a, ok := n.(*ast.AccessExpr); ok {
			if path := dotted(a); len(path) >= 4 {
				out = append(out, strings.Join(path[:len(path)-1], "."))
			}
			return false
		}
		return true
	}), e)
	return out
}

// dotted is an access chain of identifiers as its names (nil when it is not
// one).
func dotted(e ast.Expr) []string {
	switch x := e.(type) {
	case *ast.IdentifierExpr:
		return []string{x.Ident.Name}
	case *ast.AccessExpr:
		if head := dotted(x.Value); head != nil {
			return append(head, x.Name.Name)
		}
	}
	return nil
}

type visitFunc func(ast.Node) bool

func (v visitFunc) Visit(n ast.Node) ast.Visitor {
	if n == nil || !v(n) {
		return nil
	}
	return v
}

// pipeline is a prometheus.scrape of pods of the user's.
type pipeline struct {
	sc     *scope
	scrape string // its component ID in its scope
	label  string
	// targets is what the scrape read before the function: the text of its
	// targets, or of the targets of the function's plain relabel it reads now.
	targets string
}

// podSource tells whether expression e reads, through discovery.relabel
// components (and calls such as array.concat), from a discovery.kubernetes of
// role "pod".
func (f *file) podSource(sc *scope, e ast.Expr, depth int) bool {
	if depth > 16 {
		return false
	}
	for _, src := range sources(e) {
		c, ok := sc.comps[src]
		if !ok {
			continue
		}
		switch strings.Join(c.block.Name, ".") {
		case "discovery.kubernetes":
			if _, role := f.attr(c.block, "role"); role == `"pod"` {
				return true
			}
		case "discovery.relabel":
			if next, _ := f.attr(c.block, "targets"); next != nil && f.podSource(sc, next, depth+1) {
				return true
			}
		}
	}
	return false
}

func (f *file) pipelines(o scrapeconfig.Options) []pipeline {
	var out []pipeline
	for _, sc := range f.scopes {
		for _, cid := range sc.order {
			c := sc.comps[cid]
			if strings.Join(c.block.Name, ".") != "prometheus.scrape" || owns(o, sc.prefix+cid) || strings.HasPrefix(c.block.Label, Prefix) {
				continue
			}
			expr, targets := f.attr(c.block, "targets")
			if expr == nil {
				continue
			}
			if srcs := sources(expr); len(srcs) == 1 && owns(o, sc.prefix+srcs[0]) {
				if plain, ok := sc.comps[srcs[0]]; ok {
					expr, targets = f.attr(plain.block, "targets") // through the function's relabel
				}
			}
			if expr != nil && f.podSource(sc, expr, 0) {
				out = append(out, pipeline{sc: sc, scrape: cid, label: c.block.Label, targets: targets})
			}
		}
	}
	return out
}

func owns(o scrapeconfig.Options, cid string) bool { return slices.Contains(o.Owned, cid) }

// believed is the part of owned, the component IDs a record names, that the
// record is believed about: components whose label starts with Prefix, as
// every one the function writes does. A record naming a user's component
// (copied from another workload, edited by hand) must not make the function
// replace or delete it; those are returned apart.
func believed(owned []string) (kept, doubted []string) {
	for _, cid := range owned {
		if label := cid[strings.LastIndexByte(cid, '.')+1:]; strings.HasPrefix(label, Prefix) {
			kept = append(kept, cid)
		} else {
			doubted = append(doubted, cid)
		}
	}
	return kept, doubted
}

// indentAt is the indentation of the line offset at lies in.
func indentAt(doc string, at int) string {
	start := strings.LastIndexByte(doc[:at], '\n') + 1
	line := doc[start:at]
	return line[:len(line)-len(strings.TrimLeft(line, " \t"))]
}

// indented puts indent before every line of text but the first (and the
// empty ones).
func indented(text, indent string) string {
	lines := strings.Split(text, "\n")
	for i := 1; i < len(lines); i++ {
		if lines[i] != "" {
			lines[i] = indent + lines[i]
		}
	}
	return strings.Join(lines, "\n")
}

// edit is text to put in place of [start, end) of the original.
type edit struct {
	start, end int
	text       string
}

// Edit adds the secure pipelines (o.Remove: takes out what the record names,
// and gives the user's scrapes their targets back) and returns the new text.
func Edit(doc string, o scrapeconfig.Options) (string, scrapeconfig.Report, error) {
	var rep scrapeconfig.Report
	f, err := parse(doc)
	if err != nil {
		return "", rep, err
	}
	o.Owned, rep.Unbelieved = believed(o.Owned)
	pipes := f.pipelines(o)
	if len(pipes) == 0 && !o.Remove {
		return "", rep, krmerr.Errorf("", "has no prometheus.scrape of pods (targets from a discovery.kubernetes with role = \"pod\", directly or through discovery.relabel), so there is no pipeline to add the secure one beside; add one that forwards your pod metrics where they go: the function invents neither the scrape nor where it forwards")
	}
	var edits []edit
	want := map[string]string{} // by the component's ID in the record: scope prefix and ID
	for _, p := range pipes {
		blocks, err := f.secure(p, o)
		if err != nil {
			return "", rep, err
		}
		scrape := p.sc.comps[p.scrape]
		expr, targets := f.attr(scrape.block, "targets")
		newTargets := p.targets
		if !o.Remove {
			newTargets = "discovery.relabel." + Prefix + "plain_" + p.label + ".output"
			indent := indentAt(doc, scrape.start)
			var ids []string
			for cid, text := range blocks {
				blocks[cid] = indented(indentLike(doc, text), indent)
				want[p.sc.prefix+cid] = blocks[cid]
				ids = append(ids, cid)
			}
			sort.Strings(ids)
			var add []string
			for _, cid := range ids {
				if _, ok := p.sc.comps[cid]; !ok {
					add = append(add, blocks[cid])
				}
			}
			if len(add) > 0 {
				edits = append(edits, edit{scrape.end, scrape.end, "\n" + indent + strings.Join(add, "\n"+indent)})
			}
			rep.Jobs = append(rep.Jobs, p.sc.prefix+"prometheus.scrape."+Prefix+p.label)
			rep.Excluded = append(rep.Excluded, p.sc.prefix+p.scrape)
		} else if targets != newTargets {
			rep.Restored = append(rep.Restored, p.sc.prefix+p.scrape)
		}
		if targets != newTargets {
			edits = append(edits, edit{ast.StartPos(expr).Offset(), end(expr), newTargets})
		}
	}
	for _, sc := range f.scopes {
		for _, cid := range sc.order {
			c, rid := sc.comps[cid], sc.prefix+cid
			text, wanted := want[rid]
			switch {
			case !owns(o, rid) && !strings.HasPrefix(c.block.Label, Prefix):
				continue
			case !owns(o, rid) && wanted:
				return "", rep, krmerr.Errorf("", "a component %s exists that this function did not write; rename it (labels starting %s are the function's)", rid, Prefix)
			case !owns(o, rid):
				continue
			case wanted && doc[c.start:c.end] != text:
				edits = append(edits, edit{c.start, c.end, text})
			case !wanted:
				edits = append(edits, edit{lineBefore(doc, c.start), c.end, ""})
				rep.Removed = append(rep.Removed, rid)
			}
		}
	}
	for cid := range want {
		rep.Owned = append(rep.Owned, cid)
	}
	sort.Strings(rep.Owned)
	out := apply(doc, edits)
	if _, err := parser.ParseFile("config.alloy", []byte(out)); err != nil {
		return "", rep, krmerr.Errorf("", "the edited Alloy configuration does not parse (%v); nothing was written", err)
	}
	return out, rep, nil
}

// lineBefore extends a removal to the line break and indentation the function
// put before the component.
func lineBefore(doc string, start int) int {
	trimmed := strings.TrimRight(doc[:start], " \t")
	if strings.HasSuffix(trimmed, "\n") {
		return len(trimmed) - 1
	}
	return start
}

func apply(doc string, edits []edit) string {
	sort.SliceStable(edits, func(i, j int) bool { return edits[i].start > edits[j].start })
	for _, e := range edits {
		doc = doc[:e.start] + e.text + doc[e.end:]
	}
	return doc
}

// secure builds the function's components for pipeline p, by component ID: the
// relabel leaving sidecar pods out of the user's scrape, the relabel keeping
// them, and their scrape over https.
func (f *file) secure(p pipeline, o scrapeconfig.Options) (map[string]string, error) {
	scrape := p.sc.comps[p.scrape].block
	_, forward := f.attr(scrape, "forward_to")
	if forward == "" {
		return nil, krmerr.Errorf("", "%s (line %d) has no forward_to: the secure scrape forwards where it does, so it needs one (Alloy requires it too)", p.scrape, ast.StartPos(scrape).Position().Line)
	}
	plainLabel, secureLabel := Prefix+"plain_"+p.label, Prefix+"sidecars_"+p.label
	out := map[string]string{}

	plain := builder.NewBlock([]string{"discovery", "relabel"}, plainLabel)
	// A note for readers: what the user's scrape read before (the function reads
	// it from the expression, not from the note).
	plain.Body().SetAttributeTokens("targets", []builder.Token{{Tok: token.LITERAL, Lit: p.targets},
		{Tok: token.COMMENT, Lit: fmt.Sprintf("// what prometheus.scrape %q read; its sidecar pods go to %q", p.label, Prefix+p.label)}})
	addRules(plain.Body(), scrapeconfig.PlainRules(o))
	out["discovery.relabel."+plainLabel] = text(plain)

	keep := builder.NewBlock([]string{"discovery", "relabel"}, secureLabel)
	keep.Body().SetAttributeTokens("targets", []builder.Token{{Tok: token.LITERAL, Lit: p.targets},
		{Tok: token.COMMENT, Lit: fmt.Sprintf("// the same targets: the sidecar pods of them go to %q", Prefix+p.label)}})
	addRules(keep.Body(), scrapeconfig.SidecarRules())
	out["discovery.relabel."+secureLabel] = text(keep)

	sc := builder.NewBlock([]string{"prometheus", "scrape"}, Prefix+p.label)
	sc.Body().SetAttributeTokens("targets", raw("discovery.relabel."+secureLabel+".output"))
	sc.Body().SetAttributeTokens("forward_to", raw(forward))
	sc.Body().SetAttributeValue("job_name", o.JobName)
	for _, k := range scrapeconfig.Carried() {
		if _, v := f.attr(scrape, k); v != "" {
			sc.Body().SetAttributeTokens(k, raw(v))
		}
	}
	// Alloy's clustering shares the targets among the replicas: the secure
	// scrape shares them as the user's does, or every replica would scrape
	// every sidecar pod.
	for _, st := range scrape.Body {
		if b, ok := st.(*ast.BlockStmt); ok && strings.Join(b.Name, ".") == "clustering" {
			cl := builder.NewBlock([]string{"clustering"}, "")
			for _, a := range b.Body {
				if at, ok := a.(*ast.AttributeStmt); ok {
					cl.Body().SetAttributeTokens(at.Name.Name, raw(f.text[ast.StartPos(at.Value).Offset():end(at.Value)]))
				}
			}
			sc.Body().AppendBlock(cl)
		}
	}
	sc.Body().SetAttributeValue("scheme", "https")
	tls := builder.NewBlock([]string{"tls_config"}, "")
	ca, chain, key := certs.Paths(o.CertsDir)
	tls.Body().SetAttributeValue("ca_file", ca)
	tls.Body().SetAttributeValue("cert_file", chain)
	tls.Body().SetAttributeValue("key_file", key)
	tls.Body().SetAttributeValue("insecure_skip_verify", true)
	sc.Body().AppendBlock(tls)
	out["prometheus.scrape."+Prefix+p.label] = text(sc)
	return out, nil
}

// indentLike writes the tabs that start the lines of text (Alloy's formatter
// indents with tabs) as the user's file indents: with its first indented line's
// spaces, when it uses spaces.
func indentLike(doc, text string) string {
	unit := ""
	for _, l := range strings.Split(doc, "\n") {
		if t := strings.TrimLeft(l, " "); t != l && t != "" {
			unit = l[:len(l)-len(t)]
			break
		}
		if strings.HasPrefix(l, "\t") {
			return text
		}
	}
	if unit == "" {
		return text
	}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		t := strings.TrimLeft(l, "\t")
		lines[i] = strings.Repeat(unit, len(l)-len(t)) + t
	}
	return strings.Join(lines, "\n")
}

// raw is an expression written as the user wrote it (a reference, a list).
func raw(expr string) []builder.Token {
	return []builder.Token{{Tok: token.LITERAL, Lit: expr}}
}

// addRules appends a rule block for each relabel rule.
func addRules(b *builder.Body, rules []scrapeconfig.Rule) {
	for _, r := range rules {
		rb := builder.NewBlock([]string{"rule"}, "")
		if len(r.SourceLabels) > 0 {
			rb.Body().SetAttributeValue("source_labels", r.SourceLabels)
		}
		if r.Regex != "" {
			rb.Body().SetAttributeValue("regex", r.Regex)
		}
		if r.TargetLabel != "" {
			rb.Body().SetAttributeValue("target_label", r.TargetLabel)
		}
		if r.Replacement != nil {
			rb.Body().SetAttributeValue("replacement", *r.Replacement)
		}
		rb.Body().SetAttributeValue("action", r.Action)
		b.AppendBlock(rb)
	}
}

// text is a block as Alloy's formatter writes it, without its blank lines
// (the blank line before the block is the only one the function writes, so
// taking the block out again leaves every blank line of the user's).
func text(b *builder.Block) string {
	f := builder.NewFile()
	f.Body().AppendBlock(b)
	var lines []string
	for _, l := range strings.Split(string(bytes.TrimSpace(f.Bytes())), "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// Limits checked before Grafana's parser sees a configuration: it descends
// recursively, one Go stack frame per level of nesting, so a file nested a few
// hundred thousand deep exhausts the stack (a fatal error, not an error value).
//
// maxNesting is far above any configuration Alloy's documentation shows
// (blocks within blocks, a list of objects: under ten).
const maxNesting = 256

// checkNesting refuses a configuration nested past maxNesting (blocks, lists,
// objects, parentheses; string literals and comments skipped as Alloy's scanner
// skips them) or larger than any object the API server stores
// (scrapeconfig.MaxConfigSize).
func checkNesting(text string) error {
	if err := scrapeconfig.TooLarge(text); err != nil {
		return err
	}
	depth, line := 0, 1
	for i := 0; i < len(text); i++ {
		switch c := text[i]; c {
		case '\n':
			line++
		case '"':
			for i++; i < len(text) && text[i] != '"' && text[i] != '\n'; i++ {
				if text[i] == '\\' {
					i++
				}
			}
		case '`':
			for i++; i < len(text) && text[i] != '`'; i++ {
				if text[i] == '\n' {
					line++
				}
			}
		case '/':
			if i+1 < len(text) && text[i+1] == '/' {
				for i < len(text) && text[i] != '\n' {
					i++
				}
				i-- // the newline is counted above
			} else if i+1 < len(text) && text[i+1] == '*' {
				for i += 2; i+1 < len(text) && (text[i] != '*' || text[i+1] != '/'); i++ {
					if text[i] == '\n' {
						line++
					}
				}
				i++
			}
		case '{', '[', '(':
			if depth++; depth > maxNesting {
				return krmerr.Errorf("", "is nested more than %d deep at line %d (blocks, lists and objects within each other); no Alloy configuration needs that, and Alloy's parser would exhaust its stack on it", maxNesting, line)
			}
		case '}', ']', ')':
			depth--
		}
	}
	return nil
}
