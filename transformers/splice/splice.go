// Package splice writes an edited YAML tree back into the text it was parsed
// from, line by line, so that a reader (helm diff, git diff, a reviewer) sees only
// what the edit changed: every line of the text that holds a node the edit left
// alone comes back byte for byte — its indentation, quoting, blank lines, trailing
// spaces and comments.
//
// Patch compares the tree parsed from the text with the edited tree, node by
// node. A mapping keeps its keys' lines and gets the pairs the edit added after
// the pair they follow; a list keeps its elements (matched as they were, or by a
// Kubernetes merge key such as name) and gets new elements at their place; a
// scalar whose value changed is rewritten in its token; a literal block (a
// ConfigMap's prometheus.yml) is rewritten line by line. Only what cannot be
// edited that way (flow style, anchors, a key moved) is rendered again, and only
// that pair or element. The result is kept only when it parses to the edited tree
// with the edited comments, none lost and none doubled; otherwise Patch says so
// and the caller renders the whole document.
package splice

import (
	"bytes"
	"slices"
	"strings"
	"unicode"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/yamlnode"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Patch returns text with the edit that turned before into after applied to it.
// before must be the tree parsed from text (its positions are read), a mapping
// or a list; after is the edited tree, a copy of before changed in place or
// built anew. ok is false when the edit cannot be written into the text with its
// result proven.
func Patch(text string, before, after *yaml.Node) (string, bool) {
	if crlf(text) {
		// Lines ending in CRLF (a file from Windows): patched as LF lines (the
		// nodes' positions are the same), and every line ends in CRLF again,
		// the lines put in too.
		out, ok := Patch(strings.ReplaceAll(text, "\r\n", "\n"), before, after)
		return KeepLineEndings(text, out), ok
	}
	before, after = unwrap(before), unwrap(after)
	if before == nil || after == nil || before.Kind != after.Kind ||
		before.Kind != yaml.MappingNode && before.Kind != yaml.SequenceNode {
		return "", false
	}
	if yamlnode.Identical(before, after) {
		return text, true
	}
	lines := strings.SplitAfter(text, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	p := &patcher{lines: lines, seqIndent: yaml.DeriveSeqIndentStyle(text)}
	if before.Style&yaml.FlowStyle != 0 || !p.node(before, after, len(lines)) {
		return "", false
	}
	out, ok := p.apply()
	if !ok {
		return "", false
	}
	if !strings.HasSuffix(text, "\n") {
		out = strings.TrimSuffix(out, "\n")
	}
	check, err := yaml.Parse(out)
	if err != nil || !yamlnode.SameContent(check.YNode(), after) || !keptComments(check.YNode(), before, after) {
		return "", false
	}
	return out, true
}

func unwrap(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	return n
}

// patcher collects line operations on the text; nothing is written until all
// of them are known.
type patcher struct {
	lines     []string // each with its "\n", but perhaps the last
	ops       []op
	seqIndent string
	rendered  map[uint64][]rendered // by fingerprint
}

type opKind int

const (
	dropLine     opKind = iota // leave line out
	insertBefore               // put text before line (len(lines): at the end)
	replaceLine                // write text instead of line
)

type op struct {
	kind opKind
	line int
	text string
}

func (p *patcher) drop(from, to int) {
	for l := from; l <= to; l++ {
		p.ops = append(p.ops, op{dropLine, l, ""})
	}
}

func (p *patcher) insert(at int, text string) { p.ops = append(p.ops, op{insertBefore, at, text}) }

// put renders n (a one-pair mapping or a one-element list) at column col and
// puts it before line at, in place of lines at..to (none when to < at).
func (p *patcher) put(at, to int, n *yaml.Node, col int) bool {
	text, err := p.render(n, col)
	if err != nil {
		return false
	}
	p.drop(at, to)
	p.insert(at, text)
	return true
}

// apply writes the text with the operations done, in their order; two edits of
// one line are a conflict.
func (p *patcher) apply() (string, bool) {
	drop := make([]bool, len(p.lines))
	replace := map[int]string{}
	before := map[int][]string{}
	for _, o := range p.ops {
		switch o.kind {
		case dropLine:
			if _, r := replace[o.line]; r || drop[o.line] {
				return "", false
			}
			drop[o.line] = true
		case replaceLine:
			if _, r := replace[o.line]; r || drop[o.line] {
				return "", false
			}
			replace[o.line] = o.text
		case insertBefore:
			before[o.line] = append(before[o.line], o.text)
		}
	}
	var b strings.Builder
	for i := 0; i <= len(p.lines); i++ {
		for _, t := range before[i] {
			// The line before an insertion may be the text's last, without "\n".
			if s := b.String(); s != "" && !strings.HasSuffix(s, "\n") {
				b.WriteString("\n")
			}
			b.WriteString(t)
		}
		if i == len(p.lines) || drop[i] {
			continue
		}
		if r, ok := replace[i]; ok {
			b.WriteString(r)
		} else {
			b.WriteString(p.lines[i])
		}
	}
	return b.String(), true
}

// node writes the edit of b (whose text ends before line limit) into a. It
// reports false, with nothing recorded, when b has to be rendered again whole by
// whoever holds it.
func (p *patcher) node(b, a *yaml.Node, limit int) bool {
	if same(b, a) {
		return true
	}
	if b.Kind != a.Kind || b.Anchor != "" || a.Anchor != "" || b.Style&yaml.TaggedStyle != 0 ||
		b.HeadComment != a.HeadComment || b.LineComment != a.LineComment || b.FootComment != a.FootComment {
		return false
	}
	save := len(p.ops)
	var ok bool
	switch b.Kind {
	case yaml.MappingNode:
		ok = b.Style&yaml.FlowStyle == 0 && a.Style&yaml.FlowStyle == 0 && p.mapping(b, a, limit)
	case yaml.SequenceNode:
		ok = b.Style&yaml.FlowStyle == 0 && a.Style&yaml.FlowStyle == 0 && p.sequence(b, a, limit)
	case yaml.ScalarNode:
		ok = p.scalar(b, a, limit)
	}
	if !ok {
		p.ops = p.ops[:save]
	}
	return ok
}

// mapping keeps b's pairs in place, edits the values that changed, drops the
// pairs the edit removed and puts the new ones after the pair they follow.
func (p *patcher) mapping(b, a *yaml.Node, limit int) bool {
	// An edit that empties a mapping is written {} by whoever renders it:
	// dropping every pair would leave a null.
	if len(b.Content) == 0 || len(a.Content) == 0 {
		return false
	}
	bIndex, ok := keyIndex(b)
	if !ok {
		return false
	}
	aIndex, ok := keyIndex(a)
	if !ok {
		return false
	}
	col := b.Content[0].Column - 1
	pairs := len(b.Content) / 2
	// end[i] is where pair i's text stops: the next pair's key, or limit.
	end := make([]int, pairs)
	for i := range pairs {
		end[i] = limit
		if i+1 < pairs {
			end[i] = b.Content[2*i+2].Line - 1
		}
	}
	span := func(i int) (int, int, bool) {
		return p.span(b.Content[2*i], b.Content[2*i].Line-1, end[i], col)
	}
	for i := range pairs {
		if _, kept := aIndex[b.Content[2*i].Value]; !kept {
			from, to, ok := span(i)
			if !ok {
				return false
			}
			p.drop(from, to)
		}
	}
	last := -1 // b's pair before the next insertion
	for k := 0; k+1 < len(a.Content); k += 2 {
		ak, av := a.Content[k], a.Content[k+1]
		j, common := bIndex[ak.Value]
		if !common {
			at := 0
			if last >= 0 {
				_, to, _ := p.span(b.Content[2*last], b.Content[2*last].Line-1, end[last], -1)
				at = to + 1
			} else if from, _, ok := span(0); ok {
				at = from
			} else {
				return false
			}
			if !p.put(at, -1, &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{ak, av}}, col) {
				return false
			}
			continue
		}
		if j < last {
			return false // the edit moved a key
		}
		last = j
		bk, bv := b.Content[2*j], b.Content[2*j+1]
		if yamlnode.Identical(bk, ak) && p.node(bv, av, end[j]) {
			continue
		}
		from, to, ok := span(j)
		if !ok || !p.put(from, to, &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{ak, av}}, col) {
			return false
		}
	}
	return true
}

// keyIndex maps each key of a mapping to its pair's index; ok is false for a key
// that is not a plain string, or a key written twice.
func keyIndex(m *yaml.Node) (map[string]int, bool) {
	ix := make(map[string]int, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if k.Kind != yaml.ScalarNode || k.Anchor != "" || k.Tag == "!!merge" || k.Value == "<<" {
			return nil, false
		}
		if _, dup := ix[k.Value]; dup {
			return nil, false
		}
		ix[k.Value] = i / 2
	}
	return ix, true
}

// span is the lines of a pair or element, 0-based and inclusive: the comment
// lines above it that belong to head (its head comment), its first line, and
// every line up to the last that is neither blank nor a comment before end. With
// col >= 0 the first line must start at col: a pair whose key shares its line
// with a list's dash cannot be cut or replaced alone.
func (p *patcher) span(head *yaml.Node, start, end, col int) (from, to int, ok bool) {
	if start < 0 || start >= len(p.lines) || end > len(p.lines) {
		return 0, 0, false
	}
	if col >= 0 && indentOf(p.lines[start]) != col {
		return 0, 0, false
	}
	from = start
	for n := commentLines(head); n > 0 && from > 0 && isComment(p.lines[from-1]); n-- {
		from--
	}
	to = start
	for l := start + 1; l < end; l++ {
		if !isBlank(p.lines[l]) && !isComment(p.lines[l]) {
			to = l
		}
	}
	return from, to, true
}

// commentLines counts the comment lines written above a node: its head comment,
// or that of its first child (where the parser hangs the comment above "- name:").
func commentLines(n *yaml.Node) int {
	c := n.HeadComment
	if c == "" && len(n.Content) > 0 {
		c = n.Content[0].HeadComment
	}
	count := 0
	for _, l := range strings.Split(c, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			count++
		}
	}
	return count
}

// sequence keeps b's elements in place, edits the ones that changed, drops the
// ones the edit removed and puts the new ones after the element they follow.
func (p *patcher) sequence(b, a *yaml.Node, limit int) bool {
	// An edit that empties a list is written [] by whoever renders it:
	// dropping every element would leave a null.
	if len(b.Content) == 0 || len(a.Content) == 0 {
		return false
	}
	dash, ok := p.dashColumn(b.Content[0])
	if !ok {
		return false
	}
	for _, e := range b.Content[1:] {
		if d, ok := p.dashColumn(e); !ok || d != dash {
			return false
		}
	}
	partner, ok := align(b.Content, a.Content)
	if !ok {
		return false
	}
	end := make([]int, len(b.Content))
	for i := range b.Content {
		end[i] = limit
		if i+1 < len(b.Content) {
			end[i] = b.Content[i+1].Line - 1
		}
	}
	span := func(i int) (int, int) {
		from, to, _ := p.span(b.Content[i], b.Content[i].Line-1, end[i], -1)
		return from, to
	}
	paired := make([]bool, len(b.Content))
	for _, j := range partner {
		if j >= 0 {
			paired[j] = true
		}
	}
	for i := range b.Content {
		if !paired[i] {
			p.drop(span(i))
		}
	}
	last := -1
	for k, ae := range a.Content {
		j := partner[k]
		if j < 0 {
			at := 0
			if last >= 0 {
				_, to := span(last)
				at = to + 1
			} else {
				at, _ = span(0)
			}
			if !p.put(at, -1, &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{ae}}, dash) {
				return false
			}
			continue
		}
		last = j
		if p.node(b.Content[j], ae, end[j]) {
			continue
		}
		if from, to := span(j); !p.put(from, to, &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{ae}}, dash) {
			return false
		}
	}
	return true
}

// dashColumn is the column of the "- " that starts element e, which must be on
// the element's first line.
func (p *patcher) dashColumn(e *yaml.Node) (int, bool) {
	if e.Line < 1 || e.Line > len(p.lines) {
		return 0, false
	}
	l := p.lines[e.Line-1]
	col := indentOf(l)
	if !strings.HasPrefix(l[col:], "- ") || e.Column-1 <= col {
		return 0, false
	}
	return col, true
}

// align pairs each element of a (the edited list) with the element of b it
// continues, or -1 for an element the edit added. Elements left as they were
// are matched first (a shortest edit script); between two of those, an element
// is paired with one of the same merge key, or, one for one, with the only
// element there of its kind.
func align(b, a []*yaml.Node) ([]int, bool) {
	// A fingerprint of each element's content first: the script compares
	// elements O((N+M)D) times.
	fa, fb := fingerprints(a), fingerprints(b)
	kept, ok := match(len(a), len(b), func(i, j int) bool { return fa[i] == fb[j] && same(a[i], b[j]) })
	if !ok {
		return nil, false
	}
	partner := append([]int(nil), kept...)
	pi, pj := 0, 0 // the gap's start in a and in b
	for i := 0; i <= len(a); i++ {
		if i < len(a) && kept[i] < 0 {
			continue
		}
		gj := len(b)
		if i < len(a) {
			gj = kept[i]
		}
		pairGap(a[pi:i], b[pj:gj], func(x, y int) { partner[pi+x] = pj + y })
		if i < len(a) {
			pi, pj = i+1, kept[i]+1
		}
	}
	return partner, true
}

// fingerprints hashes each node's content as SameContent compares it: kinds,
// resolved tags and values, not style, comments or positions.
func fingerprints(nodes []*yaml.Node) []uint64 {
	out := make([]uint64, len(nodes))
	for i, n := range nodes {
		out[i] = fingerprint(fnvOffset, n)
	}
	return out
}

// FNV-1a, 64 bits, written out: hash/fnv would copy every string it is given.
const (
	fnvOffset uint64 = 14695981039346656037
	fnvPrime  uint64 = 1099511628211
)

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return (h ^ 0xff) * fnvPrime // a separator: "ab","c" is not "a","bc"
}

func fingerprint(h uint64, n *yaml.Node) uint64 {
	h = (h ^ uint64(n.Kind)) * fnvPrime
	h = (h ^ uint64(len(n.Content))) * fnvPrime
	if n.Kind == yaml.ScalarNode {
		h = fnvString(h, n.ShortTag())
	}
	h = fnvString(h, n.Value)
	if n.Kind == yaml.AliasNode {
		return h // compared by the anchor it names (Value), as SameContent does
	}
	for _, c := range n.Content {
		h = fingerprint(h, c)
	}
	return h
}

// maxEdits bounds the edit scripts match looks for: a larger change of one list
// or one block is rendered again instead.
const maxEdits = 1000

// match finds a shortest edit script turning a list of n elements into one of m
// (Myers' O(ND) algorithm; eq(i, j) compares the first's element i with the
// second's element j) and returns, for each element of the first, the element
// of the second it is kept as, or -1 for one the script removes. ok is false past
// maxEdits insertions and removals.
func match(n, m int, eq func(i, j int) bool) ([]int, bool) {
	out := make([]int, n)
	for i := range out {
		out[i] = -1
	}
	lo := 0
	for lo < n && lo < m && eq(lo, lo) {
		out[lo] = lo
		lo++
	}
	hiA, hiB := n, m
	for hiA > lo && hiB > lo && eq(hiA-1, hiB-1) {
		hiA, hiB = hiA-1, hiB-1
		out[hiA] = hiB
	}
	N, M := hiA-lo, hiB-lo
	if N == 0 || M == 0 {
		return out, true
	}
	off := N + M + 1
	v := make([]int, 2*off+1) // v[off+k]: the furthest x on diagonal k
	var trace [][]int         // trace[d]: v[off-d .. off+d] before step d
	for d := 0; d <= N+M; d++ {
		if d > maxEdits {
			return nil, false
		}
		trace = append(trace, append([]int(nil), v[off-d:off+d+1]...))
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1]
			} else {
				x = v[off+k-1] + 1
			}
			y := x - k
			for x < N && y < M && eq(lo+x, lo+y) {
				x, y = x+1, y+1
			}
			v[off+k] = x
			if x < N || y < M {
				continue
			}
			// Walk the script back from the end, marking the diagonals.
			for d := d; ; d-- {
				k := x - y
				prevX, prevY := 0, 0
				if d > 0 {
					at := func(k int) int { return trace[d][k+d] }
					prevK := k - 1
					if k == -d || (k != d && at(k-1) < at(k+1)) {
						prevK = k + 1
					}
					prevX = at(prevK)
					prevY = prevX - prevK
				}
				for x > prevX && y > prevY {
					x, y = x-1, y-1
					out[lo+x] = lo + y
				}
				if d == 0 {
					return out, true
				}
				x, y = prevX, prevY
			}
		}
	}
	return out, true
}

// crlf: every line break of text is CRLF (and there is one).
func crlf(text string) bool {
	n := strings.Count(text, "\n")
	return n > 0 && strings.Count(text, "\r\n") == n
}

// KeepLineEndings gives out the line endings of original: CRLF when every line
// break of original is one, otherwise out as it is.
func KeepLineEndings(original, out string) string {
	if !crlf(original) || crlf(out) {
		return out
	}
	return strings.ReplaceAll(strings.ReplaceAll(out, "\r\n", "\n"), "\n", "\r\n")
}

// mergeKeys name the field that identifies an element of a list, as Kubernetes'
// strategic merge does (containers, volumes, env, ports by name; mounts by
// path) and Prometheus does for scrape jobs.
var mergeKeys = []string{"name", "job_name", "mountPath", "containerPort"}

// pairGap pairs the elements of a run of a with those of the run of b they
// replace: by merge key, in order; or a single element with a single element of
// the same kind.
func pairGap(a, b []*yaml.Node, pair func(x, y int)) {
	if len(a) == 1 && len(b) == 1 && a[0].Kind == b[0].Kind {
		pair(0, 0)
		return
	}
	next := 0
	for x, e := range a {
		for y := next; y < len(b); y++ {
			if sameMergeKey(e, b[y]) {
				pair(x, y)
				next = y + 1
				break
			}
		}
	}
}

func sameMergeKey(a, b *yaml.Node) bool {
	if a.Kind != yaml.MappingNode || b.Kind != yaml.MappingNode {
		return false
	}
	for _, k := range mergeKeys {
		av, bv := yamlnode.Field(a, k), yamlnode.Field(b, k)
		if av != nil && bv != nil {
			return av.Kind == yaml.ScalarNode && bv.Kind == yaml.ScalarNode && av.Value == bv.Value
		}
	}
	return false
}

// scalar rewrites the token of a one-line plain or quoted scalar, or the lines
// of a literal block, with a's value.
func (p *patcher) scalar(b, a *yaml.Node, limit int) bool {
	if b.Style&yaml.LiteralStyle != 0 {
		return p.literal(b, a, limit)
	}
	if b.Style&yaml.FoldedStyle != 0 || a.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 || a.Style&yaml.TaggedStyle != 0 {
		return false
	}
	if b.Line < 1 || b.Line > len(p.lines) {
		return false
	}
	line := p.lines[b.Line-1]
	start := b.Column - 1
	stop, ok := tokenEnd(line, start, b)
	if !ok {
		return false
	}
	tok, ok := oneLine(a)
	if !ok {
		return false
	}
	p.ops = append(p.ops, op{replaceLine, b.Line - 1, line[:start] + tok + line[stop:]})
	return true
}

// tokenEnd is where the text of scalar b, starting at start on line, ends; ok is
// false when it does not end on that line.
func tokenEnd(line string, start int, b *yaml.Node) (int, bool) {
	if start < 0 || start >= len(line) {
		return 0, false
	}
	body := strings.TrimRight(line, "\r\n")
	switch {
	case b.Style&yaml.DoubleQuotedStyle != 0:
		for i := start + 1; i < len(body); i++ {
			switch body[i] {
			case '\\':
				i++
			case '"':
				return i + 1, true
			}
		}
	case b.Style&yaml.SingleQuotedStyle != 0:
		for i := start + 1; i < len(body); i++ {
			if body[i] == '\'' {
				if i+1 < len(body) && body[i+1] == '\'' {
					i++
					continue
				}
				return i + 1, true
			}
		}
	default:
		rest := body[start:]
		if i := strings.Index(rest, " #"); i >= 0 {
			rest = rest[:i]
		}
		if i := strings.Index(rest, "\t#"); i >= 0 {
			rest = rest[:i]
		}
		rest = strings.TrimRight(rest, " \t")
		// A plain scalar that goes on below this line reads differently.
		if rest != b.Value {
			return 0, false
		}
		return start + len(rest), true
	}
	return 0, false
}

// oneLine is the text of scalar n as the encoder writes it, when that is one line.
func oneLine(n *yaml.Node) (string, bool) {
	c := *n
	c.HeadComment, c.LineComment, c.FootComment = "", "", ""
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if err := enc.Encode(&c); err != nil {
		return "", false
	}
	s := strings.TrimSuffix(buf.String(), "\n")
	if s == "" || strings.ContainsAny(s, "\n") || s[0] == '|' || s[0] == '>' {
		return "", false
	}
	return s, true
}

// literal rewrites the content lines of a literal block scalar ("key: |") that
// the edit changed, keeping the others and the block's indentation; the header's
// chomping follows the new value's final line break.
func (p *patcher) literal(b, a *yaml.Node, limit int) bool {
	blk, ok := p.readBlock(b, limit)
	if !ok {
		return false
	}
	newChomp, newLines, ok := literalLines(a.Value)
	if !ok {
		return false
	}
	if newChomp != blk.chomp {
		hd := p.lines[blk.header]
		p.ops = append(p.ops, op{replaceLine, blk.header, hd[:blk.bar] + "|" + newChomp + hd[blk.bar+1+len(blk.chomp):]})
	}
	kept, ok := match(len(blk.lines), len(newLines), func(i, j int) bool { return blk.lines[i] == newLines[j] })
	if !ok {
		return false
	}
	first := blk.header + 1
	write := func(at int, from, to int) {
		if from >= to {
			return
		}
		var t strings.Builder
		for _, l := range newLines[from:to] {
			if l != "" {
				t.WriteString(blk.indent)
				t.WriteString(l)
			}
			t.WriteString("\n")
		}
		p.insert(first+at, t.String())
	}
	j := 0
	for i := range blk.lines {
		if kept[i] < 0 {
			p.drop(first+i, first+i)
			continue
		}
		write(i, j, kept[i])
		j = kept[i] + 1
	}
	write(len(blk.lines), j, len(newLines))
	return true
}

// block is a literal block scalar as written: its header line, the column of
// its "|", its chomping ("" or "-"), the indentation of its content and the
// value's lines.
type block struct {
	header, bar   int
	chomp, indent string
	lines         []string
}

// readBlock reads the layout of literal scalar b, whose text ends before line
// limit; ok is false for a layout it does not read ("|+", an indentation
// indicator, content that is not b's value line for line).
func (p *patcher) readBlock(b *yaml.Node, limit int) (block, bool) {
	blk := block{header: b.Line - 1, bar: b.Column - 1}
	if blk.header < 0 || blk.header >= len(p.lines) || limit > len(p.lines) {
		return blk, false
	}
	hd := p.lines[blk.header]
	if blk.bar < 0 || blk.bar >= len(hd) || hd[blk.bar] != '|' {
		return blk, false
	}
	if blk.bar+1 < len(hd) && hd[blk.bar+1] == '-' {
		blk.chomp = "-"
	}
	if rest := strings.TrimSpace(strings.TrimRight(hd[blk.bar+1+len(blk.chomp):], "\r\n")); rest != "" && rest[0] != '#' {
		return blk, false
	}
	old := b.Value
	if blk.chomp == "" {
		if !strings.HasSuffix(old, "\n") {
			return blk, false
		}
		old = old[:len(old)-1]
	}
	blk.lines = strings.Split(old, "\n")
	last := blk.header + len(blk.lines) // the block's last content line
	if last >= limit || last >= len(p.lines) {
		return blk, false
	}
	content := p.lines[blk.header+1 : last+1]
	for _, l := range content {
		if !isBlank(l) {
			blk.indent = indent(l)
			break
		}
	}
	if blk.indent == "" {
		return blk, false
	}
	for i, v := range blk.lines {
		l := strings.TrimRight(content[i], "\n")
		if !(v == "" && isBlank(l)) && l != blk.indent+v {
			return blk, false
		}
	}
	return blk, true
}

// literalLines is a value as a literal block holds it: its chomping and lines;
// ok is false for a value a plain "|" or "|-" block cannot hold.
func literalLines(val string) (chomp string, lines []string, ok bool) {
	chomp = "-"
	if strings.HasSuffix(val, "\n") {
		chomp, val = "", val[:len(val)-1]
	}
	if val == "" || strings.HasSuffix(val, "\n") || strings.HasPrefix(val, " ") || strings.HasPrefix(val, "\t") {
		return "", nil, false
	}
	for _, r := range val {
		if r != '\n' && r != '\t' && !unicode.IsPrint(r) {
			return "", nil, false
		}
	}
	return chomp, strings.Split(val, "\n"), true
}

// render writes n (a one-pair mapping or a one-element list) as the encoder
// does, with the text's indentation of lists, its lines indented by col.
func (p *patcher) render(n *yaml.Node, col int) (string, error) {
	// The same element often goes into many lists (a rule into every job).
	key := fingerprint(fnvOffset, n)
	for _, r := range p.rendered[key] {
		if yamlnode.Identical(r.node, n) {
			return indentLines(r.text, col), nil
		}
	}
	text, err := p.encode(n)
	if err != nil {
		return "", err
	}
	if p.rendered == nil {
		p.rendered = map[uint64][]rendered{}
	}
	p.rendered[key] = append(p.rendered[key], rendered{n, text})
	return indentLines(text, col), nil
}

// rendered is a node's text as the encoder writes it, at column 0.
type rendered struct {
	node *yaml.Node
	text string
}

func (p *patcher) encode(n *yaml.Node) (string, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoderWithOptions(&buf, &yaml.EncoderOptions{SeqIndent: yaml.SequenceIndentStyle(p.seqIndent)})
	if err := enc.Encode(n); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// same tells whether the text of b can stand for a: the same content and the
// same comments in the same order (an element the edit removed and wrote again
// as it was, its comment hung on another node, or its quoting another).
func same(b, a *yaml.Node) bool {
	return yamlnode.Identical(b, a) || yamlnode.SameContent(b, a) && slices.Equal(comments(b, nil), comments(a, nil))
}

// keptComments tells whether the text written (out) holds every comment of the
// edited tree, wherever the parser hung it (a foot comment the edit wrote new
// lines after is read back as the head of the first of them), and no comment
// that neither the edited tree nor the original text had: none lost, none
// doubled. A comment of the original that the edit dropped with the node that
// held it, but that stands on a line of its own the edit did not remove, may
// stay.
func keptComments(out, before, after *yaml.Node) bool {
	count := func(n *yaml.Node) map[string]int {
		m := map[string]int{}
		for _, c := range comments(n, nil) {
			m[c]++
		}
		return m
	}
	o, b, a := count(out), count(before), count(after)
	for c, n := range a {
		if o[c] < n {
			return false
		}
	}
	for c, n := range o {
		if n > max(a[c], b[c]) {
			return false
		}
	}
	return true
}

// comments appends every comment line of a tree to to.
func comments(n *yaml.Node, to []string) []string {
	for _, c := range []string{n.HeadComment, n.LineComment, n.FootComment} {
		for l := range strings.SplitSeq(c, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				to = append(to, l)
			}
		}
	}
	for _, c := range n.Content {
		to = comments(c, to)
	}
	return to
}

// indentLines puts n spaces before every line of text that is not empty.
func indentLines(text string, n int) string {
	if n == 0 {
		return text
	}
	pad := strings.Repeat(" ", n)
	var b strings.Builder
	for _, l := range strings.SplitAfter(text, "\n") {
		if l == "" {
			continue
		}
		if l != "\n" {
			b.WriteString(pad)
		}
		b.WriteString(l)
	}
	return b.String()
}

func isBlank(l string) bool   { return strings.TrimSpace(l) == "" }
func isComment(l string) bool { return strings.HasPrefix(strings.TrimSpace(l), "#") }
func indentOf(l string) int   { return len(indent(l)) }
func indent(l string) string  { return l[:len(l)-len(strings.TrimLeft(l, " \t"))] }
