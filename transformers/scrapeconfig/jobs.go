package scrapeconfig

// The job model: the jobs and relabel rules this function writes, and how it
// recognises them in a config it wrote before.

import (
	"fmt"
	"path"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/certs"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/yamlnode"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// jobMarker is the line comment on job_name of every job this function writes,
// a note for readers: the ownership record (Options.Owned) decides which jobs
// are the function's, since every YAML tool may drop comments. Only an earlier
// release's output, which has no record of its jobs, is recognised by it
// (legacyMarked), once.
const jobMarker = "managed by istio-prometheus-mtls; edits here are overwritten"

// Names of the jobs for Istio's secure metrics ports (Istio >= 1.31), as Istio's
// samples/addons name them.
const (
	secureMergedJob = "istio-secure-merged-metrics"
	secureEnvoyJob  = "istio-secure-envoy-metrics"
)

// Meta labels used by the rules.
const (
	lblScrape     = "__meta_kubernetes_pod_annotation_prometheus_io_scrape"
	lblScrapeSlow = "__meta_kubernetes_pod_annotation_prometheus_io_scrape_slow"
	lblPort       = "__meta_kubernetes_pod_annotation_prometheus_io_port"
	lblPath       = "__meta_kubernetes_pod_annotation_prometheus_io_path"
	lblStatus     = "__meta_kubernetes_pod_annotation_sidecar_istio_io_status"
	lblMTLS       = "__meta_kubernetes_pod_annotation_istio_mtls"
	lblSecurePort = "__meta_kubernetes_pod_annotation_prometheus_istio_io_secure_port"
	lblEnvoyPort  = "__meta_kubernetes_pod_annotation_prometheus_istio_io_secure_envoy_port"
)

// sidecarPod matches "<status>;<istio_mtls>": a pod with an injected sidecar, or
// one that opts in with the istio-mtls: "true" annotation.
const sidecarPod = `(?:[^;]+;[^;]*|[^;]*;true)`

// lblMark is the temporary label the plain jobs' rules mark sidecar pods with.
// Prometheus removes every label starting with __ after relabeling, and reserves
// __tmp_ for such steps: RE2 has no "not equal", so the rules mark, unmark, and
// drop what is still marked.
const lblMark = "__tmp_istio_mtls_sidecar"

// dropRules are the rules inserted into the plain pod jobs: sidecar pods are the
// secure job's, except metrics-merged ones (Istio's metrics merging rewrites
// prometheus.io/port to 15020: plaintext, /stats/prometheus), which stay here;
// with the secure-port jobs, pods with a secure metrics port are theirs too.
func dropRules(o Options) []*yaml.RNode {
	rules := []relabelRule{
		{Comment: fmt.Sprintf("istio-prometheus-mtls: sidecar pods are scraped over mTLS by job %q ...", o.JobName),
			SourceLabels: []string{lblStatus, lblMTLS}, Regex: sidecarPod, TargetLabel: lblMark, Replacement: ptr("true"), Action: "replace"},
		{Comment: "istio-prometheus-mtls: ... except metrics-merged ones (prometheus.io/port 15020, plaintext) ...",
			SourceLabels: []string{lblPort}, Regex: "15020", TargetLabel: lblMark, Replacement: ptr(""), Action: "replace"},
	}
	if o.SecurePortJob {
		rules = append(rules, relabelRule{Comment: "istio-prometheus-mtls: ... and pods with a secure metrics port are scraped by " + secureMergedJob + " ...",
			SourceLabels: []string{lblSecurePort}, Regex: ".+", TargetLabel: lblMark, Replacement: ptr("true"), Action: "replace"})
	}
	rules = append(rules, relabelRule{Comment: "istio-prometheus-mtls: ... so this job leaves them.",
		SourceLabels: []string{lblMark}, Regex: "true", Action: "drop"})
	out := make([]*yaml.RNode, len(rules))
	for i, r := range rules {
		out[i] = r.node()
	}
	return out
}

// serviceDropRules are the rules inserted into a plain job that scrapes the pods
// behind Services annotated prometheus.io/scrape (role endpoints or
// endpointslice, kept by the Service's annotation): a sidecar pod that the
// secure job scrapes (annotated itself) leaves it, so no pod is scraped twice.
// One behind an annotated Service but not annotated itself stays: the secure
// job does not take it.
func serviceDropRules(o Options) []*yaml.RNode {
	src, keep := []string{lblStatus, lblMTLS, lblScrape, lblScrapeSlow}, `(?:true;[^;]*|[^;]*;true)`
	switch {
	case o.keep.scrape:
		src, keep = []string{lblStatus, lblMTLS, lblScrape}, "true"
	case o.keep.slow:
		src, keep = []string{lblStatus, lblMTLS, lblScrapeSlow}, "true"
	}
	rules := []relabelRule{{Comment: fmt.Sprintf("istio-prometheus-mtls: sidecar pods annotated to be scraped are scraped over mTLS by job %q ...", o.JobName),
		SourceLabels: src, Regex: sidecarPod + ";" + keep, TargetLabel: lblMark, Replacement: ptr("true"), Action: "replace"}}
	if o.keep.dropSlow {
		rules = append(rules, relabelRule{Comment: "istio-prometheus-mtls: ... except those annotated scrape_slow, which it leaves ...",
			SourceLabels: []string{lblScrapeSlow}, Regex: "true", TargetLabel: lblMark, Replacement: ptr(""), Action: "replace"})
	}
	rules = append(rules, relabelRule{Comment: "istio-prometheus-mtls: ... except metrics-merged ones (prometheus.io/port 15020, plaintext) ...",
		SourceLabels: []string{lblPort}, Regex: "15020", TargetLabel: lblMark, Replacement: ptr(""), Action: "replace"},
		relabelRule{Comment: "istio-prometheus-mtls: ... so this job leaves them.",
			SourceLabels: []string{lblMark}, Regex: "true", Action: "drop"})
	out := make([]*yaml.RNode, len(rules))
	for i, r := range rules {
		out[i] = r.node()
	}
	return out
}

// secureJob is the https job for sidecar pods.
func secureJob(o Options) *yaml.RNode {
	return job(o.JobName, o.CertsDir, o.scraper().Called, secureRules(o))
}

// OperatorScrapeConfig is the secure job as the spec of a prometheus-operator
// ScrapeConfig (monitoring.coreos.com/v1alpha1): its TLS files come from the
// scrape class named class (a ScrapeConfig's own tlsConfig can name no files).
func OperatorScrapeConfig(o Options, class string) *yaml.RNode {
	rules := &yaml.Node{Kind: yaml.SequenceNode}
	for _, r := range secureRules(o) {
		rules.Content = append(rules.Content, r.operatorNode().YNode())
	}
	sd := &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Content: []*yaml.Node{yamlnode.String("role"), yamlnode.String("Pod")}}}}
	return yaml.NewRNode(&yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		yamlnode.String("scrapeClass"), yamlnode.String(class),
		yamlnode.String("scheme"), yamlnode.String("HTTPS"),
		yamlnode.String("kubernetesSDConfigs"), sd,
		yamlnode.String("relabelings"), rules,
	}})
}

// secureRules are the relabel rules of the secure job.
func secureRules(o Options) []relabelRule {
	var rules []relabelRule
	switch k := o.keep; {
	case k.scrape:
		rules = append(rules, relabelRule{Comment: "Pods that ask to be scraped with prometheus.io/scrape, as the plain pod jobs keep them ...",
			SourceLabels: []string{lblScrape}, Regex: "true", Action: "keep"})
		if k.dropSlow {
			rules = append(rules, relabelRule{Comment: "... and not with scrape_slow, which the plain pod jobs drop ...",
				SourceLabels: []string{lblScrapeSlow}, Regex: "true", Action: "drop"})
		}
	case k.slow:
		rules = append(rules, relabelRule{Comment: "Pods that ask to be scraped with prometheus.io/scrape_slow, as the plain pod jobs keep them ...",
			SourceLabels: []string{lblScrapeSlow}, Regex: "true", Action: "keep"})
	default:
		rules = append(rules, relabelRule{Comment: "Pods that ask to be scraped (prometheus.io/scrape or scrape_slow: the plain jobs leave both to this job) ...",
			SourceLabels: []string{lblScrape, lblScrapeSlow}, Regex: "true;.*|.*;true", Action: "keep"})
	}
	rules = append(rules,
		relabelRule{Comment: "... and have an Istio sidecar (sidecar.istio.io/status) or opt in with istio-mtls: \"true\".",
			SourceLabels: []string{lblStatus, lblMTLS}, Regex: sidecarPod, Action: "keep"},
		relabelRule{Comment: "Metrics-merged pods (prometheus.io/port 15020, plaintext) stay with the plain job.",
			SourceLabels: []string{lblPort}, Regex: "15020", Action: "drop"},
	)
	if o.SecurePortJob {
		rules = append(rules, relabelRule{Comment: "Pods with a secure metrics port are scraped by " + secureMergedJob + ".",
			SourceLabels: []string{lblSecurePort}, Regex: ".+", Action: "drop"})
	}
	rules = append(rules, podRules(lblPort)...)
	rules = append(rules, relabelRule{Comment: "Istio's own plaintext ports (Envoy stats, agent, health) are not mTLS.",
		SourceLabels: []string{"__address__"}, Regex: `.+:(15020|15021|15090)`, Action: "drop"})
	return append(rules, commonTail()...)
}

// securePortJob is Istio's job for one of its secure metrics ports.
func securePortJob(name, portLabel, mountPath, scraper string) *yaml.RNode {
	rules := append([]relabelRule{{Comment: "Pods whose istio-proxy serves metrics over mTLS on this port.",
		SourceLabels: []string{portLabel}, Regex: `\d+`, Action: "keep"}}, podRules(portLabel)...)
	rules = append(rules, commonTail()...)
	j := job(name, mountPath, scraper, rules)
	// Istio serves /stats/prometheus on these ports.
	j.YNode().Content = append(j.YNode().Content[:2], append([]*yaml.Node{yamlnode.String("metrics_path"), yamlnode.String("/stats/prometheus")}, j.YNode().Content[2:]...)...)
	return j
}

// job is a secure job of the scraper a sentence calls scraper (its row's Called).
func job(name, mountPath, scraper string, rules []relabelRule) *yaml.RNode {
	j := yaml.NewRNode(&yaml.Node{Kind: yaml.MappingNode})
	nameNode := yamlnode.String(name)
	nameNode.LineComment = "# " + jobMarker
	tls := yaml.NewRNode(&yaml.Node{Kind: yaml.MappingNode})
	ca, chain, key := certs.Paths(mountPath)
	for _, kv := range [][2]string{{"ca_file", ca}, {"cert_file", chain}, {"key_file", key}} {
		tls.YNode().Content = append(tls.YNode().Content, yamlnode.String(kv[0]), yamlnode.String(kv[1]))
	}
	skip := yamlnode.String("insecure_skip_verify")
	skip.HeadComment = certs.SkipVerifyWhy(scraper)
	tls.YNode().Content = append(tls.YNode().Content, skip, &yaml.Node{Kind: yaml.ScalarNode, Tag: yaml.NodeTagBool, Value: "true"})
	sd := yaml.NewRNode(&yaml.Node{Kind: yaml.SequenceNode})
	sd.YNode().Content = append(sd.YNode().Content, bareRolePod())
	rl := &yaml.Node{Kind: yaml.SequenceNode}
	for _, r := range rules {
		rl.Content = append(rl.Content, r.node().YNode())
	}
	j.YNode().Content = []*yaml.Node{
		yamlnode.String("job_name"), nameNode,
		yamlnode.String("scheme"), yamlnode.String("https"),
		yamlnode.String("tls_config"), tls.YNode(),
		yamlnode.String("kubernetes_sd_configs"), sd.YNode(),
		yamlnode.String("relabel_configs"), rl,
	}
	return j
}

// bareRolePod is a kubernetes_sd_configs entry for every pod of the cluster.
func bareRolePod() *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{yamlnode.String("role"), yamlnode.String("pod")}}
}

// withScope gives the job the plain pod jobs' pod discovery (plainScope), copied as
// the user wrote it, after the job's $ were written for the scraper: the copy is
// the user's text, in the user's file, and means there what it means in their jobs.
func withScope(job *yaml.RNode, scope []*yaml.Node) *yaml.RNode {
	if scope == nil {
		return job
	}
	sd := &yaml.Node{Kind: yaml.SequenceNode}
	for _, e := range scope {
		c := yaml.CopyYNode(e)
		c.Anchor, c.HeadComment, c.LineComment, c.FootComment = "", "", "", ""
		c.Style &^= yaml.FlowStyle
		sd.Content = append(sd.Content, c)
	}
	for i := 0; i+1 < len(job.YNode().Content); i += 2 {
		if job.YNode().Content[i].Value == "kubernetes_sd_configs" {
			job.YNode().Content[i+1] = sd
		}
	}
	return job
}

// withSettings puts the plain pod jobs' shared settings (plainSettings, key and
// value nodes) after the job's name, as the user wrote them.
func withSettings(job *yaml.RNode, carry []*yaml.Node) *yaml.RNode {
	if len(carry) == 0 {
		return job
	}
	c := job.YNode().Content
	job.YNode().Content = append(append(c[:2:2], carry...), c[2:]...)
	return job
}

// relabelRule is one relabel_configs entry, with the fields of Prometheus's
// relabel.Config that this function writes; empty fields are left out (and
// Prometheus's defaults apply), except a Replacement pointing at "".
type relabelRule struct {
	// Comment is the rule's head comment, without "# ".
	Comment      string
	SourceLabels []string
	Regex        string
	TargetLabel  string
	Replacement  *string
	Action       string
}

func (r relabelRule) node() *yaml.RNode {
	n := yaml.NewRNode(&yaml.Node{Kind: yaml.MappingNode})
	add := func(k string, v *yaml.Node) { n.YNode().Content = append(n.YNode().Content, yamlnode.String(k), v) }
	if len(r.SourceLabels) > 0 {
		add("source_labels", yaml.NewListRNode(r.SourceLabels...).YNode())
	}
	for _, kv := range [][2]string{{"regex", r.Regex}, {"target_label", r.TargetLabel}} {
		if kv[1] != "" {
			add(kv[0], yamlnode.String(kv[1]))
		}
	}
	if r.Replacement != nil {
		v := yamlnode.String(*r.Replacement)
		if *r.Replacement == "" {
			v.Style = yaml.DoubleQuotedStyle
		}
		add("replacement", v)
	}
	add("action", yamlnode.String(r.Action))
	if r.Comment != "" {
		n.YNode().HeadComment = "# " + r.Comment
	}
	return n
}

// operatorNode is the rule as prometheus-operator's RelabelConfig writes it
// (camelCase fields), with its comment.
func (r relabelRule) operatorNode() *yaml.RNode {
	n := r.node()
	names := map[string]string{"source_labels": "sourceLabels", "target_label": "targetLabel"}
	for i := 0; i < len(n.YNode().Content); i += 2 {
		if to, ok := names[n.YNode().Content[i].Value]; ok {
			n.YNode().Content[i].Value = to
		}
	}
	return n
}

func ptr[T any](v T) *T { return &v }

// podRules drop pods that are not running, take the path from prometheus.io/path,
// set __address__ from the port annotation portLabel (IPv6 and IPv4 pod IPs, as
// the prometheus-community chart does) and keep host:port only: a target without
// a port would otherwise be scraped on :443 over https.
func podRules(portLabel string) []relabelRule {
	return []relabelRule{
		{SourceLabels: []string{"__meta_kubernetes_pod_phase"}, Regex: "Pending|Succeeded|Failed|Completed", Action: "drop"},
		{SourceLabels: []string{lblPath}, Regex: "(.+)", TargetLabel: "__metrics_path__", Action: "replace"},
		{SourceLabels: []string{portLabel, "__meta_kubernetes_pod_ip"}, Regex: `(\d+);(([A-Fa-f0-9]{1,4}::?){1,7}[A-Fa-f0-9]{1,4})`,
			TargetLabel: "__address__", Replacement: ptr("[$2]:$1"), Action: "replace"},
		{SourceLabels: []string{portLabel, "__meta_kubernetes_pod_ip"}, Regex: `(\d+);((([0-9]+?)(\.|$)){4})`,
			TargetLabel: "__address__", Replacement: ptr("$2:$1"), Action: "replace"},
		{Comment: "Only host:port targets; otherwise https adds a phantom :443 target.",
			SourceLabels: []string{"__address__"}, Regex: `(\[[0-9A-Fa-f:.]+\]|[^:\[\]]+):\d+`, Action: "keep"},
	}
}

func commonTail() []relabelRule {
	return []relabelRule{
		{Regex: "__meta_kubernetes_pod_label_(.+)", Action: "labelmap"},
		{SourceLabels: []string{"__meta_kubernetes_namespace"}, TargetLabel: "namespace", Action: "replace"},
		{SourceLabels: []string{"__meta_kubernetes_pod_name"}, TargetLabel: "pod", Action: "replace"},
	}
}

// legacyMarked: job carries the job_name comment of an earlier release, which
// kept no record of its jobs (Options.Migrate).
func legacyMarked(job *yaml.Node) bool {
	f := yaml.NewRNode(job).Field("job_name")
	return f != nil && strings.Contains(f.Value.YNode().LineComment, jobMarker)
}

// isOurDropRule recognises the drop rules by what they are, never by their
// comments: a rule on the temporary label they mark with (reserved to this
// function: no user rule reads or writes it), or the single drop rule of an
// earlier release by its source labels.
func isOurDropRule(r *yaml.Node) bool {
	if r.Kind != yaml.MappingNode || len(r.Content) == 0 {
		return false
	}
	if yamlnode.GetValue(r, "target_label") == lblMark {
		return true
	}
	if src := yamlnode.Get(r, "source_labels"); src != nil && len(src.Content) == 1 && src.Content[0].Value == lblMark {
		return true
	}
	// An earlier release's drop rule without its comment: its source labels start so.
	src := yamlnode.Get(r, "source_labels")
	first := []string{lblStatus, lblMTLS, lblPort}
	if src == nil || yamlnode.GetValue(r, "action") != "drop" || len(src.Content) < len(first) {
		return false
	}
	for i, l := range first {
		if src.Content[i].Value != l {
			return false
		}
	}
	return true
}

// believed is the part of owned, the jobs a record names, that the record is
// believed about: a job of that name that is what the function writes
// (ourJob), or none of that name (nothing is taken for it). The others are
// returned apart: a record copied from another workload or edited by hand must
// not make the function replace or delete a user's job.
func believed(jobs *yaml.RNode, owned []string) (kept, doubted []string) {
	for _, name := range owned {
		ok := true
		for _, el := range jobs.YNode().Content {
			if yamlnode.GetValue(el, "job_name") == name && !ourJob(el) {
				ok = false
				break
			}
		}
		if ok {
			kept = append(kept, name)
		} else {
			doubted = append(doubted, name)
		}
	}
	return kept, doubted
}

// ourJob tells whether job is one the function writes, by what it does, never
// by its name or comment: https with Istio's certificate files in tls_config,
// and the secure job's sidecar rule (its regex is the function's own) or a
// secure-port job's port rule.
func ourJob(job *yaml.Node) bool {
	if !strings.EqualFold(yamlnode.GetValue(job, "scheme"), "https") {
		return false
	}
	tls := yamlnode.Get(job, "tls_config")
	for key, file := range map[string]string{"ca_file": certs.CA, "cert_file": certs.Chain, "key_file": certs.Key} {
		if path.Base(yamlnode.GetValue(tls, key)) != file {
			return false
		}
	}
	rules := yamlnode.Get(job, "relabel_configs")
	if rules == nil || rules.Kind != yaml.SequenceNode {
		return false
	}
	for _, r := range rules.Content {
		if isRule(r, "keep", sidecarPod, lblStatus, lblMTLS) || isRule(r, "keep", `\d+`, lblSecurePort) || isRule(r, "keep", `\d+`, lblEnvoyPort) {
			return true
		}
	}
	return false
}

// isRule tells whether relabel rule r has this action, regex and source labels.
func isRule(r *yaml.Node, action, regex string, source ...string) bool {
	if yamlnode.GetValue(r, "action") != action || yamlnode.GetValue(r, "regex") != regex {
		return false
	}
	src := yamlnode.Get(r, "source_labels")
	if src == nil || src.Kind != yaml.SequenceNode || len(src.Content) != len(source) {
		return false
	}
	for i, l := range source {
		if yamlnode.Deref(src.Content[i]).Value != l {
			return false
		}
	}
	return true
}
