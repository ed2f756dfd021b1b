package scrapeconfig

// The job model: the jobs and relabel rules this function writes, and how it
// recognises them in a config it wrote before.

import (
	"fmt"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/certs"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/yamlnode"
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
	return job(o.JobName, o.Certs.MountPath, rules)
}

// securePortJob is Istio's job for one of its secure metrics ports.
func securePortJob(name, portLabel, mountPath string) *yaml.RNode {
	rules := []*yaml.RNode{
		rule("Pods whose istio-proxy serves metrics over mTLS on this port.", "keep", []string{portLabel}, `\d+`, "", ""),
		rule("", "drop", []string{"__meta_kubernetes_pod_phase"}, "Pending|Succeeded|Failed|Completed", "", ""),
		rule("", "replace", []string{lblPath}, "(.+)", "__metrics_path__", ""),
	}
	rules = append(rules, addressRules(portLabel)...)
	rules = append(rules, commonTail()...)
	j := job(name, mountPath, rules)
	// Istio serves /stats/prometheus on these ports.
	j.YNode().Content = append(j.YNode().Content[:2], append([]*yaml.Node{str("metrics_path"), str("/stats/prometheus")}, j.YNode().Content[2:]...)...)
	return j
}

func job(name, mountPath string, rules []*yaml.RNode) *yaml.RNode {
	j := yaml.NewRNode(&yaml.Node{Kind: yaml.MappingNode})
	nameNode := str(name)
	nameNode.LineComment = "# " + Marker
	tls := yaml.NewRNode(&yaml.Node{Kind: yaml.MappingNode})
	ca, chain, key := certs.Paths(mountPath)
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

func isOurs(job *yaml.Node) bool {
	f := yaml.NewRNode(job).Field("job_name")
	return f != nil && strings.Contains(f.Value.YNode().LineComment, Marker)
}

// isOurDropRule recognises the drop rule by its head comment or its labels.
func isOurDropRule(r *yaml.Node) bool {
	if r.Kind != yaml.MappingNode || len(r.Content) == 0 {
		return false
	}
	if strings.Contains(r.HeadComment+r.Content[0].HeadComment, "istio-prometheus-mtls:") {
		return true
	}
	// An older drop rule without its comment: its source labels start so.
	src := yamlnode.Field(r, "source_labels")
	first := []string{lblStatus, lblMTLS, lblPort}
	if src == nil || yamlnode.Value(r, "action") != "drop" || len(src.Content) < len(first) {
		return false
	}
	for i, l := range first {
		if src.Content[i].Value != l {
			return false
		}
	}
	return true
}
