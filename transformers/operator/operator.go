// Package operator edits operators' resources: prometheus-operator's
// Prometheus and PrometheusAgent (monitoring.coreos.com), VictoriaMetrics'
// VMAgent and the OpenTelemetryCollector. Each operator turns its resource
// into a workload, so the sidecar, volumes and mount go into the resource's
// spec (through a View), and scraping is set up with a scrape class and the
// additionalScrapeConfigs Secret, or in the resource's own config.
package operator

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/certs"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/scrapers"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/yamlnode"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// ScrapeClassName is the scrape class monitors opt into with scrapeClass: istio-mtls.
const ScrapeClassName = "istio-mtls"

// AdditionalKey is the Secret key of the scrape configs the function creates.
const AdditionalKey = "additional-scrape-configs.yaml"

// ScrapeClass is the istio-mtls scrape class to write.
type ScrapeClass struct {
	// CertsDir is where the prometheus container reads the certificates
	// (spec.certificates.mountPath).
	CertsDir string
	// Default makes it the default class of the resource.
	Default bool
	// TakeOver replaces a class of its name this function did not write.
	TakeOver bool
	// Remove takes out the class an earlier run wrote, and writes none (ambient
	// mode).
	Remove bool
	// Scraper is the resource's scraper, named in the class's comment; the
	// zero value is Prometheus.
	Scraper scrapers.Scraper
}

// Node is the scrape class as it is written into spec.scrapeClasses.
func (c ScrapeClass) Node() *yaml.RNode {
	ca, chain, key := certs.Paths(c.CertsDir)
	fields := []*yaml.Node{yamlnode.String("name"), yamlnode.String(ScrapeClassName)}
	if c.Default {
		fields = append(fields, yamlnode.String("default"), &yaml.Node{Kind: yaml.ScalarNode, Tag: yaml.NodeTagBool, Value: "true"})
	}
	fields = append(fields, yamlnode.String("tlsConfig"), mapping(
		yamlnode.String("caFile"), yamlnode.String(ca),
		yamlnode.String("certFile"), yamlnode.String(chain),
		yamlnode.String("keyFile"), yamlnode.String(key),
		yamlnode.String("insecureSkipVerify"), &yaml.Node{Kind: yaml.ScalarNode, Tag: yaml.NodeTagBool, Value: "true"},
	))
	n := mapping(fields...)
	n.HeadComment = "# Istio mTLS certificates (istio-prometheus-mtls): monitors opt in with scrapeClass: " + ScrapeClassName + ".\n" + certs.SkipVerifyWhyShort(cmp.Or(c.Scraper.Called, scrapers.Prometheus().Called))
	return yaml.NewRNode(n)
}

func mapping(kv ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Tag: yaml.NodeTagMap, Content: kv}
}

// Owned is what the ownership record keeps of the class.
type Owned struct {
	// Name is set when the function wrote the class.
	Name string
	// UsersDefault: the class replaced was the user's default, and stays the
	// default.
	UsersDefault bool
}

// Ensure adds or replaces the class in cr's spec.scrapeClasses and returns what
// the function now owns of it, given what an earlier run owned. A class of that
// name the user wrote is adopted as it is when it reads the certificates where
// the function puts them (prometheus-operator's Istio guide writes one so, with
// default: true); another is an error unless TakeOver, which replaces it but
// keeps the user's default. Only one class may be the default.
func (c ScrapeClass) Ensure(cr *yaml.RNode, old Owned) (Owned, error) {
	ours := Owned{Name: ScrapeClassName, UsersDefault: old.UsersDefault}
	list, err := cr.Pipe(yaml.LookupCreate(yaml.SequenceNode, "spec", "scrapeClasses"))
	if err != nil || list.YNode().Kind != yaml.SequenceNode {
		return Owned{}, krmerr.Errorf("spec.scrapeClasses", "must be a list")
	}
	list.YNode().Style &^= yaml.FlowStyle
	at := -1
	for i, el := range list.YNode().Content {
		name := yamlnode.Value(el, "name")
		if name == ScrapeClassName {
			at = i
			continue
		}
		if c.Default && yamlnode.Value(el, "default") == "true" {
			return Owned{}, krmerr.Errorf(fmt.Sprintf("spec.scrapeClasses[%d]", i), "scrape class %q is already the default; only one may be (unset it, or leave spec.scrapeJob.defaultScrapeClass false)", name)
		}
	}
	if at < 0 {
		c.Default = c.Default || ours.UsersDefault
		list.YNode().Content = append(list.YNode().Content, c.Node().YNode())
		return ours, nil
	}
	el := list.YNode().Content[at]
	switch {
	case old.Name != "", yamlnode.SameDecoded(el, c.Node().YNode()):
	case !c.TakeOver && c.readsOurFiles(el):
		return Owned{}, nil // the user's, doing what ours would: kept as it is
	case !c.TakeOver:
		return Owned{}, krmerr.Errorf(fmt.Sprintf("spec.scrapeClasses[%d]", at), "a scrape class named %q exists that this function did not write, and its tlsConfig does not read the certificates from %s; remove it, or set spec.scrapeJob.takeOver: true to replace it", ScrapeClassName, c.CertsDir)
	case yamlnode.Value(el, "default") == "true":
		// Taken over: the monitors relying on the user's default keep it.
		ours.UsersDefault = true
	}
	c.Default = c.Default || ours.UsersDefault
	list.YNode().Content[at] = c.Node().YNode()
	return ours, nil
}

// readsOurFiles: the class's tlsConfig names the CA, chain and key files where the
// function puts them (a trailing slash aside).
func (c ScrapeClass) readsOurFiles(class *yaml.Node) bool {
	tls := yamlnode.Field(class, "tlsConfig")
	ca, chain, key := certs.Paths(c.CertsDir)
	for f, want := range map[string]string{"caFile": ca, "certFile": chain, "keyFile": key} {
		if path.Clean(yamlnode.Value(tls, f)) != want {
			return false
		}
	}
	return true
}

// Ours tells whether cr's class of the function's name is of its making: its
// tlsConfig reads Istio's certificate files by the names the agent writes
// them (in any directory: the mount path may have changed since). A record
// naming the class is believed only then.
func (c ScrapeClass) Ours(cr *yaml.RNode) bool {
	list, _ := cr.Pipe(yaml.Lookup("spec", "scrapeClasses"))
	if list == nil || list.YNode().Kind != yaml.SequenceNode {
		return true // none: nothing to believe or doubt
	}
	for _, el := range list.YNode().Content {
		if yamlnode.Value(el, "name") != ScrapeClassName {
			continue
		}
		tls := yamlnode.Field(el, "tlsConfig")
		for f, want := range map[string]string{"caFile": certs.CA, "certFile": certs.Chain, "keyFile": certs.Key} {
			if path.Base(yamlnode.Value(tls, f)) != want {
				return false
			}
		}
	}
	return true
}

// RemoveFrom takes the class out of cr's spec.scrapeClasses when owned says an
// earlier run wrote it (a class of the name the user wrote stays); a list left
// empty goes with it.
func (c ScrapeClass) RemoveFrom(cr *yaml.RNode, owned bool) error {
	list, err := cr.Pipe(yaml.Lookup("spec", "scrapeClasses"))
	if err != nil || list == nil || !owned {
		return err
	}
	if list.YNode().Kind != yaml.SequenceNode {
		return krmerr.Errorf("spec.scrapeClasses", "must be a list")
	}
	kept := list.YNode().Content[:0]
	for _, el := range list.YNode().Content {
		if yamlnode.Value(el, "name") != ScrapeClassName {
			kept = append(kept, el)
		}
	}
	list.YNode().Content = kept
	if len(kept) == 0 {
		_, err = cr.Pipe(yaml.Lookup("spec"), yaml.Clear("scrapeClasses"))
	}
	return err
}

// AdditionalScrapeConfigs returns the Secret name and key cr references, if any.
func AdditionalScrapeConfigs(cr *yaml.RNode) (name, key string, err error) {
	field := additional(cr)
	if field == nil {
		return "", "", nil
	}
	ref, _ := cr.Pipe(yaml.Lookup(field...))
	if ref == nil {
		return "", "", nil
	}
	if ref.YNode().Kind != yaml.MappingNode {
		return "", "", krmerr.Errorf(strings.Join(field, "."), "must be a Secret key selector {name, key}")
	}
	name, key = yamlnode.Value(ref.YNode(), "name"), yamlnode.Value(ref.YNode(), "key")
	if name == "" || key == "" {
		return "", "", krmerr.Errorf(strings.Join(field, "."), "needs both name and key")
	}
	return name, key, nil
}

// additional is the field of cr's additional scrape configs Secret (the
// table's Additional), nil when its kind has none.
func additional(cr *yaml.RNode) []string {
	_, res, _ := scrapers.ResourceOf(group(cr), cr.GetKind())
	return res.Additional
}

// managedBy is the app.kubernetes.io/managed-by label of the Secret the function
// creates.
const managedBy = "istio-prometheus-mtls"

func scrapeSecretName(cr *yaml.RNode) string { return cr.GetName() + "-istio-mtls-scrape" }

// IsCreatedSecret tells whether secret is the one NewScrapeSecret made for cr: its
// name and the managed-by label the function wrote.
func IsCreatedSecret(secret, cr *yaml.RNode) bool {
	return secret.GetName() == scrapeSecretName(cr) && secret.GetLabels()["app.kubernetes.io/managed-by"] == managedBy
}

// Unreference removes cr's spec.additionalScrapeConfigs, which NewScrapeSecret set.
func Unreference(cr *yaml.RNode) error {
	field := additional(cr)
	if field == nil {
		return nil
	}
	_, err := cr.Pipe(yaml.Lookup(field[:len(field)-1]...), yaml.Clear(field[len(field)-1]))
	return err
}

// ScrapeConfigName is the name of the ScrapeConfig the function creates for cr.
func ScrapeConfigName(cr *yaml.RNode) string { return cr.GetName() + "-istio-mtls" }

// IsCreatedScrapeConfig tells whether n is the ScrapeConfig NewScrapeConfig made
// for cr: its kind, group, name, namespace and the managed-by label.
func IsCreatedScrapeConfig(n, cr *yaml.RNode) bool {
	return n.GetKind() == "ScrapeConfig" && strings.HasPrefix(n.GetApiVersion(), group(cr)+"/") &&
		n.GetName() == ScrapeConfigName(cr) && n.GetNamespace() == cr.GetNamespace() && n.GetLabels()["app.kubernetes.io/managed-by"] == managedBy
}

// NewScrapeConfig is a monitoring.coreos.com/v1alpha1 ScrapeConfig with spec, in
// cr's namespace, labelled so that cr's spec.scrapeConfigSelector selects it:
// where the job goes when cr's additionalScrapeConfigs Secret is not the
// function's to edit. A selector that is unset selects nothing, and one with
// matchExpressions may not select it: both are errors at the field.
func NewScrapeConfig(cr, spec *yaml.RNode) (*yaml.RNode, error) {
	sel, _ := cr.Pipe(yaml.Lookup("spec", "scrapeConfigSelector"))
	if sel == nil || sel.YNode().Kind != yaml.MappingNode {
		return nil, krmerr.Errorf("spec.scrapeConfigSelector", "is unset, so %s selects no ScrapeConfig resource, where the function puts its job when the additionalScrapeConfigs Secret is not in the list: set it (for example {matchLabels: {release: NAME}}), or include the Secret", cr.GetName())
	}
	if e := yamlnode.Field(sel.YNode(), "matchExpressions"); e != nil && len(e.Content) > 0 {
		return nil, krmerr.Errorf("spec.scrapeConfigSelector.matchExpressions", "the function labels its ScrapeConfig from matchLabels only and cannot tell whether these expressions select it: select with matchLabels, or include the additionalScrapeConfigs Secret in the list")
	}
	labels := []*yaml.Node{yamlnode.String("app.kubernetes.io/managed-by"), yamlnode.String(managedBy)}
	if ml := yamlnode.Field(sel.YNode(), "matchLabels"); ml != nil && ml.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(ml.Content); i += 2 {
			labels = append(labels, yamlnode.String(ml.Content[i].Value), yamlnode.String(ml.Content[i+1].Value))
		}
	}
	md := []*yaml.Node{yamlnode.String("name"), yamlnode.String(ScrapeConfigName(cr))}
	if ns := cr.GetNamespace(); ns != "" {
		md = append(md, yamlnode.String("namespace"), yamlnode.String(ns))
	}
	md = append(md, yamlnode.String("labels"), mapping(labels...))
	return yaml.NewRNode(mapping(
		yamlnode.String("apiVersion"), yamlnode.String(group(cr)+"/v1alpha1"),
		yamlnode.String("kind"), yamlnode.String("ScrapeConfig"),
		yamlnode.String("metadata"), mapping(md...),
		yamlnode.String("spec"), spec.YNode(),
	)), nil
}

// NewScrapeSecret is the Secret the function creates when cr has no
// additionalScrapeConfigs, and points cr at.
func NewScrapeSecret(cr *yaml.RNode) (*yaml.RNode, error) {
	name := scrapeSecretName(cr)
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		return nil, krmerr.Errorf("metadata.name", "the function would create Secret %q for spec.additionalScrapeConfigs, which is not a valid name: %s (name the Prometheus resource as Kubernetes requires, or reference a Secret of your own)", name, msgs[0])
	}
	s := yaml.NewRNode(mapping(
		yamlnode.String("apiVersion"), yamlnode.String("v1"),
		yamlnode.String("kind"), yamlnode.String("Secret"),
		yamlnode.String("metadata"), mapping(
			yamlnode.String("name"), yamlnode.String(name),
			yamlnode.String("labels"), mapping(yamlnode.String("app.kubernetes.io/managed-by"), yamlnode.String(managedBy)),
		),
		yamlnode.String("type"), yamlnode.String("Opaque"),
		yamlnode.String("data"), mapping(yamlnode.String(AdditionalKey), yamlnode.String("")),
	))
	if ns := cr.GetNamespace(); ns != "" {
		if err := s.SetNamespace(ns); err != nil {
			return nil, err
		}
	}
	ref := yaml.NewRNode(mapping(yamlnode.String("name"), yamlnode.String(name), yamlnode.String("key"), yamlnode.String(AdditionalKey)))
	field := additional(cr)
	if field == nil {
		return nil, fmt.Errorf("%s takes no additional scrape configs Secret", cr.GetKind())
	}
	if err := cr.PipeE(yaml.LookupCreate(yaml.MappingNode, field[:len(field)-1]...), yaml.SetField(field[len(field)-1], ref)); err != nil {
		return nil, err
	}
	return s, nil
}

// monitorSelectors are the fields of an operator's resource that select each
// monitor kind (of the resource's group): by the monitor's labels, and by its
// namespace's labels. VictoriaMetrics' fields at v0.74.1.
var monitorSelectors = map[string]struct{ labels, namespaces string }{
	"PodMonitor":      {"podMonitorSelector", "podMonitorNamespaceSelector"},
	"ScrapeConfig":    {"scrapeConfigSelector", "scrapeConfigNamespaceSelector"},
	"VMPodScrape":     {"podScrapeSelector", "podScrapeNamespaceSelector"},
	"VMServiceScrape": {"serviceScrapeSelector", "serviceScrapeNamespaceSelector"},
	"VMScrapeConfig":  {"scrapeConfigSelector", "scrapeConfigNamespaceSelector"},
}

// monitorEndpoints are where a monitor keeps its endpoints; a kind not here
// is one endpoint, its spec.
var monitorEndpoints = map[string][]string{
	"PodMonitor":      {"spec", "podMetricsEndpoints"},
	"VMPodScrape":     {"spec", "podMetricsEndpoints"},
	"VMServiceScrape": {"spec", "endpoints"},
}

// ownTLS tells a monitor that scrapes over TLS of its own (scheme https, or a
// tlsConfig): its targets are not plaintext mesh pods, and the istio-mtls class
// (Istio's root as CA) is not for it.
func ownTLS(mon *yaml.RNode) bool {
	eps := []*yaml.Node{}
	if path, ok := monitorEndpoints[mon.GetKind()]; ok {
		if list, _ := mon.Pipe(yaml.Lookup(path...)); list != nil && list.YNode().Kind == yaml.SequenceNode {
			eps = list.YNode().Content
		}
	} else if spec, _ := mon.Pipe(yaml.Lookup("spec")); spec != nil {
		eps = []*yaml.Node{spec.YNode()}
	}
	for _, ep := range eps {
		if strings.EqualFold(yamlnode.Value(ep, "scheme"), "https") || yamlnode.Field(ep, "tlsConfig") != nil {
			return true
		}
	}
	return false
}

// MonitorKinds are the kinds SelectedMonitors reads, sorted.
func MonitorKinds() []string { return slices.Sorted(maps.Keys(monitorSelectors)) }

// SelectedMonitors lists the monitors among items that cr selects (label
// selector; namespace selector evaluated against the Namespaces in the list,
// otherwise assumed to match): with inClass those that name the istio-mtls
// scrape class, otherwise those that do not and scrape without TLS of their own
// (the info result tells how to opt them in). Each selector is read once, and the Namespaces once. An unset
// selector selects nothing, and an unset namespace selector the resource's
// namespace; a VMAgent with selectAllByDefault selects all with either.
func SelectedMonitors(cr *yaml.RNode, items []*yaml.RNode, inClass bool) []string {
	namespaces := map[string]map[string]string{}
	for _, it := range items {
		if it.GetKind() == "Namespace" {
			if _, seen := namespaces[it.GetName()]; !seen {
				namespaces[it.GetName()] = it.GetLabels()
			}
		}
	}
	all, _ := cr.Pipe(yaml.Lookup("spec", "selectAllByDefault"))
	selectAll := all != nil && yaml.GetValue(all) == "true"
	selectors := map[string]labels.Selector{}
	selector := func(field string) labels.Selector {
		s, ok := selectors[field]
		if !ok {
			s = selectorAt(cr, field)
			if s == nil && selectAll {
				s = labels.Everything()
			}
			selectors[field] = s
		}
		return s
	}
	group, _, _ := strings.Cut(cr.GetApiVersion(), "/")
	var out []string
	for _, it := range items {
		kind := it.GetKind()
		f, ok := monitorSelectors[kind]
		if !ok || !strings.HasPrefix(it.GetApiVersion(), group+"/") {
			continue
		}
		if s := selector(f.labels); s == nil || !s.Matches(labels.Set(it.GetLabels())) {
			continue // no selector selects nothing
		}
		if !inNamespaces(cr, selector(f.namespaces), it.GetNamespace(), namespaces) {
			continue
		}
		if n, _ := it.Pipe(yaml.Lookup("spec", "scrapeClass")); (n != nil && yaml.GetValue(n) == ScrapeClassName) != inClass {
			continue
		}
		if !inClass && ownTLS(it) {
			continue // the API server's, a kubelet's: their own CA, never Istio's
		}
		out = append(out, krmerr.RefOf(it).String())
	}
	slices.Sort(out) // whatever the order of the list
	return out
}

// inNamespaces evaluates a namespace selector (nil: the resource's own
// namespace) for namespace ns; a Namespace not in the list may match.
func inNamespaces(cr *yaml.RNode, sel labels.Selector, ns string, namespaces map[string]map[string]string) bool {
	if sel == nil {
		return ns == cr.GetNamespace() || ns == ""
	}
	l, listed := namespaces[ns]
	return !listed || sel.Matches(labels.Set(l))
}

// selectorAt reads the LabelSelector at spec.<field> of cr as prometheus-operator
// does, with apimachinery's selector: nil when the field is absent, one that
// selects nothing when it cannot be read.
func selectorAt(cr *yaml.RNode, field string) labels.Selector {
	n, _ := cr.Pipe(yaml.Lookup("spec", field))
	if n == nil {
		return nil
	}
	var ls metav1.LabelSelector
	b, err := n.MarshalJSON()
	if err == nil {
		err = json.Unmarshal(b, &ls)
	}
	if err != nil {
		return labels.Nothing()
	}
	s, err := metav1.LabelSelectorAsSelector(&ls)
	if err != nil {
		return labels.Nothing()
	}
	return s
}
