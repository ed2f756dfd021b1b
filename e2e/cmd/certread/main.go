// Command certread reads every file of a directory and prints its name, mode and
// size: run inside the Prometheus container, as its user, it shows what Prometheus
// can read of the certificate volume.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

func main() {
	dir := os.Args[1]
	entries, err := os.ReadDir(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() || e.Type()&os.ModeSymlink != 0 {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	status := 0
	for _, n := range names {
		p := filepath.Join(dir, n)
		b, err := os.ReadFile(p)
		st, _ := os.Stat(p)
		if err != nil {
			fmt.Printf("%s unreadable: %v\n", n, err)
			status = 1
			continue
		}
		fmt.Printf("%s %v %d\n", n, st.Mode().Perm(), len(b))
	}
	os.Exit(status)
}
