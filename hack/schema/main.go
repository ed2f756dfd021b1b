// Command schema writes the function config's JSON Schema (go generate ./internal/schema).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/internal/schema"
)

func main() {
	out := flag.String("o", "../../schema/prometheusmtls.schema.json", "output file (go generate runs this in internal/schema)")
	flag.Parse()
	b, err := schema.Generate()
	if err == nil {
		err = os.WriteFile(*out, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "schema:", err)
		os.Exit(1)
	}
}
