package operator

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/scrapers"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/yamlnode"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// View is a pod-template view of an operator's resource: {metadata, spec},
// where metadata holds the labels and annotations the operator gives its pods
// and spec is the resource's spec with the pod spec's field names. The pod
// template editor serves Deployments and operators' resources alike through
// it. A podtemplate.Mount with no container goes to spec.volumeMounts, which
// each operator gives its scraper container.
type View struct {
	Node *yaml.RNode
	cr   *yaml.RNode
	res  scrapers.Resource
	// shared: the view's nodes are the resource's (a podMetadata resource),
	// so edits land in it as they are made.
	shared bool
	// hadLabels, hadAnnotations: the resource had those fields before.
	hadLabels, hadAnnotations bool
	// specKeys are the resource's spec fields before the edit.
	specKeys []string
	// lifted are the pod spec fields the view took from deeper in the spec.
	lifted []string
}

// Template returns the view of cr, which is of resource res. With a
// podMetadata field (prometheus-operator, VictoriaMetrics) the view shares the
// resource's nodes, podMetadata created when missing; otherwise (the
// OpenTelemetry operator) the view is built of the resource's fields, and Sync
// writes it back.
func Template(cr *yaml.RNode, res scrapers.Resource) (*View, error) {
	spec, err := cr.Pipe(yaml.Lookup("spec"))
	if err != nil || spec == nil || spec.YNode().Kind != yaml.MappingNode {
		return nil, krmerr.Errorf("spec", "missing: the %s has no spec", cr.GetKind())
	}
	v := &View{cr: cr, res: res}
	if res.PodMetadata != nil { // the table gives such a resource no renamed fields
		pm, err := cr.Pipe(yaml.LookupCreate(yaml.MappingNode, res.PodMetadata...))
		if err != nil || pm.YNode().Kind != yaml.MappingNode {
			return nil, krmerr.Errorf(strings.Join(res.PodMetadata, "."), "must be a mapping")
		}
		v.shared, v.Node = true, view(pm.YNode(), spec.YNode())
		return v, nil
	}
	md := &yaml.Node{Kind: yaml.MappingNode}
	for _, f := range []struct {
		name string
		path []string
		had  *bool
	}{{"labels", res.Labels, &v.hadLabels}, {"annotations", res.Annotations, &v.hadAnnotations}} {
		n, err := cr.Pipe(yaml.Lookup(f.path...))
		if err != nil || n == nil || n.YNode().Tag == yaml.NodeTagNull {
			continue
		}
		if n.YNode().Kind != yaml.MappingNode {
			return nil, krmerr.Errorf(strings.Join(f.path, "."), "must be a mapping")
		}
		*f.had = true
		md.Content = append(md.Content, yamlnode.String(f.name), n.YNode())
	}
	renamed := &yaml.Node{Kind: yaml.MappingNode, Tag: spec.YNode().Tag}
	// A pod spec field the resource keeps deeper in its spec (the Alloy
	// resource's controller.initContainers) is lifted into the view.
	for _, pod := range slices.Sorted(maps.Keys(res.Renamed)) {
		if path := strings.Split(res.Renamed[pod], "."); len(path) > 1 {
			if n, err := spec.Pipe(yaml.Lookup(path...)); err == nil && n != nil && n.YNode().Tag != yaml.NodeTagNull {
				renamed.Content = append(renamed.Content, yamlnode.String(pod), n.YNode())
				v.lifted = append(v.lifted, pod)
			}
		}
	}
	for i := 0; i+1 < len(spec.YNode().Content); i += 2 {
		k := spec.YNode().Content[i]
		v.specKeys = append(v.specKeys, k.Value)
		for pod, own := range res.Renamed {
			if k.Value == own {
				k = yamlnode.String(pod)
			}
		}
		renamed.Content = append(renamed.Content, k, spec.YNode().Content[i+1])
	}
	v.Node = view(md, renamed)
	return v, nil
}

func view(metadata, spec *yaml.Node) *yaml.RNode {
	return yaml.NewRNode(&yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Value: "metadata"}, metadata,
		{Kind: yaml.ScalarNode, Value: "spec"}, spec,
	}})
}

// Sync writes what was edited through the view back into the resource: the
// spec's fields under the resource's names (in their order, new ones last),
// the labels and annotations where the operator reads them (a field left
// empty that the resource did not have is not written).
func (v *View) Sync() error {
	if v.shared {
		return nil
	}
	spec, _ := v.cr.Pipe(yaml.Lookup("spec"))
	edited := v.Node.Field("spec").Value.YNode()
	var content []*yaml.Node
	nested := map[string]*yaml.Node{}
	for i := 0; i+1 < len(edited.Content); i += 2 {
		k := edited.Content[i]
		if own, ok := v.res.Renamed[k.Value]; ok && strings.Contains(own, ".") {
			nested[own] = edited.Content[i+1]
			continue
		}
		if own, ok := v.res.Renamed[k.Value]; ok {
			k = original(spec.YNode(), own)
		}
		content = append(content, k, edited.Content[i+1])
	}
	spec.YNode().Content = content
	for pod, own := range v.res.Renamed {
		path := strings.Split(own, ".")
		if len(path) < 2 {
			continue
		}
		n, ok := nested[own]
		switch {
		case ok:
			if err := spec.PipeE(yaml.LookupCreate(yaml.MappingNode, path[:len(path)-1]...), yaml.SetField(path[len(path)-1], yaml.NewRNode(n))); err != nil {
				return err
			}
		case slices.Contains(v.lifted, pod):
			// Emptied (ambient mode took the function's elements out): the
			// chart's values hold these lists always, as [] where empty.
			empty := yaml.NewRNode(&yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle})
			if err := spec.PipeE(yaml.Lookup(path[:len(path)-1]...), yaml.SetField(path[len(path)-1], empty)); err != nil {
				return err
			}
		}
	}
	md := v.Node.Field("metadata").Value.YNode()
	for _, f := range []struct {
		name string
		path []string
		had  bool
	}{{"labels", v.res.Labels, v.hadLabels}, {"annotations", v.res.Annotations, v.hadAnnotations}} {
		n := yamlnode.Field(md, f.name)
		parent := f.path[:len(f.path)-1]
		last := f.path[len(f.path)-1]
		if n == nil || (len(n.Content) == 0 && !f.had) {
			if f.had {
				if _, err := v.cr.Pipe(yaml.Lookup(parent...), yaml.Clear(last)); err != nil {
					return err
				}
			}
			continue
		}
		if !f.had && len(parent) == 1 && parent[0] == "spec" {
			// A new spec field of the pods' metadata goes after the resource's
			// own fields and before those the edit added (initContainers,
			// volumes): where a later run, which finds it there and appends
			// the added ones again, keeps it.
			at := 0
			for i := 0; i+1 < len(spec.YNode().Content); i += 2 {
				if slices.Contains(v.specKeys, spec.YNode().Content[i].Value) {
					at = i + 2
				}
			}
			c := spec.YNode().Content
			spec.YNode().Content = append(c[:at:at], append([]*yaml.Node{yamlnode.String(last), n}, c[at:]...)...)
			continue
		}
		if err := v.cr.PipeE(yaml.LookupCreate(yaml.MappingNode, parent...), yaml.SetField(last, yaml.NewRNode(n))); err != nil {
			return err
		}
	}
	return nil
}

// original is the key node of field name in spec, or a new one.
func original(spec *yaml.Node, name string) *yaml.Node {
	for i := 0; i+1 < len(spec.Content); i += 2 {
		if spec.Content[i].Value == name {
			return spec.Content[i]
		}
	}
	return yamlnode.String(name)
}

// Field maps a field path of the view to the resource's, for messages.
func (v *View) Field(f string) string {
	if rest, ok := strings.CutPrefix(f, "metadata"); ok {
		if v.res.PodMetadata != nil {
			return strings.Join(v.res.PodMetadata, ".") + rest
		}
		for name, path := range map[string][]string{".labels": v.res.Labels, ".annotations": v.res.Annotations} {
			if r, ok := strings.CutPrefix(rest, name); ok {
				return strings.Join(path, ".") + r
			}
		}
		return f
	}
	for pod, own := range v.res.Renamed {
		if r, ok := strings.CutPrefix(f, "spec."+pod); ok {
			return "spec." + own + r
		}
	}
	return f
}

// Workload is the kind and name of the workload the operator makes of cr, as
// the scraper table's row for it says.
func Workload(cr *yaml.RNode) (kind, name string, err error) {
	_, res, ok := scrapers.ResourceOf(group(cr), cr.GetKind())
	w, known := res.Workloads[cr.GetKind()]
	if !ok || !known {
		return "", "", fmt.Errorf("%s is no operator's resource the function knows", cr.GetKind())
	}
	value := func(f []string) string {
		n, _ := cr.Pipe(yaml.Lookup(f...))
		if n == nil {
			return ""
		}
		return yaml.GetValue(n)
	}
	name = w.Prefix + cr.GetName() + w.Suffix
	if w.Legacy != nil && value(w.Legacy) == "true" {
		name = cr.GetName()
	}
	var last []string
	for _, r := range w.Kinds {
		if r.Field == nil || slices.Contains(r.Values, value(r.Field)) {
			return r.Kind, name, nil
		}
		last = r.Field
	}
	return "", "", krmerr.Errorf(strings.Join(last, "."), w.Refusal, value(last))
}

// DefaultServiceAccount is the service account the operator gives the pods
// of cr, whose workload is named workload, when cr names none: one of the
// workload's name where the operator creates it (the table's
// OwnServiceAccount), otherwise the namespace's default ("").
func DefaultServiceAccount(cr *yaml.RNode, workload string) string {
	if _, res, ok := scrapers.ResourceOf(group(cr), cr.GetKind()); ok && res.OwnServiceAccount {
		return workload
	}
	return ""
}

// group is the API group of cr's apiVersion.
func group(cr *yaml.RNode) string {
	g, _, _ := strings.Cut(cr.GetApiVersion(), "/")
	return g
}

// TLSFile is a certificate file a scrape endpoint's tlsConfig names.
type TLSFile struct {
	Ref   *krmerr.Ref
	Field string
	Path  string
}

// vmEndpoints are where VictoriaMetrics' monitors keep scrape endpoints
// with a tlsConfig (the resource's own are its row's Endpoints).
var vmEndpoints = map[string][]string{
	"VMServiceScrape": {"spec", "endpoints"},
	"VMPodScrape":     {"spec", "podMetricsEndpoints"},
}

// UnwrittenTLSFiles are the tlsConfig files (caFile, certFile, keyFile) of
// cr's and its group's monitors' endpoints among items that lie in no
// directory the scraper container has mounted (mounted), nor in one the
// operator mounts (the table's Mounted): paths nothing writes, such as the
// keyFile of VictoriaMetrics' Istio example.
func UnwrittenTLSFiles(cr *yaml.RNode, items []*yaml.RNode, mounted []string) []TLSFile {
	g := group(cr)
	_, res, _ := scrapers.ResourceOf(g, cr.GetKind())
	var out []TLSFile
	for _, it := range items {
		path, ok := vmEndpoints[it.GetKind()]
		if it.GetKind() == cr.GetKind() {
			// The resource's own endpoints (the table's Endpoints), not
			// another resource's of its kind.
			path, ok = res.Endpoints, res.Endpoints != nil && it.GetName() == cr.GetName()
		}
		if !ok || !strings.HasPrefix(it.GetApiVersion(), g+"/") {
			continue
		}
		list, _ := it.Pipe(yaml.Lookup(path...))
		if list == nil || list.YNode().Kind != yaml.SequenceNode {
			continue
		}
		for i, ep := range list.YNode().Content {
			tls := yamlnode.Field(ep, "tlsConfig")
			for _, f := range []string{"caFile", "certFile", "keyFile"} {
				file := yamlnode.Value(tls, f)
				if file == "" || under(file, append(slices.Clone(res.Mounted), mounted...)) {
					continue
				}
				out = append(out, TLSFile{Ref: krmerr.RefOf(it), Field: fmt.Sprintf("%s[%d].tlsConfig.%s", strings.Join(path, "."), i, f), Path: file})
			}
		}
	}
	// The resource's own first, then its monitors by name: whatever the
	// order of the list.
	own := krmerr.RefOf(cr).String()
	slices.SortStableFunc(out, func(a, b TLSFile) int {
		ak, bk := a.Ref.String(), b.Ref.String()
		if (ak == own) != (bk == own) {
			if ak == own {
				return -1
			}
			return 1
		}
		return strings.Compare(ak, bk)
	})
	return out
}

func under(file string, dirs []string) bool {
	for _, d := range dirs {
		if d != "" && strings.HasPrefix(file, strings.TrimSuffix(d, "/")+"/") {
			return true
		}
	}
	return false
}
