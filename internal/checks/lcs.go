package checks

// LCS is the table of longest common subsequence lengths of a[i:] and b[j:], for
// tests that check a diff (the quadratic table, as diff(1) would find).
func LCS[T comparable](a, b []T) [][]int32 {
	t := make([][]int32, len(a)+1)
	for i := range t {
		t[i] = make([]int32, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				t[i][j] = t[i+1][j+1] + 1
			} else {
				t[i][j] = max(t[i+1][j], t[i][j+1])
			}
		}
	}
	return t
}

// Line is one line of a line diff: Op is '=' (kept), '-' (only in the first
// text) or '+' (only in the second).
type Line struct {
	Op   byte
	Text string
}

// DiffLines is a shortest line diff of a into b, walked from the LCS table:
// at each step a kept line, else an addition where that keeps as long a common
// subsequence, else a removal.
func DiffLines(a, b []string) []Line {
	lcs := LCS(a, b)
	var out []Line
	for i, j := 0, 0; i < len(a) || j < len(b); {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			out = append(out, Line{'=', a[i]})
			i, j = i+1, j+1
		case j < len(b) && (i == len(a) || lcs[i][j+1] >= lcs[i+1][j]):
			out = append(out, Line{'+', b[j]})
			j++
		default:
			out = append(out, Line{'-', a[i]})
			i++
		}
	}
	return out
}
