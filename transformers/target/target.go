// Package target carries a plan out on the selected workload. There are two
// adapters, one per kind of target, and both take the same steps:
//
//  1. edit the pod template as the plan says, between one read and one write of
//     its ownership record (editTemplate);
//  2. edit the scrape configuration's value (editScrape), in the object that
//     holds it: the ConfigMap or Secret a pod controller mounts, or
//     prometheus-operator's additionalScrapeConfigs Secret.
//
// Edits are made on copies: on error nothing of the input has changed.
package target

import (
	"errors"
	"fmt"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/config"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/datakey"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/injection"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/ownership"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/plan"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/podtemplate"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/scrapeconfig"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/selection"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/yamlnode"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Adapter is one selected workload, ready to take a plan.
type Adapter interface {
	// Target is what the plan needs to know of the workload.
	Target() plan.Target
	// Apply carries p out.
	Apply(p plan.Plan) (Outcome, error)
}

// Outcome is what Apply did.
type Outcome struct {
	// Edits are the items edited (Index into the list) or created (Index -1).
	Edits []Edit
	// Notes say what was done, for info results.
	Notes []Note
}

// Edit is one edited or created item.
type Edit struct {
	Index int
	Node  *yaml.RNode
}

// Note is an info result about one field of one resource.
type Note struct {
	Ref     *krmerr.Ref
	Field   string
	Message string
}

// For returns the adapter of the selected workload sel. ref is the config's
// explicit scrape configuration, if any.
func For(ix *selection.Index, sel selection.Workload, ref *config.ScrapeConfigRef) (Adapter, error) {
	if sel.Operator {
		return newOperatorResource(ix, sel)
	}
	return newPodController(ix, sel, ref)
}

// editTemplate edits the pod template tpl as p says, between one read and one
// write of its ownership record; also, when set, does the adapter's own part
// (the operator's scrape class) and records it in rec.
func editTemplate(tpl *yaml.RNode, p plan.Plan, also func(rec *ownership.Record) error) error {
	rec, err := ownership.Read(tpl)
	if err != nil {
		return err
	}
	if err := editPod(tpl, p, &rec); err != nil {
		return err
	}
	if also != nil {
		if err := also(&rec); err != nil {
			return err
		}
	}
	return ownership.Write(tpl, rec)
}

// editPod makes the pod template what p says, first undoing what injection mode
// did in an earlier run (so users can switch modes and re-run), and updates rec
// with what it now owns.
func editPod(tpl *yaml.RNode, p plan.Plan, rec *ownership.Record) error {
	if err := injection.Disable(tpl, rec.Injection); err != nil {
		return err
	}
	rec.Injection = nil
	if p.Injection != nil {
		r, err := injection.Enable(tpl, *p.Injection)
		if err != nil {
			return err
		}
		rec.Injection = r
	}
	owned, err := podtemplate.Apply(tpl, p.Pod, rec.Owned)
	if err != nil {
		return err
	}
	rec.Owned = owned
	return nil
}

// scrapeValue is the value of the scrape configuration to edit: key of obj
// (a copy), its text, and what it is for messages.
type scrapeValue struct {
	obj  *yaml.RNode
	key  datakey.Key
	text string
	what string
	// created is said in front of the note when the object is new.
	created string
}

// editScrape edits the value with edit (a prometheus.yml or a bare job list) and
// writes it back in its form. It returns the note of the change, if any.
func editScrape(v scrapeValue, o scrapeconfig.Options, edit func(string, scrapeconfig.Options) (string, scrapeconfig.Report, error)) (*Note, error) {
	edited, rep, err := edit(v.text, o)
	if err != nil {
		return nil, krmerr.About(v.obj, v.key.Field(), "%v (%s)", err, v.what)
	}
	if err := v.key.Write(v.obj, edited); err != nil {
		return nil, krmerr.At(v.obj, err)
	}
	if edited == v.text {
		return nil, nil
	}
	msg := fmt.Sprintf("%skey %q: job %s", v.created, v.key.Name, strings.Join(quoteAll(rep.Jobs), ", "))
	if len(rep.Excluded) > 0 {
		msg += fmt.Sprintf("; drop rule for sidecar pods in %s", strings.Join(quoteAll(rep.Excluded), ", "))
	}
	// The note names data.KEY even for a Secret's stringData, as earlier releases
	// did (golden outputs are kept byte for byte); errors name the real field.
	return &Note{Ref: krmerr.RefOf(v.obj), Field: "data." + v.key.Name, Message: msg}, nil
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = fmt.Sprintf("%q", x)
	}
	return out
}

// workloadNote reports the pod-template edit, when the workload changed.
func workloadNote(original, edited *yaml.RNode, p plan.Plan, field, into, suffix string) []Note {
	if yamlnode.Identical(original.YNode(), edited.YNode()) {
		return nil
	}
	return []Note{{Ref: krmerr.RefOf(edited), Field: field, Message: p.Summary(into, suffix)}}
}

// blame names workload in err, unless err is about another resource or the
// config already; field maps a field of the pod-template view to the workload's.
func blame(workload *yaml.RNode, err error, field func(string) string) error {
	var e *krmerr.Error
	if !errors.As(err, &e) {
		return krmerr.At(workload, err)
	}
	if e.Ref != nil || e.Config {
		return err
	}
	c := *e
	c.Field = field(c.Field)
	return krmerr.At(workload, &c)
}
