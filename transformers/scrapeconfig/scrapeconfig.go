// Package scrapeconfig edits a prometheus.yml as a YAML node tree: it adds (or
// replaces) the https job that scrapes Istio sidecar pods with the workload
// certificates, and inserts one drop rule into the plain pod jobs so no pod is
// scraped twice. The user's comments, key order, quoting and other jobs are kept.
package scrapeconfig

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/certs"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/yamlcmp"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Marker is the line comment on job_name of every job this function writes.
const Marker = "managed by istio-prometheus-mtls; edits here are overwritten"

// Names of the jobs for Istio's secure metrics ports (Istio >= 1.31), as Istio's
// samples/addons name them.
const (
	SecureMergedJob = "istio-secure-merged-metrics"
	SecureEnvoyJob  = "istio-secure-envoy-metrics"
)

// Options are the scrape settings of the function config.
type Options struct {
	JobName string
	// CertDir is where Prometheus reads root-cert.pem, cert-chain.pem and key.pem.
	CertDir string
	// ExcludeFrom: nil = every role-pod job keeping prometheus_io_scrape*.
	ExcludeFrom   *[]string
	TakeOver      bool
	SecurePortJob bool
}

// Report says what Edit did.
type Report struct {
	Jobs     []string // jobs added or replaced
	Excluded []string // plain jobs that got the drop rule
}

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

// notMerged matches a prometheus.io/port other than 15020. Istio's metrics merging
// rewrites prometheus.io/port to 15020 (plaintext, /stats/prometheus); such pods
// stay with the plain job. RE2 has no negative look-ahead, hence the spelling out.
const notMerged = `(?:[^;]{0,4}|[^;]{6,}|[^1;][^;]{4}|1[^5;][^;]{3}|15[^0;][^;]{2}|150[^2;][^;]|1502[^0;])`

// DropRule is the rule inserted into the plain pod jobs.
func DropRule(o Options) *yaml.RNode {
	labels := []string{lblStatus, lblMTLS, lblPort}
	regex := sidecarPod + ";" + notMerged
	if o.SecurePortJob {
		labels = append(labels, lblSecurePort)
		regex = "(?:" + regex + ";[^;]*)|(?:[^;]*;[^;]*;[^;]*;[^;]+)"
	}
	return rule(fmt.Sprintf("istio-prometheus-mtls: sidecar pods (not metrics-merged) are scraped over mTLS by job %q", o.JobName),
		"drop", labels, regex, "", "")
}

func rule(comment, action string, sources []string, regex, target, replacement string) *yaml.RNode {
	n := yaml.NewRNode(&yaml.Node{Kind: yaml.MappingNode})
	if len(sources) > 0 {
		n.YNode().Content = append(n.YNode().Content, str("source_labels"), yaml.NewListRNode(sources...).YNode())
	}
	for _, kv := range [][2]string{{"regex", regex}, {"target_label", target}, {"replacement", replacement}, {"action", action}} {
		if kv[1] != "" {
			n.YNode().Content = append(n.YNode().Content, str(kv[0]), str(kv[1]))
		}
	}
	if comment != "" {
		n.YNode().HeadComment = "# " + comment
	}
	return n
}

func str(v string) *yaml.Node {
	n := yaml.NewStringRNode(v).YNode()
	n.Style = 0
	return n
}

// addressRules set __address__ from the prometheus.io/port annotation (IPv6 and
// IPv4 pod IPs, as the prometheus-community chart does) and keep host:port only:
// a target without a port would otherwise be scraped on :443 over https.
func addressRules(portLabel string) []*yaml.RNode {
	return []*yaml.RNode{
		rule("", "replace", []string{portLabel, "__meta_kubernetes_pod_ip"}, `(\d+);(([A-Fa-f0-9]{1,4}::?){1,7}[A-Fa-f0-9]{1,4})`, "__address__", "[$2]:$1"),
		rule("", "replace", []string{portLabel, "__meta_kubernetes_pod_ip"}, `(\d+);((([0-9]+?)(\.|$)){4})`, "__address__", "$2:$1"),
		rule("Only host:port targets; otherwise https adds a phantom :443 target.", "keep", []string{"__address__"}, `(\[[0-9A-Fa-f:.]+\]|[^:\[\]]+):\d+`, "", ""),
	}
}

func commonTail() []*yaml.RNode {
	return []*yaml.RNode{
		rule("", "labelmap", nil, "__meta_kubernetes_pod_label_(.+)", "", ""),
		rule("", "replace", []string{"__meta_kubernetes_namespace"}, "", "namespace", ""),
		rule("", "replace", []string{"__meta_kubernetes_pod_name"}, "", "pod", ""),
	}
}

// SecureJob is the https job for sidecar pods.
func SecureJob(o Options) *yaml.RNode {
	rules := []*yaml.RNode{
		rule("Pods that ask to be scraped (prometheus.io/scrape or scrape_slow: the plain jobs leave both to this job) ...", "keep", []string{lblScrape, lblScrapeSlow}, "true;.*|.*;true", "", ""),
		rule("... and have an Istio sidecar (sidecar.istio.io/status) or opt in with istio-mtls: \"true\".", "keep", []string{lblStatus, lblMTLS}, sidecarPod, "", ""),
		rule("Metrics-merged pods (prometheus.io/port 15020, plaintext) stay with the plain job.", "drop", []string{lblPort}, "15020", "", ""),
	}
	if o.SecurePortJob {
		rules = append(rules, rule("Pods with a secure metrics port are scraped by "+SecureMergedJob+".", "drop", []string{lblSecurePort}, ".+", "", ""))
	}
	rules = append(rules,
		rule("", "drop", []string{"__meta_kubernetes_pod_phase"}, "Pending|Succeeded|Failed|Completed", "", ""),
		rule("", "replace", []string{lblPath}, "(.+)", "__metrics_path__", ""),
	)
	rules = append(rules, addressRules(lblPort)...)
	rules = append(rules, rule("Istio's own plaintext ports (Envoy stats, agent, health) are not mTLS.", "drop", []string{"__address__"}, `.+:(15020|15021|15090)`, "", ""))
	rules = append(rules, commonTail()...)
	return job(o.JobName, o.CertDir, rules)
}

// securePortJob is Istio's job for one of its secure metrics ports.
func securePortJob(name, portLabel, certDir string) *yaml.RNode {
	rules := []*yaml.RNode{
		rule("Pods whose istio-proxy serves metrics over mTLS on this port.", "keep", []string{portLabel}, `\d+`, "", ""),
		rule("", "drop", []string{"__meta_kubernetes_pod_phase"}, "Pending|Succeeded|Failed|Completed", "", ""),
		rule("", "replace", []string{lblPath}, "(.+)", "__metrics_path__", ""),
	}
	rules = append(rules, addressRules(portLabel)...)
	rules = append(rules, commonTail()...)
	j := job(name, certDir, rules)
	// Istio serves /stats/prometheus on these ports.
	j.YNode().Content = append(j.YNode().Content[:2], append([]*yaml.Node{str("metrics_path"), str("/stats/prometheus")}, j.YNode().Content[2:]...)...)
	return j
}

func job(name, certDir string, rules []*yaml.RNode) *yaml.RNode {
	j := yaml.NewRNode(&yaml.Node{Kind: yaml.MappingNode})
	nameNode := str(name)
	nameNode.LineComment = "# " + Marker
	tls := yaml.NewRNode(&yaml.Node{Kind: yaml.MappingNode})
	ca, chain, key := certs.Paths(certDir)
	for _, kv := range [][2]string{{"ca_file", ca}, {"cert_file", chain}, {"key_file", key}} {
		tls.YNode().Content = append(tls.YNode().Content, str(kv[0]), str(kv[1]))
	}
	skip := str("insecure_skip_verify")
	skip.HeadComment = certs.SkipVerifyWhy
	tls.YNode().Content = append(tls.YNode().Content, skip, &yaml.Node{Kind: yaml.ScalarNode, Tag: yaml.NodeTagBool, Value: "true"})
	sd := yaml.NewRNode(&yaml.Node{Kind: yaml.SequenceNode})
	sd.YNode().Content = append(sd.YNode().Content, &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{str("role"), str("pod")}})
	rl := &yaml.Node{Kind: yaml.SequenceNode}
	for _, r := range rules {
		rl.Content = append(rl.Content, r.YNode())
	}
	j.YNode().Content = []*yaml.Node{
		str("job_name"), nameNode,
		str("scheme"), str("https"),
		str("tls_config"), tls.YNode(),
		str("kubernetes_sd_configs"), sd.YNode(),
		str("relabel_configs"), rl,
	}
	return j
}

// Edit adds the jobs of o to the prometheus.yml in doc and returns the new text.
func Edit(doc string, o Options) (string, Report, error) {
	root, err := parse(doc)
	if err != nil {
		return "", Report{}, err
	}
	// `scrape_configs:` with nothing after it is an empty list to Prometheus.
	if n, _ := root.Pipe(yaml.Lookup("scrape_configs")); n != nil && n.YNode().Kind == yaml.ScalarNode && n.YNode().ShortTag() == yaml.NodeTagNull {
		*n.YNode() = yaml.Node{Kind: yaml.SequenceNode}
	}
	jobs, err := root.Pipe(yaml.LookupCreate(yaml.SequenceNode, "scrape_configs"))
	if err != nil {
		return "", Report{}, krmerr.Errorf("scrape_configs", "%v", err)
	}
	if jobs.YNode().Kind != yaml.SequenceNode {
		return "", Report{}, krmerr.Errorf("scrape_configs", "must be a list of jobs, got a %s", kindName(jobs.YNode()))
	}
	return editAndRender(doc, root, jobs, o, "scrape_configs")
}

// EditJobList does the same on a bare list of jobs, the form of prometheus-operator's
// additionalScrapeConfigs.
func EditJobList(doc string, o Options) (string, Report, error) {
	var root *yaml.RNode
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
		if root.YNode().Kind != yaml.SequenceNode {
			return "", Report{}, krmerr.Errorf("", "the additional scrape configs must be a YAML list of jobs, got a %s", kindName(root.YNode()))
		}
	}
	return editAndRender(doc, root, root, o, "")
}

// editAndRender edits the job list of root and writes root back, keeping the
// user's text: the edit is spliced into it line by line (splice.go); where that
// does not apply, the whole document is rendered and the user's lines are kept
// where they provably did not change (preserve.go).
func editAndRender(doc string, root, jobs *yaml.RNode, o Options, field string) (string, Report, error) {
	var snaps []seqSnap
	if strings.TrimSpace(doc) != "" {
		snaps = snapshot(jobs.YNode())
	}
	rep, err := editJobs(jobs, o, field)
	if err != nil {
		return "", rep, err
	}
	seqIndent := yaml.DeriveSeqIndentStyle(doc)
	if out, ok := splice(doc, snaps, root, seqIndent); ok {
		return out, rep, nil
	}
	var pristine *yaml.RNode
	if strings.TrimSpace(doc) != "" {
		pristine, _ = yaml.Parse(doc)
	}
	// Nothing changed (a re-run): the user's text stays exactly as it is. Comments
	// do not count, but our jobs must still carry their marker.
	if pristine != nil && yamlcmp.SameContent(pristine.YNode(), root.YNode()) && strings.Count(doc, Marker) >= len(rep.Jobs) {
		return doc, rep, nil
	}
	out, err := render(root, doc)
	if err != nil {
		return "", rep, err
	}
	return preserve(doc, pristine, root, out), rep, nil
}

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
			return rep, krmerr.Errorf(at(i), "must be a mapping (a job), got a %s", kindName(el))
		}
		n := fieldValue(el, "job_name")
		if _, dup := names[n]; dup && n != "" {
			return rep, krmerr.Errorf(at(i)+".job_name", "job %q is defined twice", n)
		}
		names[n] = i
	}

	type want struct {
		name string
		node func() *yaml.RNode
	}
	wanted := []want{{o.JobName, func() *yaml.RNode { return SecureJob(o) }}}
	optional := []want{
		{SecureMergedJob, func() *yaml.RNode { return securePortJob(SecureMergedJob, lblSecurePort, o.CertDir) }},
		{SecureEnvoyJob, func() *yaml.RNode { return securePortJob(SecureEnvoyJob, lblEnvoyPort, o.CertDir) }},
	}
	if o.SecurePortJob {
		wanted = append(wanted, optional...)
	} else {
		// Remove the secure-port jobs an earlier run added.
		for _, w := range optional {
			if i, ok := names[w.name]; ok && isOurs(jobs.YNode().Content[i]) {
				jobs.YNode().Content[i] = nil
			}
		}
	}
	for _, w := range wanted {
		i, ok := names[w.name]
		if !ok {
			jobs.YNode().Content = append(jobs.YNode().Content, w.node().YNode())
			rep.Jobs = append(rep.Jobs, w.name)
			continue
		}
		if !isOurs(jobs.YNode().Content[i]) && !o.TakeOver {
			return rep, krmerr.Errorf(at(i), "a job named %q exists that this function did not write; rename it, set spec.scrapeJob.name to another name, or set spec.scrapeJob.takeOver: true to replace it", w.name)
		}
		jobs.YNode().Content[i] = w.node().YNode()
		rep.Jobs = append(rep.Jobs, w.name)
	}
	content := jobs.YNode().Content[:0]
	for _, el := range jobs.YNode().Content {
		if el != nil {
			content = append(content, el)
		}
	}
	jobs.YNode().Content = content

	excluded, err := excludePlainJobs(jobs, o, at)
	if err != nil {
		return rep, err
	}
	rep.Excluded = excluded
	return rep, nil
}

func parse(doc string) (*yaml.RNode, error) {
	if strings.TrimSpace(doc) == "" {
		return yaml.NewRNode(&yaml.Node{Kind: yaml.MappingNode}), nil
	}
	root, err := yaml.Parse(doc)
	if err != nil {
		return nil, krmerr.Errorf("", "prometheus.yml is not valid YAML: %v", err)
	}
	if root.YNode().Kind != yaml.MappingNode {
		return nil, krmerr.Errorf("", "prometheus.yml must be a YAML mapping, got a %s", kindName(root.YNode()))
	}
	return root, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == yaml.NodeTagNull {
			return "null"
		}
		return "scalar"
	case yaml.SequenceNode:
		return "list"
	case yaml.MappingNode:
		return "mapping"
	case yaml.AliasNode:
		return "alias"
	}
	return "node"
}

// render writes root with the sequence indentation of the original text and its
// trailing-newline convention.
func render(root *yaml.RNode, original string) (string, error) {
	var buf bytes.Buffer
	style := yaml.SequenceIndentStyle(yaml.DeriveSeqIndentStyle(original))
	enc := yaml.NewEncoderWithOptions(&buf, &yaml.EncoderOptions{SeqIndent: style})
	if err := enc.Encode(root.Document()); err != nil {
		return "", err
	}
	out := buf.String()
	if !strings.HasSuffix(original, "\n") && original != "" {
		out = strings.TrimSuffix(out, "\n")
	}
	return out, nil
}

func isOurs(job *yaml.Node) bool {
	f := yaml.NewRNode(job).Field("job_name")
	return f != nil && strings.Contains(f.Value.YNode().LineComment, Marker)
}

// isPlainPodJob: role pod, and a keep rule on prometheus_io_scrape*.
func isPlainPodJob(job *yaml.RNode) bool {
	sds, _ := job.Pipe(yaml.Lookup("kubernetes_sd_configs"))
	pod := false
	if sds != nil {
		for _, sd := range sds.YNode().Content {
			if f := yaml.NewRNode(sd).Field("role"); f != nil && yaml.GetValue(f.Value) == "pod" {
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
		rn := yaml.NewRNode(r)
		if a := rn.Field("action"); a == nil || yaml.GetValue(a.Value) != "keep" {
			continue
		}
		src := rn.Field("source_labels")
		if src == nil {
			continue
		}
		for _, l := range src.Value.YNode().Content {
			if strings.HasPrefix(l.Value, lblScrape) {
				return i
			}
		}
	}
	return -1
}

func excludePlainJobs(jobs *yaml.RNode, o Options, at func(int) string) ([]string, error) {
	drop := DropRule(o)
	targets := map[string]bool{}
	if o.ExcludeFrom != nil {
		for _, n := range *o.ExcludeFrom {
			targets[n] = true
		}
	}
	found := map[string]bool{}
	var excluded []string
	for i, el := range jobs.YNode().Content {
		j := yaml.NewRNode(el)
		name := fieldValue(el, "job_name")
		if isOurs(el) {
			continue
		}
		want := targets[name]
		if o.ExcludeFrom == nil {
			want = isPlainPodJob(j)
		}
		found[name] = true
		rules, _ := j.Pipe(yaml.Lookup("relabel_configs"))
		if rules != nil && rules.YNode().Kind != yaml.SequenceNode {
			return nil, krmerr.Errorf(at(i)+".relabel_configs", "must be a list")
		}
		// Remove our earlier drop rules (any version of them), then insert one.
		if rules != nil {
			kept := rules.YNode().Content[:0]
			for _, r := range rules.YNode().Content {
				if !isOurDropRule(r) {
					kept = append(kept, r)
				}
			}
			rules.YNode().Content = kept
		}
		if !want {
			continue
		}
		if rules == nil {
			var err error
			if rules, err = j.Pipe(yaml.LookupCreate(yaml.SequenceNode, "relabel_configs")); err != nil {
				return nil, err
			}
		}
		rules.YNode().Style &^= yaml.FlowStyle
		at := keepScrapeIndex(rules) + 1
		c := rules.YNode().Content
		rules.YNode().Content = append(c[:at:at], append([]*yaml.Node{yaml.CopyYNode(drop.YNode())}, c[at:]...)...)
		excluded = append(excluded, name)
	}
	if o.ExcludeFrom != nil {
		for _, n := range *o.ExcludeFrom {
			if !found[n] {
				return nil, krmerr.Errorf("", "spec.scrapeJob.excludeFrom names job %q, which the scrape configuration does not define", n)
			}
		}
	}
	return excluded, nil
}

// isOurDropRule recognises the drop rule by its head comment or its labels.
func isOurDropRule(r *yaml.Node) bool {
	if r.Kind != yaml.MappingNode || len(r.Content) == 0 {
		return false
	}
	if strings.Contains(r.HeadComment+r.Content[0].HeadComment, "istio-prometheus-mtls:") {
		return true
	}
	rn := yaml.NewRNode(r)
	src := rn.Field("source_labels")
	act := rn.Field("action")
	if src == nil || act == nil || yaml.GetValue(act.Value) != "drop" {
		return false
	}
	var labels []string
	for _, l := range src.Value.YNode().Content {
		labels = append(labels, l.Value)
	}
	b, _ := json.Marshal(labels)
	return strings.HasPrefix(string(b), fmt.Sprintf(`[%q,%q,%q`, lblStatus, lblMTLS, lblPort))
}

func fieldValue(n *yaml.Node, key string) string {
	if f := yaml.NewRNode(n).Field(key); f != nil {
		return yaml.GetValue(f.Value)
	}
	return ""
}

// Form is how a value is stored in its object.
type Form int

const (
	FormData   Form = iota // ConfigMap data, or Secret stringData
	FormBase64             // Secret data
)

// ReadValue returns the text under key in a ConfigMap's data or a Secret's data
// (base64) or stringData.
func ReadValue(obj *yaml.RNode, kind, key string) (string, Form, error) {
	if kind == "Secret" {
		if n, _ := obj.Pipe(yaml.Lookup("stringData", key)); n != nil {
			return yaml.GetValue(n), FormData, nil
		}
		n, _ := obj.Pipe(yaml.Lookup("data", key))
		if n == nil {
			return "", FormBase64, krmerr.Errorf("data."+key, "missing")
		}
		b, err := decodeBase64(yaml.GetValue(n))
		if err != nil {
			return "", FormBase64, krmerr.Errorf("data."+key, "is not valid base64: %v", err)
		}
		return string(b), FormBase64, nil
	}
	n, _ := obj.Pipe(yaml.Lookup("data", key))
	if n == nil {
		return "", FormData, krmerr.Errorf("data."+key, "missing")
	}
	if n.YNode().Kind != yaml.ScalarNode {
		return "", FormData, krmerr.Errorf("data."+key, "must be a string")
	}
	return n.YNode().Value, FormData, nil
}

// WriteValue stores value under key in the form it was read in, keeping the
// node's style (a block literal stays a block literal).
func WriteValue(obj *yaml.RNode, kind, key, value string, form Form) error {
	field := "data"
	if kind == "Secret" && form == FormData {
		field = "stringData"
	}
	n, err := obj.Pipe(yaml.Lookup(field, key))
	if err != nil || n == nil {
		return krmerr.Errorf(field+"."+key, "missing")
	}
	y := n.YNode()
	if form == FormBase64 {
		y.Value = encodeBase64([]byte(value))
		y.Style, y.Tag = 0, yaml.NodeTagString
		return nil
	}
	y.Value = value
	y.Tag = yaml.NodeTagString
	if y.Style == 0 && strings.Contains(value, "\n") {
		y.Style = yaml.LiteralStyle
	}
	return nil
}
