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
	at := func(i int) string {
		if field == "" {
			return fmt.Sprintf("[%d]", i)
		}
		return fmt.Sprintf("%s[%d]", field, i)
	}
	// Our jobs are block style; a flow list (scrape_configs: []) would force them
	// into one unreadable flow line.
	jobs.YNode().Style &^= yaml.FlowStyle
	names := map[string]int{}
	for i, el := range jobs.YNode().Content {
		if el.Kind != yaml.MappingNode {
			return rep, krmerr.Errorf(at(i), "must be a mapping (a job), got a %s", yamlnode.KindWord(el))
		}
		n := yamlnode.Value(el, "job_name")
		if _, dup := names[n]; dup && n != "" {
			return rep, krmerr.Errorf(at(i)+".job_name", "job %q is defined twice", n)
		}
		names[n] = i
	}

	wanted, optional := wantedJobs(o)
	switch {
	case o.Remove:
		wanted = nil
	case o.SecurePortJob:
		wanted = append(wanted, optional...)
	}
	dropUnwanted(jobs, o, wanted, &rep)
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

// want is a job the edit puts in, by name.
type want struct {
	name string
	node func() *yaml.RNode
}

// wantedJobs are the secure job and the optional secure-port jobs, each $
// written as the scraper reads it.
func wantedJobs(o Options) (wanted, optional []want) {
	dollar := o.scraper().Dollar
	wanted = []want{{o.JobName, func() *yaml.RNode { return escapeDollars(secureJob(o), dollar) }}}
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
		name := yamlnode.Value(el, "job_name")
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
	drops := dropRules(o)
	for _, d := range drops {
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
		name := yamlnode.Value(el, "job_name")
		if slices.Contains(owned, name) {
			continue
		}
		want := targets[name]
		if o.ExcludeFrom == nil {
			want = isPlainPodJob(j)
		}
		want = want && !o.Remove
		found[name] = true
		rules, _ := j.Pipe(yaml.Lookup("relabel_configs"))
		if rules != nil && rules.YNode().Kind != yaml.SequenceNode {
			return nil, nil, krmerr.Errorf(at(i)+".relabel_configs", "must be a list")
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
		if !want {
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
		rules.YNode().Style &^= yaml.FlowStyle
		at := keepScrapeIndex(rules) + 1
		c := rules.YNode().Content
		ours := make([]*yaml.Node, len(drops))
		for k, d := range drops {
			ours[k] = yaml.CopyYNode(d.YNode())
		}
		rules.YNode().Content = append(c[:at:at], append(ours, c[at:]...)...)
		if yamlnode.SameDecoded(&yaml.Node{Kind: yaml.SequenceNode, Content: before}, rules.YNode()) {
			// The rules as they stood (a copy that lost its comments stays so).
			rules.YNode().Content = before
		}
		excluded = append(excluded, name)
	}
	if o.ExcludeFrom != nil {
		for _, n := range *o.ExcludeFrom {
			if !found[n] {
				return nil, nil, krmerr.Errorf("", "spec.scrapeJob.excludeFrom names job %q, which the scrape configuration does not define", n)
			}
		}
	}
	return excluded, restored, nil
}

// readsIstioCerts: the job's tls_config names one of the files istio-proxy writes
// to OUTPUT_CERTS, wherever they are mounted.
func readsIstioCerts(job *yaml.Node) bool {
	tls := yamlnode.Field(job, "tls_config")
	if tls == nil {
		return false
	}
	for _, f := range []string{"ca_file", "cert_file", "key_file"} {
		if slices.Contains([]string{certs.CA, certs.Chain, certs.Key}, path.Base(yamlnode.Value(tls, f))) {
			return true
		}
	}
	return false
}

// isPlainPodJob: role pod, and a keep rule on prometheus_io_scrape*.
func isPlainPodJob(job *yaml.RNode) bool {
	sds, _ := job.Pipe(yaml.Lookup("kubernetes_sd_configs"))
	pod := false
	if sds != nil {
		for _, sd := range sds.YNode().Content {
			if yamlnode.Value(sd, "role") == "pod" {
				pod = true
			}
		}
	}
	if !pod {
		return false
	}
	rules, _ := job.Pipe(yaml.Lookup("relabel_configs"))
	return rules != nil && keepScrapeIndex(rules) >= 0
}

func keepScrapeIndex(rules *yaml.RNode) int {
	for i, r := range rules.YNode().Content {
		if yamlnode.Value(r, "action") != "keep" {
			continue
		}
		src := yamlnode.Field(r, "source_labels")
		if src == nil {
			continue
		}
		for _, l := range src.Content {
			if strings.HasPrefix(l.Value, lblScrape) {
				return i
			}
		}
	}
	return -1
}
