package target

import (
	"fmt"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/datakey"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/operator"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/ownership"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/plan"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/profiles"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/scrapeconfig"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/selection"
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
	return plan.Target{Owner: profiles.Owner{APIVersion: "apps/v1", Kind: "StatefulSet", Name: operator.StatefulSetName(o.cr)}}
}

func (o *operatorResource) Apply(p plan.Plan) (Outcome, error) {
	err := editTemplate(o.tpl, p, func(rec *ownership.Record) error {
		if err := p.Class.Ensure(o.cr, rec.ScrapeClass != ""); err != nil {
			return err
		}
		rec.ScrapeClass = operator.ScrapeClassName
		return nil
	})
	if err != nil {
		return Outcome{}, o.blame(err)
	}
	out := Outcome{Notes: workloadNote(o.original, o.cr, p, "spec", "the operator's prometheus container (spec.volumeMounts)",
		fmt.Sprintf("; scrape class %q in spec.scrapeClasses", operator.ScrapeClassName))}

	v, index, err := o.scrapeValue()
	if err != nil {
		return Outcome{}, err
	}
	note, err := editScrape(v, p.Scrape, scrapeconfig.EditJobList)
	if err != nil {
		return Outcome{}, err
	}
	if note != nil {
		out.Notes = append(out.Notes, *note)
	}
	out.Edits = []Edit{{o.item, o.cr}, {index, v.obj}}

	if mons := operator.SelectedMonitors(o.cr, o.ix.Items); len(mons) > 0 {
		out.Notes = append(out.Notes, Note{Ref: krmerr.RefOf(o.cr), Field: "spec.scrapeClasses", Message: fmt.Sprintf(
			"%s select(s) %s: their own tlsConfig cannot reference certificate files; to scrape sidecar pods over mTLS set scrapeClass: %s on them",
			o.cr.GetName(), strings.Join(mons, ", "), operator.ScrapeClassName)})
	}
	return out, nil
}

// scrapeValue is the additional scrape configs: the Secret the resource
// references (index in the list), or a new one it is pointed at (index -1).
func (o *operatorResource) scrapeValue() (scrapeValue, int, error) {
	cr := o.cr
	v := scrapeValue{what: fmt.Sprintf("the additional scrape configs of %s %s", cr.GetKind(), cr.GetName())}
	name, key, err := operator.AdditionalScrapeConfigs(cr)
	if err != nil {
		return v, 0, o.blame(err)
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
	if i < 0 {
		return v, 0, o.blame(krmerr.Errorf("spec.additionalScrapeConfigs", "references Secret %q (key %q), which is not in the list of resources: the function cannot edit what it cannot see; include the Secret, or remove the reference and the function creates one", name, key))
	}
	v.obj = o.ix.Items[i].Copy()
	if v.key, v.text, err = datakey.Read(v.obj, "Secret", key); err != nil {
		return v, 0, krmerr.At(v.obj, err)
	}
	return v, i, nil
}
