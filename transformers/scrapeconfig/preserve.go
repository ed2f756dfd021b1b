package scrapeconfig

import (
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// preserve keeps the user's own text byte for byte: the YAML encoder normalises
// some formatting (the spacing before a line comment, for one), so the edit is
// taken as a line diff between the re-encoded original and the re-encoded result,
// and applied to the original text. It returns edited unchanged unless that is
// provably safe: the original and its re-encoding line up one to one with the same
// indentation, and the spliced text parses to the same tree as edited.
func preserve(original, edited string) string {
	if original == "" {
		return edited
	}
	// Nothing to change (a re-run): the user's text stays exactly as it is.
	if sameTree(original, edited) {
		return original
	}
	root, err := yaml.Parse(original)
	if err != nil {
		return edited
	}
	baseline, err := render(root, original)
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
	if !sameTree(result, edited) {
		return edited
	}
	return result
}

func lines(s string) []string { return strings.SplitAfter(s, "\n") }

func indent(l string) string { return l[:len(l)-len(strings.TrimLeft(l, " \t"))] }

func sameTree(a, b string) bool {
	x, err := yaml.Parse(a)
	if err != nil {
		return false
	}
	y, err := yaml.Parse(b)
	if err != nil {
		return false
	}
	j1, err1 := x.MarshalJSON()
	j2, err2 := y.MarshalJSON()
	return err1 == nil && err2 == nil && string(j1) == string(j2)
}

// diff is Myers' O((N+M)D) line diff: '=' keeps a line of a (and b), '-' drops one
// of a, '+' takes one of b. It gives up (nil) past maxD edits.
func diff(a, b []string) []byte {
	n, m := len(a), len(b)
	const maxD = 4000
	max := n + m
	if max > maxD*2 {
		max = maxD * 2
	}
	off := max + 1
	v := make([]int, 2*max+3)
	var trace [][]int
	for d := 0; d <= max; d++ {
		snapshot := make([]int, len(v))
		copy(snapshot, v)
		trace = append(trace, snapshot)
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
			if x >= n && y >= m {
				return backtrack(trace, v, off, n, m, d, a, b)
			}
		}
	}
	return nil
}

func backtrack(trace [][]int, last []int, off, n, m, d int, a, b []string) []byte {
	var ops []byte
	x, y := n, m
	v := last
	for ; d > 0; d-- {
		k := x - y
		prev := trace[d]
		var pk int
		if k == -d || (k != d && prev[off+k-1] < prev[off+k+1]) {
			pk = k + 1
		} else {
			pk = k - 1
		}
		px := prev[off+pk]
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
		v = prev
	}
	_ = v
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
