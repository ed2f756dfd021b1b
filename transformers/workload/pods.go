package workload

import (
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/config"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/datakey"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/plan"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/podtemplate"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/profiles"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/scrapeconfig"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/scrapers"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/selection"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// podController is a Deployment, StatefulSet or DaemonSet and the ConfigMap or
// Secret key holding its prometheus.yml.
type podController struct {
	ix                 *selection.Index
	item               int
	original, workload *yaml.RNode // as it came in; the copy being edited
	tpl                *yaml.RNode // the copy's pod template
	tplField           string
	container          corev1.Container // the scraper's container
	row                scrapers.Scraper // its row of the scraper table
	src                selection.Source
}

func newPodController(ix *selection.Index, sel selection.Workload, ref *config.ScrapeConfigRef) (*podController, error) {
	pc := &podController{ix: ix, item: sel.Item, original: ix.Items[sel.Item], container: sel.Container, row: selection.RowOf(sel.Container)}
	pc.workload = pc.original.Copy()
	var err error
	if pc.tpl, pc.tplField, err = podtemplate.Template(pc.workload); err != nil {
		return nil, krmerr.At(pc.original, err)
	}
	if pc.src, err = ix.ScrapeConfig(pc.original, pc.tpl, pc.container, ref); err != nil {
		return nil, pc.blame(err)
	}
	return pc, nil
}

// blame names the workload in err: fields are the pod template's.
func (pc *podController) blame(err error) error {
	return blame(pc.original, err, func(f string) string { return krmerr.Path(pc.tplField, f) })
}

func (pc *podController) Target() plan.Target {
	w := pc.original
	return plan.Target{
		Owner:          profiles.Owner{APIVersion: w.GetApiVersion(), Kind: w.GetKind(), Name: w.GetName()},
		Container:      pc.container.Name,
		Scraper:        pc.row.Called,
		Namespace:      w.GetNamespace(),
		ServiceAccount: serviceAccount(pc.tpl, "spec", "serviceAccountName"),
	}
}

// serviceAccount reads the service account name at path of n ("" when unset).
func serviceAccount(n *yaml.RNode, path ...string) string {
	v, _ := n.Pipe(yaml.Lookup(path...))
	if v == nil {
		return ""
	}
	return yaml.GetValue(v)
}

func (pc *podController) Apply(p plan.Plan) (Outcome, error) {
	old, rec, err := editTemplate(pc.tpl, p, nil)
	if err != nil {
		return Outcome{}, pc.blame(err)
	}
	cm := pc.ix.Items[pc.src.Item].Copy()
	key, text, err := datakey.Read(cm, pc.src.Kind, pc.src.Key)
	if err != nil {
		return Outcome{}, krmerr.At(cm, err)
	}
	o := p.Scrape
	o.Scraper = pc.row
	notes, err := editScrape(scrapeValue{obj: cm, key: key, text: text, what: "the " + o.Scraper.Name + " config; " + pc.src.Via}, o, old, &rec, scrapeconfig.Edit)
	if err != nil {
		return Outcome{}, err
	}
	if err := writeRecord(pc.tpl, rec); err != nil {
		return Outcome{}, pc.blame(err)
	}
	return Outcome{
		Edits: []Edit{{pc.item, pc.workload}, {pc.src.Item, cm}},
		Notes: append(workloadNote(pc.original, pc.workload, p, old, pc.tplField, pc.tplField+".metadata.labels", pc.row.Into(pc.container.Name), ""), notes...),
	}, nil
}
