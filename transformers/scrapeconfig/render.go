package scrapeconfig

// The text-preserving renderer: writes the edited tree back so that the user's
// text is kept wherever the edit did not touch it (package splice), or, where
// that cannot be proven, the whole document is rendered.

import (
	"bytes"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/splice"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/yamlnode"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// editAndRender edits the job list of root and writes root back, keeping the
// user's text: the edit is spliced into it line by line (package splice); where
// that cannot be proven, the whole document is rendered.
func editAndRender(doc string, root, jobs *yaml.RNode, o Options, field string) (string, Report, error) {
	var before *yaml.Node
	if strings.TrimSpace(doc) != "" {
		before = yaml.CopyYNode(root.YNode())
	}
	rep, err := editJobs(jobs, o, field)
	if err != nil {
		return "", rep, err
	}
	if before != nil {
		if out, ok := splice.Patch(doc, before, root.YNode()); ok {
			return out, rep, nil
		}
	}
	// Nothing changed (a re-run): the user's text stays exactly as it is, with
	// the comments it has or has lost.
	if before != nil && yamlnode.SameContent(before, root.YNode()) {
		return doc, rep, nil
	}
	out, err := render(root, doc)
	return splice.KeepLineEndings(doc, out), rep, err
}

// render writes root with the sequence indentation of the original text and its
// trailing-newline convention.
func render(root *yaml.RNode, original string) (string, error) {
	var buf bytes.Buffer
	style := yaml.SequenceIndentStyle(yaml.DeriveSeqIndentStyle(original))
	enc := yaml.NewEncoderWithOptions(&buf, &yaml.EncoderOptions{SeqIndent: style})
	if err := enc.Encode(root.Document()); err != nil {
		return "", err
	}
	out := buf.String()
	if !strings.HasSuffix(original, "\n") && original != "" {
		out = strings.TrimSuffix(out, "\n")
	}
	return out, nil
}
