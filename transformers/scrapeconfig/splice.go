package scrapeconfig

import (
	"bytes"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/yamlnode"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// The fast path of editAndRender. Edit only ever changes two kinds of list: the
// job list, and the relabel_configs of jobs in it. Both are snapshotted before the
// edit; afterwards each list's elements are matched by identity, and the text of
// the user's document is edited line by line: an element that left is cut out
// (with its head comment), one that came is rendered alone and put in at the
// place of the element it follows. Nothing else of the user's text is touched,
// and nothing of it is re-encoded. The result is kept only when it parses to the
// edited tree; otherwise (flow-style lists, unusual layouts) editAndRender falls
// back to rendering the whole document.

// seqSnap is one block-style list as it was before the edit.
type seqSnap struct {
	node  *yaml.Node
	old   []*yaml.Node
	style yaml.Style
}

// snapshot records the job list and each job's relabel_configs. It returns nil
// when a list is not one the fast path handles.
func snapshot(jobs *yaml.Node) []seqSnap {
	if jobs.Kind != yaml.SequenceNode || jobs.Style&yaml.FlowStyle != 0 || len(jobs.Content) == 0 {
		return nil
	}
	snaps := []seqSnap{{jobs, append([]*yaml.Node(nil), jobs.Content...), jobs.Style}}
	for _, job := range jobs.Content {
		if rules := yamlnode.Field(job, "relabel_configs"); rules != nil && rules.Kind == yaml.SequenceNode {
			snaps = append(snaps, seqSnap{rules, append([]*yaml.Node(nil), rules.Content...), rules.Style})
		}
	}
	return snaps
}

// textEdits are line operations on the original document: lines to drop, and
// text to put before a line (index len(lines) is the end of the document).
type textEdits struct {
	lines  []string
	drop   []bool
	before map[int][]string
	// rendered caches element texts: the same drop rule goes into several jobs.
	rendered []renderedElements
}

type renderedElements struct {
	nodes []*yaml.Node
	text  string // at dash column 0
}

// splice applies the edit that turned snaps into root's lists to doc. ok is false
// when the fast path does not apply or cannot prove its result.
func splice(doc string, snaps []seqSnap, root *yaml.RNode, seqIndent string) (string, bool) {
	if snaps == nil {
		return "", false
	}
	te := &textEdits{lines: strings.SplitAfter(doc, "\n"), before: map[int][]string{}}
	te.drop = make([]bool, len(te.lines))
	known := map[*yaml.Node]bool{}
	for _, s := range snaps {
		known[s.node] = true
	}
	changed := false
	// Inner lists first: where a job's last rule and the job itself end on the
	// same line, the rule inserted there belongs before the job inserted there.
	for k := len(snaps) - 1; k >= 0; k-- {
		s := snaps[k]
		if s.node.Style != s.style {
			return "", false
		}
		c, ok := te.list(s, seqIndent)
		if !ok {
			return "", false
		}
		changed = changed || c
	}
	// A relabel_configs list the edit created (the job had none) is not in the
	// snapshot: only a full render can add it.
	oldJobs := map[*yaml.Node]bool{}
	for _, job := range snaps[0].old {
		oldJobs[job] = true
	}
	for _, job := range snaps[0].node.Content {
		if rules := yamlnode.Field(job, "relabel_configs"); rules != nil && !known[rules] && oldJobs[job] {
			return "", false
		}
	}
	if !changed {
		return doc, true
	}
	var b strings.Builder
	for i := 0; i <= len(te.lines); i++ {
		for _, t := range te.before[i] {
			// The line before an insertion may be the document's last, without "\n".
			if s := b.String(); s != "" && !strings.HasSuffix(s, "\n") {
				b.WriteString("\n")
			}
			b.WriteString(t)
		}
		if i < len(te.lines) && !te.drop[i] {
			b.WriteString(te.lines[i])
		}
	}
	out := b.String()
	if !strings.HasSuffix(doc, "\n") {
		out = strings.TrimSuffix(out, "\n")
	}
	check, err := yaml.Parse(out)
	if err != nil || !yamlnode.SameContent(check.YNode(), root.YNode()) {
		return "", false
	}
	return out, true
}

// list plans the line edits of one list. It reports whether anything changes.
func (te *textEdits) list(s seqSnap, seqIndent string) (bool, bool) {
	old, cur := s.old, s.node.Content
	if len(old) == 0 {
		return false, len(cur) == 0
	}
	dash, oldIndex, ok := te.listShape(old, cur)
	if !ok {
		return false, false
	}

	// Pair each run of new elements with the old elements it replaces: those
	// between the kept element before it and the kept element after it.
	changed := false
	prevKept := -1 // index in old
	var added []*yaml.Node
	flush := func(nextKept int) bool {
		var removed []*yaml.Node
		for i := prevKept + 1; i < nextKept; i++ {
			removed = append(removed, old[i])
		}
		if sameList(removed, added) {
			added = nil
			return true
		}
		changed = true
		for _, r := range removed {
			from, to := te.span(old, oldIndex[r], dash)
			for l := from; l <= to; l++ {
				te.drop[l] = true
			}
		}
		if len(added) == 0 {
			return true
		}
		// Where the new elements go: at the first removed element, or after
		// the kept one before them, or before the first element of the list.
		var at int
		switch {
		case len(removed) > 0:
			at, _ = te.span(old, oldIndex[removed[0]], dash)
		case prevKept >= 0:
			_, to := te.span(old, prevKept, dash)
			at = to + 1
		default:
			at, _ = te.span(old, 0, dash)
		}
		text, err := te.render(added, dash, seqIndent)
		if err != nil {
			return false
		}
		te.before[at] = append(te.before[at], text)
		added = nil
		return true
	}
	for _, e := range cur {
		i, ok := oldIndex[e]
		if !ok {
			added = append(added, e)
			continue
		}
		if !flush(i) {
			return false, false
		}
		prevKept = i
	}
	if !flush(len(old)) {
		return false, false
	}
	return changed, true
}

// listShape checks that a list can be spliced: every old element's dash at one
// column, and the kept elements in their old order. It returns that column and
// each old element's index.
func (te *textEdits) listShape(old, cur []*yaml.Node) (int, map[*yaml.Node]int, bool) {
	dash, ok := te.dashColumn(old[0])
	if !ok {
		return 0, nil, false
	}
	for _, e := range old[1:] {
		if d, ok := te.dashColumn(e); !ok || d != dash {
			return 0, nil, false
		}
	}
	oldIndex := map[*yaml.Node]int{}
	for i, e := range old {
		oldIndex[e] = i
	}
	last := -1
	for _, e := range cur {
		if i, ok := oldIndex[e]; ok {
			if i < last {
				return 0, nil, false
			}
			last = i
		}
	}
	return dash, oldIndex, true
}

// sameList: the new elements say exactly what the removed ones said, comments
// included (a re-run that changes nothing).
func sameList(a, b []*yaml.Node) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !yamlnode.SameContent(a[i], b[i]) || commentText(a[i]) != commentText(b[i]) {
			return false
		}
	}
	return true
}

// commentText is every comment of a tree in document order, whichever node the
// parser hung it on.
func commentText(n *yaml.Node) string {
	var b strings.Builder
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		for _, c := range []string{n.HeadComment, n.LineComment} {
			if c != "" {
				b.WriteString(c)
				b.WriteByte('\n')
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
		if n.FootComment != "" {
			b.WriteString(n.FootComment)
			b.WriteByte('\n')
		}
	}
	walk(n)
	return b.String()
}

// dashColumn is the column of the "- " that starts element e, which must be on
// the element's first line.
func (te *textEdits) dashColumn(e *yaml.Node) (int, bool) {
	if e.Line < 1 || e.Line > len(te.lines) {
		return 0, false
	}
	l := te.lines[e.Line-1]
	col := indentOf(l)
	if !strings.HasPrefix(l[col:], "- ") && !strings.HasPrefix(l[col:], "-\n") || e.Column-1 <= col {
		return 0, false
	}
	return col, true
}

// span is the range of lines of old[i], 0-based and inclusive: its head comment,
// its first line, and every line up to the last that is neither blank nor a
// comment before the next element (or, for the last, before the first line back
// at the list's indentation).
func (te *textEdits) span(old []*yaml.Node, i, dash int) (from, to int) {
	start := old[i].Line - 1
	from = start
	for n := commentLines(old[i]); n > 0 && from > 0 && isComment(te.lines[from-1]); n-- {
		from--
	}
	end := len(te.lines)
	if i+1 < len(old) {
		end = old[i+1].Line - 1
	} else {
		for l := start + 1; l < len(te.lines); l++ {
			if isBlank(te.lines[l]) || isComment(te.lines[l]) {
				continue
			}
			if indentOf(te.lines[l]) <= dash {
				end = l
				break
			}
		}
	}
	to = start
	for l := start + 1; l < end; l++ {
		if !isBlank(te.lines[l]) && !isComment(te.lines[l]) {
			to = l
		}
	}
	return from, to
}

// commentLines counts the comment lines written above element e.
func commentLines(e *yaml.Node) int {
	c := e.HeadComment
	if c == "" && len(e.Content) > 0 {
		c = e.Content[0].HeadComment
	}
	n := 0
	for _, l := range strings.Split(c, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			n++
		}
	}
	return n
}

func isBlank(l string) bool   { return strings.TrimSpace(l) == "" }
func isComment(l string) bool { return strings.HasPrefix(strings.TrimSpace(l), "#") }
func indentOf(l string) int   { return len(indent(l)) }

// render is renderElements, once per distinct list of elements.
func (te *textEdits) render(nodes []*yaml.Node, dash int, seqIndent string) (string, error) {
	for _, r := range te.rendered {
		if sameList(r.nodes, nodes) {
			return indentLines(r.text, dash), nil
		}
	}
	text, err := renderElements(nodes, 0, seqIndent)
	if err != nil {
		return "", err
	}
	te.rendered = append(te.rendered, renderedElements{nodes, text})
	return indentLines(text, dash), nil
}

// renderElements writes nodes as block list elements whose dashes are at column
// dash, with the document's indentation of nested lists.
func renderElements(nodes []*yaml.Node, dash int, seqIndent string) (string, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoderWithOptions(&buf, &yaml.EncoderOptions{SeqIndent: yaml.SequenceIndentStyle(seqIndent)})
	if err := enc.Encode(&yaml.Node{Kind: yaml.SequenceNode, Content: nodes}); err != nil {
		return "", err
	}
	return indentLines(buf.String(), dash), nil
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

// indent is the leading white space of line l.
func indent(l string) string { return l[:len(l)-len(strings.TrimLeft(l, " \t"))] }
