package scrapeconfig

// The list editor: puts our jobs into a job list, replacing the ones an earlier run
// wrote, and gives the plain pod jobs the drop rule for sidecar pods.

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/certs"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/yamlnode"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

func editJobs(jobs *yaml.RNode, o Options, field string) (Report, error) {
	var rep Report
	o.Owned, rep.Unbelieved = believed(jobs, o.Owned)
	at := func(i int) string {
		if field == "" {
			return fmt.Sprintf("[%d]", i)
		}
		return fmt.Sprintf("%s[%d]", field, i)
	}
	// Our jobs are block style; a flow list (scrape_configs: []) would force them
	// into one unreadable flow line.
	jobs.YNode().Style &^= yaml.FlowStyle
	names, err := jobIndex(jobs, at)
	if err != nil {
		return rep, err
	}

	if !o.Remove && !o.included {
		var err error
		if o, err = o.fromPlainJobs(jobs, at, &rep); err != nil {
			return rep, err
		}
	}
	wanted, optional := wantedJobs(o)
	switch {
	case o.Remove || o.included:
		wanted = nil
	case o.SecurePortJob:
		wanted = append(wanted, optional...)
	}
	if !o.included {
		dropUnwanted(jobs, o, wanted, &rep)
	}
	for _, w := range wanted {
		i, ok := names[w.name]
		if !ok {
			jobs.YNode().Content = append(jobs.YNode().Content, w.node().YNode())
			rep.Jobs = append(rep.Jobs, w.name)
			rep.Owned = append(rep.Owned, w.name)
			continue
		}
		existing := jobs.YNode().Content[i]
		if !o.owns(existing) && w.name != o.JobName {
			// A secure-port job of Istio's name that the user has (Istio's
			// secure-metrics sample writes them): theirs stays, ours is not added.
			rep.Kept = append(rep.Kept, w.name)
			continue
		}
		if !o.owns(existing) && !o.TakeOver {
			return rep, krmerr.Errorf(at(i), "a job named %q exists that this function did not write; rename it, set spec.scrapeJob.name to another name, or set spec.scrapeJob.takeOver: true to replace it", w.name)
		}
		rep.Jobs = append(rep.Jobs, w.name)
		rep.Owned = append(rep.Owned, w.name)
		// The job as it stands when its content is ours already: a copy that
		// lost its comments on the way (kustomize, kubectl, the API server) is
		// not written again.
		if fresh := w.node().YNode(); !yamlnode.SameDecoded(existing, fresh) {
			jobs.YNode().Content[i] = fresh
		}
	}
	content := jobs.YNode().Content[:0]
	for _, el := range jobs.YNode().Content {
		if el != nil {
			content = append(content, el)
		}
	}
	jobs.YNode().Content = content

	excluded, restored, err := excludePlainJobs(jobs, o, rep.Owned, at)
	if err != nil {
		return rep, err
	}
	rep.Excluded, rep.Restored = excluded, restored
	return rep, nil
}

// jobIndex maps the job names of the list to their places; a job that is not a
// mapping, or a name used twice, is an error.
func jobIndex(jobs *yaml.RNode, at func(int) string) (map[string]int, error) {
	names := map[string]int{}
	for i, el := range jobs.YNode().Content {
		if el.Kind != yaml.MappingNode {
			return nil, krmerr.Errorf(at(i), "must be a mapping (a job), got a %s", yamlnode.KindWord(el))
		}
		n := yamlnode.GetValue(el, "job_name")
		if _, dup := names[n]; dup && n != "" {
			return nil, krmerr.Errorf(at(i)+".job_name", "job %q is defined twice", n)
		}
		names[n] = i
	}
	return names, nil
}

// fromPlainJobs is o with what the secure job takes from the plain pod jobs it
// stands in for: their scope, the annotations they keep pods by, the settings they
// share; rep says so.
func (o Options) fromPlainJobs(jobs *yaml.RNode, at func(int) string, rep *Report) (Options, error) {
	if len(o.Included) > 0 {
		all := &yaml.Node{Kind: yaml.SequenceNode, Content: append(slices.Clone(jobs.YNode().Content), o.includedJobs()...)}
		n, own := len(jobs.YNode().Content), at
		at = func(i int) string {
			if i < n {
				return own(i)
			}
			return "scrape_config_files (a job of an included file)"
		}
		jobs = yaml.NewRNode(all)
	}
	scope, err := plainScope(jobs, o, at)
	if err != nil {
		return o, err
	}
	o.scope, rep.Scope = scope, scope != nil
	o.keep = plainKeeps(jobs, o)
	o.carry, rep.Differ = plainSettings(plainJobs(jobs, o))
	for i := 0; i < len(o.carry); i += 2 {
		rep.Carried = append(rep.Carried, o.carry[i].Value)
	}
	return o, nil
}

// plainJobs are the plain jobs that get the drop rules, the user's jobs the
// secure job stands in for where a pod has a sidecar.
func plainJobs(jobs *yaml.RNode, o Options) []*yaml.Node {
	var out []*yaml.Node
	for _, el := range jobs.YNode().Content {
		if name := yamlnode.GetValue(el, "job_name"); !o.owns(el) && name != o.JobName && o.dropsFrom(el, name) {
			out = append(out, el)
		}
	}
	return out
}

// carried are the settings of the plain pod jobs that the secure job takes when
// they all have the same: how a pod is scraped and what is kept of its samples,
// never how the scraper authenticates or connects (the secure job's TLS is its
// own). Prometheus's scrape_config keys; vmagent and the collector read them alike.
var carried = []string{
	"honor_labels", "honor_timestamps", "track_timestamps_staleness", "scrape_interval", "scrape_timeout",
	"scrape_protocols", "fallback_scrape_protocol", "metrics_path", "params",
	"sample_limit", "label_limit", "label_name_length_limit", "label_value_length_limit", "target_limit",
	"body_size_limit", "keep_dropped_targets", "metric_relabel_configs",
	"scrape_classic_histograms", "always_scrape_classic_histograms", "scrape_native_histograms",
	"native_histogram_bucket_limit", "native_histogram_min_bucket_factor", "convert_classic_histograms_to_nhcb",
	"metric_name_validation_scheme", "metric_name_escaping_scheme",
}

// secureOwn are the keys the secure job sets itself.
var secureOwn = []string{"job_name", "scheme", "tls_config", "kubernetes_sd_configs", "relabel_configs"}

// Difference names the settings of a plain pod job that the secure job, which
// scrapes its sidecar pods from now on, does not have.
type Difference struct {
	Job  string
	Keys []string
}

// plainSettings returns the settings every plain pod job has alike (carried), as
// key and value nodes to put into the secure job, and for each plain job the
// settings of its that the secure job does not take.
func plainSettings(plain []*yaml.Node) (carry []*yaml.Node, differ []Difference) {
	if len(plain) == 0 {
		return nil, nil
	}
	var taken []string
	for _, key := range carried {
		first := yamlnode.Get(plain[0], key)
		if first == nil {
			continue
		}
		same := true
		for _, j := range plain[1:] {
			if v := yamlnode.Get(j, key); v == nil || !yamlnode.SameDecoded(first, v) {
				same = false
				break
			}
		}
		if same {
			c := yaml.CopyYNode(first)
			c.Anchor, c.HeadComment, c.LineComment, c.FootComment = "", "", "", ""
			carry = append(carry, yamlnode.String(key), c)
			taken = append(taken, key)
		}
	}
	for _, j := range plain {
		var keys []string
		for _, k := range yamlnode.Keys(j) {
			if !slices.Contains(secureOwn, k) && !slices.Contains(taken, k) {
				keys = append(keys, k)
			}
		}
		if len(keys) > 0 {
			differ = append(differ, Difference{Job: yamlnode.GetValue(j, "job_name"), Keys: keys})
		}
	}
	return carry, differ
}

// insertDrops puts copies of the drop rules into rules, right after rule keep
// (the one keeping by the prometheus.io annotation; -1: first).
func insertDrops(rules *yaml.Node, drops []*yaml.RNode, keep int) {
	rules.Style &^= yaml.FlowStyle
	at := keep + 1
	ours := make([]*yaml.Node, len(drops))
	for k, d := range drops {
		ours[k] = yaml.CopyYNode(d.YNode())
	}
	rules.Content = append(rules.Content[:at:at], append(ours, rules.Content[at:]...)...)
}

// plainScope is where the plain pod jobs discover pods: their kubernetes_sd_configs
// entries of role pod (namespaces, selectors, attach_metadata, API server), which
// the secure job takes so it scrapes no pod the plain jobs would not. nil when they
// discover every pod of the cluster as the secure job's own `role: pod` does, or
// when there is no plain pod job. Plain pod jobs of different scopes are an error:
// one secure job cannot take the place of both.
func plainScope(jobs *yaml.RNode, o Options, at func(int) string) ([]*yaml.Node, error) {
	var scope []*yaml.Node
	from, fromAt := "", ""
	for i, el := range jobs.YNode().Content {
		name := yamlnode.GetValue(el, "job_name")
		if o.owns(el) || name == o.JobName || !o.dropsFrom(el, name) {
			continue
		}
		sds := podSDs(el)
		if len(sds) == 0 {
			continue
		}
		if from == "" {
			scope, from, fromAt = sds, name, at(i)
			continue
		}
		if !yamlnode.SameDecoded(&yaml.Node{Kind: yaml.SequenceNode, Content: scope}, &yaml.Node{Kind: yaml.SequenceNode, Content: sds}) {
			return nil, krmerr.Errorf(at(i)+".kubernetes_sd_configs",
				"the plain pod jobs %q and %q discover pods in different scopes (%s.kubernetes_sd_configs differs: namespaces, selectors or API server), and the secure job takes the plain jobs' scope, so one secure job cannot stand in for both; "+
					"give the plain pod jobs the same role: pod discovery, or set spec.scrapeJob.excludeFrom to the jobs of one scope if the others' pods have no sidecar", from, name, fromAt)
		}
	}
	if len(scope) == 1 && yamlnode.SameDecoded(scope[0], bareRolePod()) {
		return nil, nil
	}
	return scope, nil
}

// plainKeeps is which of the two annotations the plain pod jobs keep pods by, so
// the secure job keeps sidecar pods by the same: a configuration with no job for
// prometheus.io/scrape_slow pods (it drops them, or keeps only
// prometheus.io/scrape) does not get them scraped by the secure job either.
func plainKeeps(jobs *yaml.RNode, o Options) keepBy {
	var k keepBy
	seen, dropSlow := false, true
	for _, el := range plainJobs(jobs, o) {
		rules := yamlnode.Get(el, "relabel_configs")
		if rules == nil || rules.Kind != yaml.SequenceNode {
			continue
		}
		for _, r := range rules.Content {
			src := yamlnode.Get(r, "source_labels")
			if src == nil || len(src.Content) != 1 {
				continue
			}
			switch action, label := yamlnode.GetValue(r, "action"), yamlnode.Deref(src.Content[0]).Value; {
			case action == "keep" && label == lblScrape:
				k.scrape, seen = true, true
				dropSlow = dropSlow && dropsSlow(rules)
			case action == "keep" && label == lblScrapeSlow:
				k.slow, seen = true, true
			}
		}
	}
	if !seen || (k.scrape && k.slow) {
		return keepBy{}
	}
	k.dropSlow = k.scrape && dropSlow
	return k
}

// dropsSlow: the rules drop pods annotated prometheus.io/scrape_slow: "true".
func dropsSlow(rules *yaml.Node) bool {
	return slices.ContainsFunc(rules.Content, func(r *yaml.Node) bool {
		src := yamlnode.Get(r, "source_labels")
		return yamlnode.GetValue(r, "action") == "drop" && src != nil && len(src.Content) == 1 &&
			yamlnode.Deref(src.Content[0]).Value == lblScrapeSlow && strings.Trim(yamlnode.GetValue(r, "regex"), "()") == "true"
	})
}

// want is a job the edit puts in, by name.
type want struct {
	name string
	node func() *yaml.RNode
}

// wantedJobs are the secure job and the optional secure-port jobs, each $
// written as the scraper reads it.
func wantedJobs(o Options) (wanted, optional []want) {
	dollar := o.scraper().Dollar
	wanted = []want{{o.JobName, func() *yaml.RNode {
		return withSettings(withScope(escapeDollars(secureJob(o), dollar), o.scope), o.carry)
	}}}
	optional = []want{
		{secureMergedJob, func() *yaml.RNode {
			return escapeDollars(securePortJob(secureMergedJob, lblSecurePort, o.CertsDir, o.scraper().Called), dollar)
		}},
		{secureEnvoyJob, func() *yaml.RNode {
			return escapeDollars(securePortJob(secureEnvoyJob, lblEnvoyPort, o.CertsDir, o.scraper().Called), dollar)
		}},
	}
	return wanted, optional
}

// dropUnwanted takes out (leaving nil in its place) every job an earlier run
// wrote that this run does not want: all of them in ambient mode, the
// secure-port jobs once they are turned off, the secure job under a name
// changed since. Removing, it reports the user's jobs that still read Istio's
// certificate files.
func dropUnwanted(jobs *yaml.RNode, o Options, wanted []want, rep *Report) {
	for i, el := range jobs.YNode().Content {
		name := yamlnode.GetValue(el, "job_name")
		if !o.owns(el) || slices.ContainsFunc(wanted, func(w want) bool { return w.name == name }) {
			if o.Remove && readsIstioCerts(el) {
				rep.Leftover = append(rep.Leftover, name)
			}
			continue
		}
		if o.Remove {
			rep.Removed = append(rep.Removed, name)
		}
		jobs.YNode().Content[i] = nil
	}
}

// excludePlainJobs removes our earlier drop rules from the plain jobs and puts one
// into each job that is to exclude sidecar pods (none with o.Remove). It returns
// the jobs that got it, and those that lost it.
func excludePlainJobs(jobs *yaml.RNode, o Options, owned []string, at func(int) string) (excluded, restored []string, err error) {
	drops, serviceDrops := dropRules(o), serviceDropRules(o)
	for _, d := range append(slices.Clone(drops), serviceDrops...) {
		escapeDollars(d, o.scraper().Dollar)
	}
	targets := map[string]bool{}
	if o.ExcludeFrom != nil {
		for _, n := range *o.ExcludeFrom {
			targets[n] = true
		}
	}
	found := map[string]bool{}
	for i, el := range jobs.YNode().Content {
		j := yaml.NewRNode(el)
		name := yamlnode.GetValue(el, "job_name")
		if slices.Contains(owned, name) {
			continue
		}
		want := o.dropsFrom(el, name) && !o.Remove
		service := !want && !o.Remove && o.ExcludeFrom == nil && isServiceEndpointsJob(el)
		found[name] = true
		if r := yamlnode.Get(el, "relabel_configs"); r != nil && r.Kind != yaml.SequenceNode && r.ShortTag() != yaml.NodeTagNull {
			return nil, nil, krmerr.Errorf(at(i)+".relabel_configs", "must be a list")
		}
		// Only a list the edit changes is made the job's own (an alias in a job
		// the edit leaves alone stays as the user wrote it).
		var rules *yaml.RNode
		undo := func() {}
		if r := yamlnode.Get(el, "relabel_configs"); want || service || (r != nil && slices.ContainsFunc(r.Content, isOurDropRule)) {
			rules, undo = ownSequence(el, "relabel_configs")
		}
		// Remove our earlier drop rules (any version of them), then insert one.
		had := false
		var before []*yaml.Node
		if rules != nil {
			before = slices.Clone(rules.YNode().Content)
			kept := rules.YNode().Content[:0]
			for _, r := range rules.YNode().Content {
				if !isOurDropRule(r) {
					kept = append(kept, r)
				} else {
					had = true
				}
			}
			rules.YNode().Content = kept
		}
		if !want && !service {
			if had {
				restored = append(restored, name)
			}
			continue
		}
		if rules == nil {
			if rules, err = j.Pipe(yaml.LookupCreate(yaml.SequenceNode, "relabel_configs")); err != nil {
				return nil, nil, err
			}
		}
		if service {
			insertDrops(rules.YNode(), serviceDrops, keepIndex(rules.YNode(), lblServiceScrape))
		} else {
			insertDrops(rules.YNode(), drops, keepScrapeIndex(rules.YNode()))
		}
		if yamlnode.SameDecoded(&yaml.Node{Kind: yaml.SequenceNode, Content: before}, rules.YNode()) {
			// The rules as they stood (a copy that lost its comments stays so,
			// an alias stays an alias).
			rules.YNode().Content = before
			undo()
		}
		excluded = append(excluded, name)
	}
	if o.ExcludeFrom != nil && !o.included {
		if err := o.excludeFromDefined(found); err != nil {
			return nil, nil, err
		}
	}
	return excluded, restored, nil
}

// includedJobs are the jobs of the files the configuration includes
// (o.Included); a file that does not parse is EditIncluded's to report.
func (o Options) includedJobs() []*yaml.Node {
	var out []*yaml.Node
	for _, text := range o.Included {
		if root, err := parse(text); err == nil {
			if inc := yamlnode.Get(root.YNode(), "scrape_configs"); inc != nil && inc.Kind == yaml.SequenceNode {
				out = append(out, inc.Content...)
			}
		}
	}
	return out
}

// excludeFromDefined refuses a job spec.scrapeJob.excludeFrom names that neither
// the configuration (found) nor a file it includes defines.
func (o Options) excludeFromDefined(found map[string]bool) error {
	for _, j := range o.includedJobs() {
		found[yamlnode.GetValue(j, "job_name")] = true
	}
	for _, n := range *o.ExcludeFrom {
		if !found[n] {
			return krmerr.Errorf("", "spec.scrapeJob.excludeFrom names job %q, which the scrape configuration does not define", n)
		}
	}
	return nil
}

// readsIstioCerts: the job's tls_config names one of the files istio-proxy writes
// to OUTPUT_CERTS, wherever they are mounted.
func readsIstioCerts(job *yaml.Node) bool {
	tls := yamlnode.Get(job, "tls_config")
	if tls == nil {
		return false
	}
	for _, f := range []string{"ca_file", "cert_file", "key_file"} {
		if slices.Contains([]string{certs.CA, certs.Chain, certs.Key}, path.Base(yamlnode.GetValue(tls, f))) {
			return true
		}
	}
	return false
}

// isPlainPodJob: role pod, and a keep rule on prometheus_io_scrape*.
func isPlainPodJob(job *yaml.Node) bool {
	if len(podSDs(job)) == 0 {
		return false
	}
	rules := yamlnode.Get(job, "relabel_configs")
	return rules != nil && keepScrapeIndex(rules) >= 0
}

// podSDs are the job's kubernetes_sd_configs entries of role pod.
func podSDs(job *yaml.Node) []*yaml.Node {
	var out []*yaml.Node
	if sds := yamlnode.Get(job, "kubernetes_sd_configs"); sds != nil && sds.Kind == yaml.SequenceNode {
		for _, sd := range sds.Content {
			if yamlnode.GetValue(sd, "role") == "pod" {
				out = append(out, yamlnode.Deref(sd))
			}
		}
	}
	return out
}

// dropsFrom tells whether the plain job gets the drop rules: the ones
// spec.scrapeJob.excludeFrom names, or else every role-pod job keeping
// prometheus_io_scrape*.
func (o Options) dropsFrom(job *yaml.Node, name string) bool {
	if o.ExcludeFrom == nil {
		return isPlainPodJob(job)
	}
	return slices.Contains(*o.ExcludeFrom, name)
}

// ownSequence returns the list under key of mapping m for editing, made m's own
// where it is not: an alias is replaced by a copy of what it names, and a list
// merged in with `<<` is copied into m under key (Prometheus reads m's own key
// first). A list with an anchor stays shared: the aliases of it read the edit
// too. nil when m has no such list. undo puts m back as it was.
func ownSequence(m *yaml.Node, key string) (list *yaml.RNode, undo func()) {
	undo = func() {}
	v := yamlnode.Get(m, key)
	if v == nil || v.Kind != yaml.SequenceNode {
		return nil, undo
	}
	own := yamlnode.Field(m, key)
	switch {
	case own != nil && own.Kind == yaml.SequenceNode:
		return yaml.NewRNode(own), undo
	case own != nil: // an alias
		saved := *own
		*own = *copyUnanchored(v)
		return yaml.NewRNode(own), func() { *own = saved }
	}
	n := len(m.Content)
	c := copyUnanchored(v)
	m.Content = append(m.Content, yamlnode.String(key), c)
	return yaml.NewRNode(c), func() { m.Content = m.Content[:n] }
}

// copyUnanchored copies list n one level deep: a new list node of its elements'
// copies, none of them carrying an anchor (the original keeps it; aliases in the
// copy still name the originals).
func copyUnanchored(n *yaml.Node) *yaml.Node {
	c := *n
	c.Anchor, c.HeadComment, c.LineComment, c.FootComment = "", "", "", ""
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, e := range n.Content {
		ce := yaml.CopyYNode(e)
		ce.Anchor = ""
		c.Content[i] = ce
	}
	return &c
}

// lblServiceScrape is the Service annotation the prometheus chart's
// kubernetes-service-endpoints jobs keep targets by.
const lblServiceScrape = "__meta_kubernetes_service_annotation_prometheus_io_scrape"

// isServiceEndpointsJob: a job of role endpoints or endpointslice (targets that
// may be pods) keeping the targets of Services annotated prometheus.io/scrape*.
func isServiceEndpointsJob(job *yaml.Node) bool {
	endpoints := false
	if sds := yamlnode.Get(job, "kubernetes_sd_configs"); sds != nil && sds.Kind == yaml.SequenceNode {
		for _, sd := range sds.Content {
			if r := yamlnode.GetValue(sd, "role"); r == "endpoints" || r == "endpointslice" {
				endpoints = true
			}
		}
	}
	rules := yamlnode.Get(job, "relabel_configs")
	return endpoints && rules != nil && rules.Kind == yaml.SequenceNode && keepIndex(rules, lblServiceScrape) >= 0
}

func keepScrapeIndex(rules *yaml.Node) int { return keepIndex(rules, lblScrape) }

// keepIndex is the index of the first keep rule on a source label starting with
// prefix, or -1.
func keepIndex(rules *yaml.Node, prefix string) int {
	for i, r := range rules.Content {
		if yamlnode.GetValue(r, "action") != "keep" {
			continue
		}
		src := yamlnode.Get(r, "source_labels")
		if src == nil {
			continue
		}
		for _, l := range src.Content {
			if strings.HasPrefix(yamlnode.Deref(l).Value, prefix) {
				return i
			}
		}
	}
	return -1
}
