package scrapeconfig

import (
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/yamlnode"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// preserve keeps the user's own text byte for byte: the YAML encoder normalises
// some formatting (the spacing before a line comment, for one), so the edit is
// taken as a line diff between the re-encoded original (pristine, a fresh parse of
// original) and the re-encoded result, and applied to the original text. It
// returns edited unless that is provably safe: the original and its re-encoding
// line up one to one with the same indentation, and the spliced text parses to the
// same tree as editedRoot.
func preserve(original string, pristine, editedRoot *yaml.RNode, edited string) string {
	if original == "" || pristine == nil {
		return edited
	}
	baseline, err := render(pristine, original)
	if err != nil {
		return edited
	}
	orig, base, ed := lines(original), lines(baseline), lines(edited)
	if len(orig) != len(base) {
		return edited
	}
	for i := range orig {
		if indent(orig[i]) != indent(base[i]) {
			return edited
		}
	}
	ops := diff(base, ed)
	if ops == nil {
		return edited
	}
	var out []string
	bi, ei := 0, 0
	for _, op := range ops {
		switch op {
		case '=':
			out = append(out, orig[bi])
			bi++
			ei++
		case '-':
			bi++
		case '+':
			out = append(out, ed[ei])
			ei++
		}
	}
	result := strings.Join(out, "")
	check, err := yaml.Parse(result)
	if err != nil || !yamlnode.SameContent(check.YNode(), editedRoot.YNode()) {
		return edited
	}
	return result
}

func lines(s string) []string { return strings.SplitAfter(s, "\n") }

func indent(l string) string { return l[:len(l)-len(strings.TrimLeft(l, " \t"))] }

// diff is Myers' O((N+M)D) line diff: '=' keeps a line of a (and b), '-' drops one
// of a, '+' takes one of b. It gives up (nil) past maxD edits. The trace keeps
// only the 2d+1 diagonals of each round.
func diff(a, b []string) []byte {
	n, m := len(a), len(b)
	const maxD = 20000
	max := n + m
	if max > maxD {
		max = maxD
	}
	off := max + 1
	v := make([]int, 2*max+3)
	var trace [][]int
	for d := 0; d <= max; d++ {
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1]
			} else {
				x = v[off+k-1] + 1
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[off+k] = x
		}
		// Round d's diagonals -d..d, for the backtrack.
		trace = append(trace, append([]int(nil), v[off-d:off+d+1]...))
		for k := -d; k <= d; k += 2 {
			if v[off+k] >= n && v[off+k]-k >= m {
				return backtrack(trace, n, m, d)
			}
		}
	}
	return nil
}

// backtrack walks the trace from (n, m) back to (0, 0).
func backtrack(trace [][]int, n, m, d int) []byte {
	at := func(round, k int) int { return trace[round][k+round] }
	var ops []byte
	x, y := n, m
	for ; d > 0; d-- {
		k := x - y
		var pk int
		if k == -d || (k != d && at(d-1, k-1) < at(d-1, k+1)) {
			pk = k + 1
		} else {
			pk = k - 1
		}
		px := at(d-1, pk)
		py := px - pk
		for x > px && y > py {
			ops = append(ops, '=')
			x--
			y--
		}
		if x == px {
			ops = append(ops, '+')
		} else {
			ops = append(ops, '-')
		}
		x, y = px, py
	}
	for x > 0 && y > 0 {
		ops = append(ops, '=')
		x--
		y--
	}
	for i, j := 0, len(ops)-1; i < j; i, j = i+1, j-1 {
		ops[i], ops[j] = ops[j], ops[i]
	}
	return ops
}
