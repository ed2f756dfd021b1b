package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// tool finds a client the tests run for real: $NAME_BIN, PATH, then $GOPATH/bin.
// A missing tool fails the test with the command that installs it: never a skip.
func tool(t testing.TB, name, install string) string {
	t.Helper()
	if p := os.Getenv(envName(name)); p != "" {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if home, err := os.UserHomeDir(); err == nil {
			gopath = filepath.Join(home, "go")
		}
	}
	if p := filepath.Join(gopath, "bin", name); fileExists(p) {
		return p
	}
	t.Fatalf("%s is not installed (run: %s, or `make tools`)", name, install)
	return ""
}

func envName(name string) string {
	b := []byte(name)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z':
			b[i] = c - 32
		case c == '-':
			b[i] = '_'
		}
	}
	return string(b) + "_BIN"
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
