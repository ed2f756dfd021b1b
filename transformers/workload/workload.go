// Package workload carries a plan out on the selected workload. There are two
// adapters, one per kind of workload, and both take the same steps:
//
//  1. edit the pod template as the plan says, after one read of its ownership
//     record (editTemplate);
//  2. edit the scrape configuration's value (editScrape), in the object that
//     holds it: the ConfigMap or Secret a pod controller mounts, an operator's
//     additional scrape configs Secret, a VMAgent's inline jobs, a
//     ScrapeConfig, or an OpenTelemetryCollector's spec.config;
//  3. write the record once (writeRecord), naming what both steps wrote.
//
// Edits are made on copies: on error nothing of the input has changed.
package workload

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/certs"
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
	// Edits are the items edited (Index into the list), created (Index -1) or
	// deleted (Node nil).
	Edits []Edit
	// Notes say what was done, for info results.
	Notes []Note
}

// Edit is one edited, created (Index -1) or deleted (Node nil) item.
type Edit struct {
	Index int
	Node  *yaml.RNode
}

// Note is an info result about one field of one resource (a warning with Warn).
type Note struct {
	Ref     *krmerr.Ref
	Field   string
	Message string
	Warn    bool
}

// For returns the adapter of the selected workload sel. ref is the config's
// explicit scrape configuration, if any.
func For(ix *selection.Index, sel selection.Workload, ref *config.ScrapeConfigRef) (Adapter, error) {
	var a Adapter
	var err error
	if sel.Operator {
		a, err = newOperatorResource(ix, sel)
	} else {
		a, err = newPodController(ix, sel, ref)
	}
	if err != nil {
		return nil, err
	}
	return settled{a, ix}, nil
}

// settled drops the edits that give back the object they started from: a
// re-run, maybe on a copy whose comments a tool dropped and whose keys it
// sorted, leaves the item's text as it came.
type settled struct {
	Adapter
	ix *selection.Index
}

func (s settled) Apply(p plan.Plan) (Outcome, error) {
	out, err := s.Adapter.Apply(p)
	if err != nil {
		return out, err
	}
	out.Edits = slices.DeleteFunc(out.Edits, func(e Edit) bool {
		return e.Index >= 0 && e.Node != nil && yamlnode.SameDecoded(s.ix.Items[e.Index].YNode(), e.Node.YNode())
	})
	for _, e := range out.Edits {
		if e.Node != nil {
			out.Notes = append(out.Notes, sizeNotes(e.Node)...)
		}
	}
	return out, nil
}

// maxObject is the size past which the API server refuses an object: 1 MiB of
// data in a ConfigMap or Secret (etcd keeps 1.5 MiB per object, and a
// client-side apply doubles it with its last-applied annotation).
const maxObject = 1 << 20

// sizeNotes warns when an object the function wrote is larger than the API
// server takes: the edit would be refused on apply.
func sizeNotes(n *yaml.RNode) []Note {
	size := yamlnode.TextSize(n.YNode())
	if size <= maxObject {
		return nil
	}
	return []Note{{Ref: krmerr.RefOf(n), Warn: true, Message: fmt.Sprintf(
		"the function's edit makes this object about %.2f MiB, past the 1 MiB the API server takes of a ConfigMap or Secret (and near etcd's 1.5 MiB per object): it will be refused on apply; split the scrape configuration (scrape_config_files, one file per ConfigMap) or give fewer plain pod jobs the drop rules (spec.scrapeJob.excludeFrom)",
		float64(size)/(1<<20))}}
}

// editTemplate edits the pod template tpl as p says, after one read of its
// ownership record; also, when set, does the adapter's own part (the
// operator's scrape class) and records it. It returns the record as it was
// read (what earlier runs had added) and as this run leaves it, which the
// adapter completes with the jobs it writes (editScrape) and stores once, at
// the end (ownership.Write).
//
// The record is believed only where it names what the function writes
// (ownership.Verify); doubts describe the entries that were not, which stay
// as they are and leave the record.
func editTemplate(tpl *yaml.RNode, p plan.Plan, also func(rec *ownership.Record) error) (old, rec ownership.Record, doubts []string, err error) {
	if rec, err = ownership.Read(tpl); err != nil {
		return rec, rec, nil, err
	}
	if rec, doubts, err = ownership.Verify(tpl, rec, p.CertVolume); err != nil {
		return rec, rec, nil, err
	}
	old = rec
	rec.Jobs, rec.Created = nil, nil // the scrape edit says which are the function's now
	if err := editPod(tpl, p, &rec); err != nil {
		return old, rec, doubts, err
	}
	if also != nil {
		if err := also(&rec); err != nil {
			return old, rec, doubts, err
		}
	}
	return old, rec, doubts, nil
}

// doubtNote is the warning about record entries not believed (editTemplate),
// on the workload ref at field, the record's annotation.
func doubtNote(ref *krmerr.Ref, field string, doubts []string) []Note {
	if len(doubts) == 0 {
		return nil
	}
	return []Note{{Ref: ref, Field: field, Warn: true, Message: fmt.Sprintf(
		"the ownership record names %s, which this function did not write: left as they are, and no longer named in the record (was the record copied from another workload, or edited by hand?)",
		clipList(doubts, "; ", false))}}
}

// writeRecord stores rec on the pod template, once per run, after the
// template and the scrape config are edited: the one place the record is
// written.
func writeRecord(tpl *yaml.RNode, rec ownership.Record) error {
	return ownership.Write(tpl, rec)
}

// removedBy names, for ambient mode's note, what an earlier run had added to the
// pod template and ambient mode takes out.
func removedBy(old ownership.Record) []string {
	var out []string
	for _, c := range append(append([]string{}, old.InitContainers...), old.Containers...) {
		out = append(out, fmt.Sprintf("container %q", c))
	}
	if len(old.Volumes) > 0 {
		out = append(out, "volumes "+strings.Join(quoteAll(old.Volumes), ", "))
	}
	if len(old.VolumeMounts) > 0 {
		out = append(out, "the certificate mount")
	}
	if old.Injection != nil {
		out = append(out, "the injector's labels and annotations")
	}
	if old.ScrapeClass != "" {
		out = append(out, fmt.Sprintf("scrape class %q", old.ScrapeClass))
	}
	return out
}

// editPod makes the pod template what p says, first undoing what injection mode
// did in an earlier run (so users can switch modes and re-run), and updates rec
// with what it now owns.
func editPod(tpl *yaml.RNode, p plan.Plan, rec *ownership.Record) error {
	for _, r := range []*injection.Record{rec.Injection, rec.Ambient} {
		if err := injection.Disable(tpl, r); err != nil {
			return err
		}
	}
	rec.Injection, rec.Ambient = nil, nil
	if p.Injection != nil {
		r, err := injection.Enable(tpl, *p.Injection)
		if err != nil {
			return err
		}
		rec.Injection = r
	} else if p.Pod.TakeOver && len(p.Pod.Mounts) > 0 {
		// Sidecar mode taking over an injection-route setup of the user's.
		if err := injection.TakeOverSteering(tpl, p.Pod.Mounts[0].Name); err != nil {
			return err
		}
	}
	owned, err := podtemplate.Apply(tpl, p.Pod, rec.Owned)
	if err != nil {
		return err
	}
	rec.Owned = owned
	if p.Ambient != nil {
		// After the pod edit, so that re-runs put the label where the first run did.
		if rec.Ambient, err = injection.EnrollAmbient(tpl); err != nil {
			return err
		}
	}
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
	// external names the additionalScrapeConfigs Secret of an operator's
	// resource that is not in the list (obj is then nil, unless own).
	external string
	// own: the value is a field of the resource being edited (obj), which
	// the resource's own edit carries out.
	own bool
}

// editScrape edits the value with edit (a prometheus.yml or a bare job list) and
// writes it back in its form. The jobs the function wrote are the ones old, the
// record as read, names; rec, the record to write, gets those it owns now. It
// returns the notes of the change, if any.
func editScrape(v scrapeValue, o scrapeconfig.Options, old ownership.Record, rec *ownership.Record, edit func(string, scrapeconfig.Options) (string, scrapeconfig.Report, error)) ([]Note, error) {
	o.Owned, o.Migrate = old.Jobs, len(old.Jobs) == 0
	edited, rep, err := edit(v.text, o)
	if err != nil {
		return nil, krmerr.About(v.obj, v.key.Field(), "%v (%s)", err, v.what)
	}
	if err := v.key.Write(v.obj, edited); err != nil {
		return nil, krmerr.At(v.obj, err)
	}
	rec.Jobs = rep.Owned
	var notes []Note
	if len(rep.Unbelieved) > 0 {
		notes = append(notes, Note{Ref: krmerr.RefOf(v.obj), Field: v.key.Field(), Warn: true, Message: fmt.Sprintf(
			"%s: the ownership record (%s) names job %s, which is not what this function writes (an https job reading Istio's certificate files with its sidecar rules): left as it is, and no longer named in the record; was the record copied from another workload, or edited?",
			keyWord(v.key), ownership.Annotation, clipList(rep.Unbelieved, ", ", true))})
	}
	if len(rep.Leftover) > 0 {
		notes = append(notes, Note{Ref: krmerr.RefOf(v.obj), Field: v.key.Field(), Warn: true, Message: fmt.Sprintf(
			"%s: job %s read Istio's workload certificates (tls_config with %s, %s or %s), which nothing writes in ambient mode: their scrapes will fail; remove them or scrape those pods with a plain http job (ztunnel carries it over mTLS)",
			keyWord(v.key), strings.Join(quoteAll(rep.Leftover), ", "), certs.CA, certs.Chain, certs.Key)})
	}
	if edited == v.text {
		return notes, nil
	}
	var parts []string
	if len(rep.Jobs) > 0 {
		job := "job " + strings.Join(quoteAll(rep.Jobs), ", ")
		if rep.Scope {
			job += " (discovering pods as the plain pod jobs do: their kubernetes_sd_configs of role pod)"
		}
		parts = append(parts, job)
	}
	if len(rep.Excluded) > 0 {
		parts = append(parts, "drop rule for sidecar pods in "+strings.Join(quoteAll(rep.Excluded), ", "))
	}
	if len(rep.Carried) > 0 && len(rep.Jobs) > 0 {
		parts = append(parts, fmt.Sprintf("the secure job takes the settings the plain pod jobs share (%s)", strings.Join(rep.Carried, ", ")))
	}
	for _, d := range rep.Differ {
		if len(rep.Jobs) == 0 {
			break
		}
		parts = append(parts, fmt.Sprintf("sidecar pods of %q are scraped by %q from now on, without its %s (the plain pod jobs do not share them), and their series' job label is %q",
			d.Job, rep.Jobs[0], strings.Join(d.Keys, ", "), rep.Jobs[0]))
	}
	if len(rep.Removed) > 0 {
		parts = append(parts, "removed job "+strings.Join(quoteAll(rep.Removed), ", "))
	}
	if len(rep.Kept) > 0 {
		parts = append(parts, "kept your job "+strings.Join(quoteAll(rep.Kept), ", ")+" (this function did not write it; it adds none of that name)")
	}
	if len(rep.Restored) > 0 {
		parts = append(parts, "removed the drop rule for sidecar pods from "+strings.Join(quoteAll(rep.Restored), ", ")+" (they scrape sidecar pods again)")
	}
	msg := fmt.Sprintf("%s%s: %s", v.created, keyWord(v.key), strings.Join(parts, "; "))
	// The note names data.KEY even for a Secret's stringData, as earlier releases
	// did (golden outputs are kept byte for byte); errors name the real field.
	field := "data." + v.key.Name
	if v.key.Path != nil {
		field = v.key.Field()
	}
	return append([]Note{{Ref: krmerr.RefOf(v.obj), Field: field, Message: msg}}, notes...), nil
}

// keyWord names the value in notes: key "NAME" of a ConfigMap or Secret, or
// field PATH of a resource.
func keyWord(k datakey.Key) string {
	if k.Path != nil {
		return "field " + k.Field()
	}
	return fmt.Sprintf("key %q", k.Name)
}

// clipList joins s for a message, each clipped (krmerr.Clip) and quoted when
// quote is set, at most ten of them and a count of the rest.
func clipList(s []string, sep string, quote bool) string {
	var out []string
	for i, x := range s {
		if i == 10 {
			out = append(out, fmt.Sprintf("and %d more", len(s)-i))
			break
		}
		if x = krmerr.Clip(x); quote {
			x = fmt.Sprintf("%q", x)
		}
		out = append(out, x)
	}
	return strings.Join(out, sep)
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = fmt.Sprintf("%q", x)
	}
	return out
}

// workloadNote reports the pod-template edit, when the workload changed; in
// ambient mode labels is the field of the enrolment label and old the record of
// what earlier runs had added.
func workloadNote(original, edited *yaml.RNode, p plan.Plan, old ownership.Record, field, labels, into, suffix string) []Note {
	if yamlnode.SameDecoded(original.YNode(), edited.YNode()) {
		return nil // a re-run, maybe on a copy a tool reformatted
	}
	if p.Ambient != nil {
		return []Note{{Ref: krmerr.RefOf(edited), Field: field, Message: p.AmbientSummary(labels, removedBy(old))}}
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
