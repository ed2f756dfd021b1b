// Package scrapeconfig edits a scraper's Prometheus-style scrape configuration
// (a prometheus.yml, a vmagent -promscrape.config file, the collector's
// prometheus receiver, or a bare job list) as a YAML node tree: it adds (or
// replaces) the https job that scrapes Istio sidecar pods with the workload
// certificates, and inserts drop rules into the plain pod jobs so no pod is
// scraped twice. Which jobs are the function's is the ownership record's to
// say (Options.Owned). The user's comments, key order, quoting and other jobs
// are kept.
//
// The package is cut along its seams: jobs.go is the job model (the jobs and rules
// written, and how they are recognised), edit.go the list editor, and render.go
// with splice.go the text-preserving renderer (the edit spliced into the user's
// lines; a whole-document render where it cannot be). Reading and writing the
// value in its ConfigMap or Secret is package datakey's.
package scrapeconfig

import (
	"slices"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/scrapers"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/yamlnode"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Options are the scrape settings of the function config.
type Options struct {
	JobName string
	// CertsDir is where Prometheus reads the certificates: files certs.CA, Chain
	// and Key in it (spec.certificates.mountPath).
	CertsDir string
	// ExcludeFrom: nil = every role-pod job keeping prometheus_io_scrape*.
	ExcludeFrom   *[]string
	TakeOver      bool
	SecurePortJob bool
	// Remove takes out every job and drop rule an earlier run wrote and adds
	// none (ambient mode); the plain jobs then scrape sidecar pods again.
	Remove bool
	// Scraper is the scraper table's row of the file's program (its layout);
	// the zero value is Prometheus.
	Scraper scrapers.Scraper
	// Receiver is the collector's prometheus receiver the jobs go into
	// (spec.scrapeConfig.receiver); unset, the only one.
	Receiver string
	// Owned are the jobs the ownership record says an earlier run wrote into
	// this configuration: the only jobs the edit replaces or removes unasked.
	Owned []string
	// Migrate: the record names no jobs, as an earlier release's output does
	// not; a job carrying that release's job_name comment is then taken as
	// its, once, and the record written after this run names it.
	Migrate bool
	// Included are the texts of the files the configuration includes with
	// scrape_config_files: their plain pod jobs count with the configuration's
	// own for the secure job's scope, the annotations and the settings.
	Included []string

	// scope is the plain pod jobs' pod discovery, for the secure job (plainScope).
	scope []*yaml.Node
	// keep is the annotations they keep pods by (plainKeeps).
	keep keepBy
	// carry are the settings they share, as key and value nodes (plainSettings).
	carry []*yaml.Node
	// included: the list is a file the configuration includes
	// (EditIncluded): its plain pod jobs get the drop rules, and no job is added.
	included bool
}

// keepBy says which prometheus.io annotations the plain pod jobs keep pods by;
// the zero value is both (or no plain pod job: the secure job's own default).
type keepBy struct {
	scrape, slow bool
	// dropSlow: the jobs keeping prometheus.io/scrape drop pods also annotated
	// scrape_slow.
	dropSlow bool
}

// owns tells whether job is one an earlier run wrote: the record names it
// (or, migrating an earlier release's output, that release's comment marks it).
func (o Options) owns(job *yaml.Node) bool {
	if slices.Contains(o.Owned, yamlnode.GetValue(job, "job_name")) {
		return true
	}
	return o.Migrate && legacyMarked(job) && ourJob(job)
}

func (o Options) scraper() scrapers.Scraper {
	if o.Scraper.Name == "" {
		return scrapers.Prometheus()
	}
	return o.Scraper
}

// Report says what Edit did.
type Report struct {
	Jobs     []string // jobs added or replaced
	Excluded []string // plain jobs that got the drop rule
	Removed  []string // our jobs taken out (Options.Remove)
	Restored []string // plain jobs whose drop rule was taken out and not put back
	// Leftover (Options.Remove) are jobs of the user's whose tls_config reads
	// Istio's certificate files (certs.CA, Chain, Key), which nothing writes once
	// the sidecar is gone.
	Leftover []string
	// Kept are secure-port jobs of the user's with the names of the function's
	// (Istio's sample names them so): they stay, and the function's are not added.
	Kept []string
	// Owned are the function's jobs in the configuration after the edit: what
	// the ownership record is to name.
	Owned []string
	// Unbelieved are the jobs the record named (Options.Owned) that are not
	// what the function writes (ourJob): left as they are, and no longer named.
	Unbelieved []string
	// Scope: the secure job discovers pods as the plain pod jobs do (their
	// namespaces, selectors or API server), not in the whole cluster.
	Scope bool
	// Carried are the plain pod jobs' shared settings the secure job took;
	// Differ, for each plain pod job, those it did not.
	Carried []string
	Differ  []Difference
}

// Edit adds the jobs of o to the prometheus.yml in doc and returns the new text.
// A document whose top-level keys are not all the scraper's (its row's
// TopLevel: Prometheus's, by default) is refused: it is some other program's
// file, and nothing is written into it.
func Edit(doc string, o Options) (string, Report, error) {
	root, err := parse(doc)
	if err != nil {
		return "", Report{}, err
	}
	if err := checkLayout(root, o.scraper()); err != nil {
		return "", Report{}, err
	}
	path := []string{"scrape_configs"}
	if o.scraper().Receivers {
		name, err := receiver(root, o.Receiver)
		if err != nil {
			return "", Report{}, err
		}
		path = []string{"receivers", name, "config", "scrape_configs"}
	}
	field := strings.Join(path, ".")
	// `scrape_configs:` with nothing after it is an empty list to Prometheus.
	if n, _ := root.Pipe(yaml.Lookup(path...)); n != nil && n.YNode().Kind == yaml.ScalarNode && n.YNode().ShortTag() == yaml.NodeTagNull {
		*n.YNode() = yaml.Node{Kind: yaml.SequenceNode}
	}
	jobs, err := root.Pipe(yaml.LookupCreate(yaml.SequenceNode, path...))
	if err != nil {
		return "", Report{}, krmerr.Errorf(field, "%v", err)
	}
	if jobs.YNode().Kind != yaml.SequenceNode {
		return "", Report{}, krmerr.Errorf(field, "must be a list of jobs, got a %s", yamlnode.KindWord(jobs.YNode()))
	}
	return editAndRender(doc, root, jobs, o, field)
}

// ReceiverOf is the name of the collector's prometheus receiver that doc's
// jobs go into, as Edit chooses it.
func ReceiverOf(doc, named string) (string, error) {
	root, err := parse(doc)
	if err != nil {
		return "", err
	}
	return receiver(root, named)
}

// receiver picks the collector's prometheus receiver the jobs go into: the one
// named, or the only one. The function adds no receiver and no pipeline.
func receiver(root *yaml.RNode, named string) (string, error) {
	recv, _ := root.Pipe(yaml.Lookup("receivers"))
	var names []string
	if recv != nil && recv.YNode().Kind == yaml.MappingNode {
		for i := 0; i+1 < len(recv.YNode().Content); i += 2 {
			if k := recv.YNode().Content[i].Value; k == "prometheus" || strings.HasPrefix(k, "prometheus/") {
				names = append(names, k)
			}
		}
	}
	switch {
	case named != "" && slices.Contains(names, named):
		return named, nil
	case named != "":
		return "", krmerr.Errorf("receivers", "has no receiver %q (spec.scrapeConfig.receiver); its prometheus receivers: %s", named, orNone(names))
	case len(names) == 1:
		return names[0], nil
	case len(names) == 0:
		return "", krmerr.Errorf("receivers", "has no prometheus receiver, so there is no scrape config to add the job to; add one (receivers: {prometheus: {config: {scrape_configs: []}}}) and name it in a metrics pipeline: the function invents neither")
	}
	return "", krmerr.Errorf("receivers", "has %d prometheus receivers (%s); name the one the job goes into with spec.scrapeConfig.receiver", len(names), strings.Join(names, ", "))
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// escapeDollars writes every $ in the scalars of n as dollar, the way the
// scraper's file reads a literal $ (the collector: $$).
func escapeDollars(n *yaml.RNode, dollar string) *yaml.RNode {
	if dollar == "$" {
		return n
	}
	var walk func(*yaml.Node)
	walk = func(y *yaml.Node) {
		if y.Kind == yaml.ScalarNode {
			y.Value = strings.ReplaceAll(y.Value, "$", dollar)
		}
		for _, c := range y.Content {
			walk(c)
		}
	}
	walk(n.YNode())
	return n
}

// Additions is what Edit adds to a configuration it cannot see, as text to paste
// into it: the secure jobs (list elements for scrape_configs) and the rules for
// the plain pod jobs (list elements for their relabel_configs, after the rule
// keeping prometheus_io_scrape), each $ written as the scraper reads it.
func Additions(o Options) (jobs, rules string, err error) {
	list := &yaml.Node{Kind: yaml.SequenceNode}
	wanted, optional := wantedJobs(o)
	if o.SecurePortJob {
		wanted = append(wanted, optional...)
	}
	for _, w := range wanted {
		j := w.node().YNode()
		j.Content[1].LineComment = "" // pasted, the job is the user's: no "managed" note
		list.Content = append(list.Content, j)
	}
	if jobs, err = yaml.NewRNode(list).String(); err != nil {
		return "", "", err
	}
	drops := &yaml.Node{Kind: yaml.SequenceNode}
	for _, d := range dropRules(o) {
		drops.Content = append(drops.Content, escapeDollars(d, o.scraper().Dollar).YNode())
	}
	rules, err = yaml.NewRNode(drops).String()
	return jobs, rules, err
}

// EditJobList does the same on a bare list of jobs, the form of prometheus-operator's
// additionalScrapeConfigs.
func EditJobList(doc string, o Options) (string, Report, error) {
	var root *yaml.RNode
	if err := TooLarge(doc); err != nil {
		return "", Report{}, err
	}
	if strings.TrimSpace(doc) == "" {
		root = yaml.NewRNode(&yaml.Node{Kind: yaml.SequenceNode})
	} else {
		var err error
		if root, err = yaml.Parse(doc); err != nil {
			return "", Report{}, krmerr.Errorf("", "the additional scrape configs are not valid YAML: %v", err)
		}
		if root.YNode().Kind == yaml.ScalarNode && root.YNode().Tag == yaml.NodeTagNull {
			root = yaml.NewRNode(&yaml.Node{Kind: yaml.SequenceNode})
		}
		if err := duplicateKey(root); err != nil {
			return "", Report{}, err
		}
		if root.YNode().Kind != yaml.SequenceNode {
			return "", Report{}, krmerr.Errorf("", "the additional scrape configs must be a YAML list of jobs, got a %s", yamlnode.KindWord(root.YNode()))
		}
	}
	return editAndRender(doc, root, root, o, "")
}

// checkLayout refuses a document whose top-level keys the scraper s does not
// have.
func checkLayout(root *yaml.RNode, s scrapers.Scraper) error {
	var foreign []string
	content := root.YNode().Content
	for i := 0; i+1 < len(content); i += 2 {
		if k := content[i].Value; !slices.Contains(s.TopLevel, k) {
			foreign = append(foreign, k)
		}
	}
	if len(foreign) == 0 {
		return nil
	}
	return krmerr.Errorf("", "is not a %s configuration: its top-level keys %s are not %s's (%s), so nothing was written into it; "+
		"if the workload runs several containers, name the %s one with spec.target.container, or name the object and key holding its config with spec.scrapeConfig",
		s.Name, strings.Join(foreign, ", "), s.Name, strings.Join(s.TopLevel, ", "), s.Name)
}

// MaxConfigSize bounds a configuration read: the API server stores no object
// larger than 1.5 MiB (etcd's request limit; 1 MiB of data in a ConfigMap or
// Secret), so a larger one can never be applied, and the edit's time and
// memory grow with it.
const MaxConfigSize = 3 << 19

// TooLarge refuses a configuration past MaxConfigSize.
func TooLarge(doc string) error {
	if len(doc) > MaxConfigSize {
		return krmerr.Errorf("", "is %.1f MiB, larger than any object the API server stores (1.5 MiB), so it could not be applied; the function does not read it", float64(len(doc))/(1<<20))
	}
	return nil
}

func parse(doc string) (*yaml.RNode, error) {
	if err := TooLarge(doc); err != nil {
		return nil, err
	}
	if strings.TrimSpace(doc) == "" {
		return yaml.NewRNode(&yaml.Node{Kind: yaml.MappingNode}), nil
	}
	root, err := yaml.Parse(doc)
	if err != nil {
		return nil, krmerr.Errorf("", "prometheus.yml is not valid YAML: %v", err)
	}
	if root.YNode().Kind != yaml.MappingNode {
		return nil, krmerr.Errorf("", "prometheus.yml must be a YAML mapping, got a %s", yamlnode.KindWord(root.YNode()))
	}
	return root, duplicateKey(root)
}

// duplicateKey refuses a configuration with a key twice in one mapping: the
// scraper's loader refuses it too (Prometheus's strict YAML), and an edit of the
// first would not be what the scraper reads.
func duplicateKey(root *yaml.RNode) error {
	if p := yamlnode.DuplicateKey(root.YNode()); p != "" {
		return krmerr.Errorf(p, "appears twice in its mapping; the scraper refuses such a file (YAML forbids duplicate keys): remove one")
	}
	return nil
}
