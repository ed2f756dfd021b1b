package workload

import (
	"fmt"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/datakey"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/kinds"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/operator"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/ownership"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/plan"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/profiles"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/scrapeconfig"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/selection"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/yamlnode"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// operatorResource is a prometheus-operator Prometheus or PrometheusAgent and
// the Secret of its additionalScrapeConfigs (created when it has none).
type operatorResource struct {
	ix           *selection.Index
	item         int
	original, cr *yaml.RNode // as it came in; the copy being edited
	tpl          *yaml.RNode // the copy's pod-template view
}

func newOperatorResource(ix *selection.Index, sel selection.Workload) (*operatorResource, error) {
	o := &operatorResource{ix: ix, item: sel.Item, original: ix.Items[sel.Item]}
	o.cr = o.original.Copy()
	var err error
	if o.tpl, err = operator.Template(o.cr); err != nil {
		return nil, krmerr.At(o.original, err)
	}
	return o, nil
}

// blame names the resource in err: the view's metadata is its spec.podMetadata,
// the view's spec its spec.
func (o *operatorResource) blame(err error) error {
	return blame(o.original, err, func(f string) string {
		if rest, ok := strings.CutPrefix(f, "metadata"); ok {
			return "spec.podMetadata" + rest
		}
		return f
	})
}

// Target: the pods are the operator's StatefulSet's, and the certificates go into
// spec.volumeMounts, which the operator gives its prometheus container.
func (o *operatorResource) Target() plan.Target {
	return plan.Target{
		Owner:          profiles.Owner{APIVersion: "apps/v1", Kind: "StatefulSet", Name: operator.StatefulSetName(o.cr)},
		Namespace:      o.cr.GetNamespace(),
		ServiceAccount: serviceAccount(o.cr, "spec", "serviceAccountName"),
	}
}

func (o *operatorResource) Apply(p plan.Plan) (Outcome, error) {
	old, err := editTemplate(o.tpl, p, func(rec *ownership.Record) error {
		if p.Class.Remove {
			err := p.Class.RemoveFrom(o.cr, rec.ScrapeClass != "")
			rec.ScrapeClass, rec.ScrapeClassUsersDefault = "", false
			return err
		}
		owned, err := p.Class.Ensure(o.cr, operator.Owned{Name: rec.ScrapeClass, UsersDefault: rec.ScrapeClassUsersDefault})
		if err != nil {
			return err
		}
		rec.ScrapeClass, rec.ScrapeClassUsersDefault = owned.Name, owned.UsersDefault
		return nil
	})
	if err != nil {
		return Outcome{}, o.blame(err)
	}
	out := Outcome{Notes: workloadNote(o.original, o.cr, p, old, "spec", "spec.podMetadata.labels", "the operator's prometheus container (spec.volumeMounts)",
		fmt.Sprintf("; scrape class %q in spec.scrapeClasses", operator.ScrapeClassName))}
	out.Edits = []Edit{{o.item, o.cr}}

	v, index, err := o.scrapeValue(p.Scrape.Remove)
	if err != nil {
		return Outcome{}, err
	}
	var edits []Edit
	var notes []Note
	switch {
	case v.external != "":
		edits, notes, err = o.scrapeConfigResource(p, v.external)
	case v.obj != nil: // none: ambient mode with no Secret referenced, nothing to take out
		edits, notes, err = o.editScrapeValue(v, index, p.Scrape)
	}
	if err != nil {
		return Outcome{}, err
	}
	if p.Scrape.Remove {
		e, n := o.dropScrapeConfig()
		edits, notes = append(edits, e...), append(notes, n...)
	}
	out.Edits, out.Notes = append(out.Edits, edits...), append(out.Notes, notes...)
	out.Notes = append(out.Notes, o.monitorNotes(p)...)
	return out, nil
}

// monitorNotes are about the PodMonitors and ScrapeConfigs the resource selects:
// how to opt them in to the scrape class, or, in ambient mode, which of them
// still name the class it removed.
func (o *operatorResource) monitorNotes(p plan.Plan) []Note {
	if p.Ambient != nil {
		mons := operator.SelectedMonitors(o.cr, o.ix.Items, true)
		if len(mons) == 0 {
			return nil
		}
		return []Note{{Ref: krmerr.RefOf(o.cr), Field: "spec.scrapeClasses", Warn: true, Message: fmt.Sprintf(
			"%s select(s) %s, which name scrape class %q: ambient mode removed it, so prometheus-operator rejects them; take scrapeClass out of them (ztunnel carries their plain scrapes over mTLS)",
			o.cr.GetName(), strings.Join(mons, ", "), operator.ScrapeClassName)}}
	}
	mons := operator.SelectedMonitors(o.cr, o.ix.Items, false)
	if len(mons) == 0 {
		return nil
	}
	return []Note{{Ref: krmerr.RefOf(o.cr), Field: "spec.scrapeClasses", Message: fmt.Sprintf(
		"%s select(s) %s: their own tlsConfig cannot reference certificate files; to scrape sidecar pods over mTLS set scrapeClass: %s on them",
		o.cr.GetName(), strings.Join(mons, ", "), operator.ScrapeClassName)}}
}

// scrapeConfig is the index of the ScrapeConfig named as the function names its
// own, in the resource's namespace; -1 when there is none.
func (o *operatorResource) scrapeConfig() int {
	for i, n := range o.ix.Items {
		if n.GetKind() == "ScrapeConfig" && strings.HasPrefix(n.GetApiVersion(), kinds.OperatorGroup+"/") &&
			n.GetName() == operator.ScrapeConfigName(o.cr) && n.GetNamespace() == o.cr.GetNamespace() {
			return i
		}
	}
	return -1
}

// scrapeConfigResource delivers the secure job where prometheus-operator loads it
// when the additionalScrapeConfigs Secret (secret) is managed outside the list: a
// ScrapeConfig the resource's scrapeConfigSelector selects, with the istio-mtls
// scrape class. The Secret and the reference stay as they are.
func (o *operatorResource) scrapeConfigResource(p plan.Plan, secret string) ([]Edit, []Note, error) {
	sc, err := operator.NewScrapeConfig(o.cr, scrapeconfig.OperatorScrapeConfig(p.Scrape, operator.ScrapeClassName))
	if err != nil {
		return nil, nil, o.blame(err)
	}
	index, verb := o.scrapeConfig(), "created"
	if index >= 0 {
		existing := o.ix.Items[index]
		if !operator.IsCreatedScrapeConfig(existing, o.cr) && !p.Scrape.TakeOver {
			return nil, nil, krmerr.About(existing, "metadata.name", "a ScrapeConfig named %q exists that this function did not write; rename it, or set spec.scrapeJob.takeOver: true to replace it", existing.GetName())
		}
		verb = "replaced"
		if yamlnode.SameContent(existing.YNode(), sc.YNode()) {
			return []Edit{{index, sc}}, nil, nil
		}
	}
	return []Edit{{index, sc}}, []Note{
		{Ref: krmerr.RefOf(sc), Field: "spec", Message: fmt.Sprintf(
			"%s: the https job for sidecar pods, selected by spec.scrapeConfigSelector of %s %s, TLS from scrape class %q; spec.additionalScrapeConfigs names Secret %q, which is not in the list and stays as it is",
			verb, o.cr.GetKind(), o.cr.GetName(), operator.ScrapeClassName, secret)},
		{Ref: krmerr.RefOf(o.cr), Field: "spec.additionalScrapeConfigs", Warn: true, Message: fmt.Sprintf(
			"the plain pod jobs in Secret %q are not edited (it is not in the list): a sidecar pod they keep is also scraped in plaintext, and fails under STRICT; give them the rules this function puts into plain pod jobs (README, \"What it changes in prometheus.yml\")", secret)},
	}, nil
}

// dropScrapeConfig deletes the ScrapeConfig an earlier run created (ambient mode)
// and says so.
func (o *operatorResource) dropScrapeConfig() ([]Edit, []Note) {
	i := o.scrapeConfig()
	if i < 0 || !operator.IsCreatedScrapeConfig(o.ix.Items[i], o.cr) {
		return nil, nil
	}
	return []Edit{{Index: i}}, []Note{{Ref: krmerr.RefOf(o.ix.Items[i]), Field: "metadata.name", Message: fmt.Sprintf(
		"deleted: the function had created it for %s %s", o.cr.GetKind(), o.cr.GetName())}}
}

// editScrapeValue edits the additional scrape configs v (item index, -1: created)
// and, when removing, deletes the Secret an earlier run created.
func (o *operatorResource) editScrapeValue(v scrapeValue, index int, opts scrapeconfig.Options) ([]Edit, []Note, error) {
	notes, err := editScrape(v, opts, scrapeconfig.EditJobList)
	if err != nil {
		return nil, nil, err
	}
	gone, err := o.dropCreatedSecret(v, opts.Remove)
	if err != nil {
		return nil, nil, err
	}
	if !gone {
		return []Edit{{index, v.obj}}, notes, nil
	}
	return []Edit{{Index: index}}, append(notes, Note{Ref: krmerr.RefOf(v.obj), Field: "metadata.name", Message: fmt.Sprintf(
		"deleted: the function had created it for spec.additionalScrapeConfigs of %s %s, which no longer references it", o.cr.GetKind(), o.cr.GetName())}), nil
}

// dropCreatedSecret, when removing, deletes the Secret an earlier run created once
// it holds no job any more, and takes the resource's reference to it out.
func (o *operatorResource) dropCreatedSecret(v scrapeValue, removing bool) (bool, error) {
	if !removing || !operator.IsCreatedSecret(v.obj, o.cr) {
		return false, nil
	}
	_, text, err := datakey.Read(v.obj, "Secret", v.key.Name)
	if err != nil {
		return false, krmerr.At(v.obj, err)
	}
	if t := strings.TrimSpace(text); t != "" && t != "[]" {
		return false, nil // the user put jobs of their own into it
	}
	return true, operator.Unreference(o.cr)
}

// scrapeValue is the additional scrape configs: the Secret the resource
// references (index in the list), or a new one it is pointed at (index -1) —
// except when removing, where a resource that references none has nothing to
// take out (the zero scrapeValue).
func (o *operatorResource) scrapeValue(removing bool) (scrapeValue, int, error) {
	cr := o.cr
	v := scrapeValue{what: fmt.Sprintf("the additional scrape configs of %s %s", cr.GetKind(), cr.GetName())}
	name, key, err := operator.AdditionalScrapeConfigs(cr)
	if err != nil {
		return v, 0, o.blame(err)
	}
	if name == "" && removing {
		return scrapeValue{}, 0, nil
	}
	if name == "" {
		if v.obj, err = operator.NewScrapeSecret(cr); err != nil {
			return v, 0, krmerr.At(o.original, err) // about the resource's own metadata.name
		}
		v.key = datakey.Key{Kind: "Secret", Name: operator.AdditionalKey, Form: datakey.Base64}
		v.created = "created, referenced by spec.additionalScrapeConfigs; "
		return v, -1, nil
	}
	i, err := o.ix.Lookup("Secret", cr.GetNamespace(), name)
	if err != nil {
		return v, 0, o.blame(krmerr.Errorf("spec.additionalScrapeConfigs", "%v", err))
	}
	if i < 0 && removing {
		return scrapeValue{}, 0, nil // not in the list: no earlier run can have written into it
	}
	if i < 0 {
		v.external = name // managed outside this render: the job goes into a ScrapeConfig
		return v, -1, nil
	}
	v.obj = o.ix.Items[i].Copy()
	if v.key, v.text, err = datakey.Read(v.obj, "Secret", key); err != nil {
		return v, 0, krmerr.At(v.obj, err)
	}
	return v, i, nil
}
