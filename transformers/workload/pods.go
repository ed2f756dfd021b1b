package workload

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/alloyconfig"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/config"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/datakey"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/ownership"
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
	if ref != nil && ref.WorkloadOnly {
		pc.src.Item = -1 // the configuration is left alone, wherever it is
		return pc, nil
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
	old, rec, doubts, err := editTemplate(pc.tpl, p, nil)
	if err != nil {
		return Outcome{}, pc.blame(err)
	}
	doubted := doubtNote(krmerr.RefOf(pc.original), pc.tplField+".metadata.annotations."+ownership.Annotation, doubts)
	if pc.src.Item < 0 {
		out, err := pc.workloadOnly(p, old, rec)
		out.Notes = append(doubted, out.Notes...)
		return out, err
	}
	cm := pc.ix.Items[pc.src.Item].Copy()
	key, text, err := datakey.Read(cm, pc.src.Kind, pc.src.Key)
	if err != nil {
		return Outcome{}, krmerr.At(cm, err)
	}
	o := p.Scrape
	o.Scraper = pc.row
	var incs []include
	if pc.row.Syntax == "" { // scrape_config_files: a Prometheus-style config's
		if incs, err = pc.included(cm, key, text, o); err != nil {
			return Outcome{}, err
		}
	}
	for _, inc := range incs {
		o.Included = append(o.Included, inc.text)
	}
	notes, err := editScrape(scrapeValue{obj: cm, key: key, text: text, what: "the " + o.Scraper.Name + " config; " + pc.src.Via}, o, old, &rec, editors[pc.row.Syntax])
	if err != nil {
		return Outcome{}, err
	}
	more, err := pc.editIncluded(cm, incs, o, old)
	if err != nil {
		return Outcome{}, err
	}
	notes = append(notes, more...)
	if err := writeRecord(pc.tpl, rec); err != nil {
		return Outcome{}, pc.blame(err)
	}
	return Outcome{
		Edits: []Edit{{pc.item, pc.workload}, {pc.src.Item, cm}},
		Notes: slices.Concat(doubted, workloadNote(pc.original, pc.workload, p, old, pc.tplField, pc.tplField+".metadata.labels", pc.row.Into(pc.container.Name), ""), notes),
	}, nil
}

// workloadOnly carries the plan out on the workload alone
// (spec.scrapeConfig.workloadOnly) and says, in a warning, what to add to the
// scrape configuration (or, in ambient mode, to take out of it).
func (pc *podController) workloadOnly(p plan.Plan, old, rec ownership.Record) (Outcome, error) {
	if pc.row.Syntax != "" {
		return Outcome{}, krmerr.ConfigErrorf("spec.scrapeConfig.workloadOnly", "gives Prometheus scrape jobs to paste, and %s reads %s configuration; include the ConfigMap holding its config instead", pc.row.Called, pc.row.Syntax)
	}
	rec.Jobs = nil // the function writes no job: the ones pasted are the user's
	if err := writeRecord(pc.tpl, rec); err != nil {
		return Outcome{}, pc.blame(err)
	}
	o := p.Scrape
	o.Scraper = pc.row
	notes := workloadNote(pc.original, pc.workload, p, old, pc.tplField, pc.tplField+".metadata.labels", pc.row.Into(pc.container.Name), "")
	flag, _ := pc.row.ConfigFile(pc.container)
	where := fmt.Sprintf("the scrape configuration container %q reads (%s)", pc.container.Name, pc.row.Passes(flag))
	if o.Remove {
		notes = append(notes, Note{Ref: krmerr.RefOf(pc.original), Field: "spec.scrapeConfig.workloadOnly", Warn: true, Message: fmt.Sprintf(
			"%s was not edited (spec.scrapeConfig.workloadOnly): take out of it the https job %q and the rules on label %s in the plain pod jobs, if you added them; in ambient mode the plain jobs scrape sidecar pods over http",
			where, o.JobName, "__tmp_istio_mtls_sidecar")})
		return Outcome{Edits: []Edit{{pc.item, pc.workload}}, Notes: notes}, nil
	}
	jobs, rules, err := scrapeconfig.Additions(o)
	if err != nil {
		return Outcome{}, err
	}
	notes = append(notes, Note{Ref: krmerr.RefOf(pc.original), Field: "spec.scrapeConfig.workloadOnly", Warn: true, Message: fmt.Sprintf(
		"%s was not edited (spec.scrapeConfig.workloadOnly): until you add these to it, sidecar pods are scraped in plaintext and fail under STRICT.\nAdd to scrape_configs:\n%s\nAnd into relabel_configs of each plain pod job, right after its rule keeping __meta_kubernetes_pod_annotation_prometheus_io_scrape:\n%s",
		where, jobs, rules)})
	return Outcome{Edits: []Edit{{pc.item, pc.workload}}, Notes: notes}, nil
}

// editors edit a scraper's config file, by its language (the table's Syntax).
var editors = map[string]func(string, scrapeconfig.Options) (string, scrapeconfig.Report, error){
	"":      scrapeconfig.Edit,
	"alloy": alloyconfig.Edit,
}

// include is a key of the config's object that the config includes with
// scrape_config_files[index].
type include struct {
	index int
	key   datakey.Key
	text  string
}

// included are the files the configuration (main, key of obj) includes with
// scrape_config_files. Prometheus and vmagent read a relative pattern from the
// config file's directory, whose files are the object's keys. A pattern for
// another directory is refused: the function cannot give its pod jobs the drop
// rules, and they would keep scraping sidecar pods.
func (pc *podController) included(obj *yaml.RNode, key datakey.Key, main string, o scrapeconfig.Options) ([]include, error) {
	patterns, err := scrapeconfig.Included(main, o)
	if err != nil {
		return nil, krmerr.About(obj, key.Field(), "%v", err)
	}
	dir := path.Dir(pc.src.File)
	var out []include
	for i, pat := range patterns {
		rel := pat
		if path.IsAbs(pat) {
			rel = strings.TrimPrefix(pat, dir+"/")
		}
		if (path.IsAbs(pat) && (pc.src.File == "" || rel == pat)) || strings.Contains(rel, "/") {
			return nil, krmerr.About(obj, key.Field(), "scrape_config_files[%d]: %q is not a file of the directory %s, which holds this %s's keys: its plain pod jobs cannot get the rules that hand sidecar pods to the secure job, so those pods would be scraped twice (in plaintext too, which fails under STRICT); put the file into this %s beside the config, or move its jobs into the config",
				i, pat, dir, pc.src.Kind, pc.src.Kind)
		}
		for _, k := range dataKeys(obj) {
			if ok, _ := path.Match(rel, k); !ok || k == key.Name {
				continue
			}
			inc, text, err := datakey.Read(obj, pc.src.Kind, k)
			if err != nil {
				return nil, krmerr.At(obj, err)
			}
			out = append(out, include{i, inc, text})
		}
	}
	return out, nil
}

// editIncluded gives the plain pod jobs of the included files the drop rules
// too (or takes them out).
func (pc *podController) editIncluded(obj *yaml.RNode, incs []include, o scrapeconfig.Options, old ownership.Record) ([]Note, error) {
	if len(incs) == 0 {
		return nil, nil
	}
	_, main, err := datakey.Read(obj, pc.src.Kind, pc.src.Key)
	if err != nil {
		return nil, krmerr.At(obj, err)
	}
	var notes []Note
	for _, inc := range incs {
		o.Owned, o.Migrate = old.Jobs, len(old.Jobs) == 0
		edited, rep, err := scrapeconfig.EditIncluded(inc.text, main, o)
		if err != nil {
			return nil, krmerr.About(obj, inc.key.Field(), "%v (a file the config includes with scrape_config_files[%d])", err, inc.index)
		}
		if edited == inc.text {
			continue
		}
		if err := inc.key.Write(obj, edited); err != nil {
			return nil, krmerr.At(obj, err)
		}
		msg := "removed the drop rule for sidecar pods from " + strings.Join(quoteAll(rep.Restored), ", ")
		if len(rep.Excluded) > 0 {
			msg = "drop rule for sidecar pods in " + strings.Join(quoteAll(rep.Excluded), ", ")
		}
		notes = append(notes, Note{Ref: krmerr.RefOf(obj), Field: inc.key.Field(), Message: fmt.Sprintf(
			"key %q, included by scrape_config_files[%d]: %s", inc.key.Name, inc.index, msg)})
	}
	return notes, nil
}

// dataKeys are the keys of a ConfigMap's or Secret's data and stringData, sorted.
func dataKeys(obj *yaml.RNode) []string {
	var keys []string
	for _, f := range []string{"data", "stringData"} {
		if m, _ := obj.Pipe(yaml.Lookup(f)); m != nil && m.YNode().Kind == yaml.MappingNode {
			for i := 0; i < len(m.YNode().Content); i += 2 {
				keys = append(keys, m.YNode().Content[i].Value)
			}
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}
