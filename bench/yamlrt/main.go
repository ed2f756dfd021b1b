// Command yamlrt is the bare YAML floor: a go-yaml v3 node decode and encode of the
// same bytes, with no KRM machinery.
package main

import (
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

func main() {
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(in, &n); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	enc := yaml.NewEncoder(os.Stdout)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
