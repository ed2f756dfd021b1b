// Command wrap turns a multi-document YAML stream on stdin into a ResourceList.
package main

import (
	"fmt"
	"os"

	"sigs.k8s.io/kustomize/kyaml/kio"
)

func main() {
	nodes, err := (&kio.ByteReader{Reader: os.Stdin, OmitReaderAnnotations: true}).Read()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	w := kio.ByteWriter{Writer: os.Stdout, WrappingKind: kio.ResourceListKind, WrappingAPIVersion: kio.ResourceListAPIVersion}
	if err := w.Write(nodes); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
