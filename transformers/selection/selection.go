// Package selection finds, in a list of resources, the scraper workload
// (Prometheus, or another row of the scraper table), its scraper container and
// the ConfigMap or Secret key that holds its config.
// Items are indexed once; nothing here scans the list more than once per call.
package selection

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/config"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/kinds"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/podtemplate"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/scrapers"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/yamlnode"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Annotations kustomize sets on renamed resources (transformers run before kustomize
// fixes references, so a workload may still name a ConfigMap by its old name).
var (
	previousNamesAnnotations      = []string{"internal.config.kubernetes.io/previousNames", "config.kubernetes.io/previousNames"}
	previousNamespacesAnnotations = []string{"internal.config.kubernetes.io/previousNamespaces", "config.kubernetes.io/previousNamespaces"}
)

type key struct{ kind, namespace, name string }

// Index indexes the items of a ResourceList by kind, namespace and every name they
// have had.
type Index struct {
	Items     []*yaml.RNode
	byKey     map[key][]int
	workloads []int
}

// NewIndex indexes items.
func NewIndex(items []*yaml.RNode) (*Index, error) {
	ix := &Index{Items: items, byKey: make(map[key][]int)}
	for i, it := range items {
		if err := checkShape(it, i); err != nil {
			return nil, err
		}
		kind := it.GetKind()
		switch kind {
		case "ConfigMap", "Secret":
			for _, k := range keysOf(kind, it) {
				ix.byKey[k] = append(ix.byKey[k], i)
			}
		default:
			if kinds.IsSelectable(kind) {
				ix.workloads = append(ix.workloads, i)
			}
		}
	}
	return ix, duplicateKeys(items)
}

// maxDuplicates bounds the duplicate-key errors one run reports.
const maxDuplicates = 10

// duplicateKeys refuses items with a key twice in one mapping: the API server
// keeps the last, while the function would read and edit the first.
func duplicateKeys(items []*yaml.RNode) error {
	var errs []error
	for _, n := range items {
		if len(errs) == maxDuplicates {
			break // enough to act on; the next run finds the rest
		}
		if p := yamlnode.DuplicateKey(n.YNode()); p != "" {
			errs = append(errs, krmerr.About(n, p, "this key appears twice in its mapping; YAML forbids it, and the API server keeps the last while this function would edit the first: remove one"))
		}
	}
	return errors.Join(errs...)
}

// checkShape refuses items whose metadata (or pod template metadata) is not a
// mapping: the YAML library's accessors assume one.
func checkShape(n *yaml.RNode, i int) error {
	root := n.YNode()
	if root.Kind != yaml.MappingNode {
		return krmerr.Errorf(fmt.Sprintf("items[%d]", i), "must be a mapping (a Kubernetes object)")
	}
	what := fmt.Sprintf("items[%d]", i)
	if k := yamlnode.Field(root, "kind"); k != nil && k.Kind == yaml.ScalarNode {
		what += " (" + k.Value
		if md := yamlnode.Field(root, "metadata"); md != nil && md.Kind == yaml.MappingNode {
			if nm := yamlnode.Field(md, "name"); nm != nil && nm.Kind == yaml.ScalarNode {
				what += " " + nm.Value
			}
		}
		what += ")"
	}
	paths := [][]string{{"metadata"}, {"metadata", "labels"}, {"metadata", "annotations"}}
	if p, ok := kinds.TemplatePath(scalar(root, "kind")); ok {
		for _, sub := range [][]string{{"metadata"}, {"metadata", "labels"}, {"metadata", "annotations"}} {
			paths = append(paths, append(append([]string{}, p...), sub...))
		}
	}
	for _, s := range scrapers.Table {
		for _, r := range s.Resources {
			if !slices.Contains(r.Kinds, scalar(root, "kind")) {
				continue
			}
			if r.PodMetadata != nil {
				for _, sub := range []string{"", "labels", "annotations"} {
					paths = append(paths, append(slices.Clone(r.PodMetadata), sub)[:len(r.PodMetadata)+min(len(sub), 1)])
				}
			}
			if r.Annotations != nil {
				paths = append(paths, r.Annotations)
			}
		}
	}
	for _, p := range paths {
		cur := root
		for j, k := range p {
			next := yamlnode.Field(cur, k)
			if next == nil || isEmptyScalar(next) {
				break // none, null or "": read as empty
			}
			if next.Kind != yaml.MappingNode {
				field := strings.Join(p[:j+1], ".")
				return krmerr.Errorf(field, "%s: %s must be a mapping, got a %s", what, field, yamlnode.KindWord(next))
			}
			cur = next
		}
	}
	return nil
}

// isEmptyScalar: null, or the empty string some tools turn a null into.
func isEmptyScalar(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && (n.ShortTag() == yaml.NodeTagNull || n.Value == "")
}

func scalar(m *yaml.Node, key string) string {
	if v := yamlnode.Field(m, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

// keysOf lists the current and previous names of a resource (reading only the
// fields it needs: this runs on every ConfigMap and Secret of the list).
func keysOf(kind string, n *yaml.RNode) []key {
	name, namespace := n.GetName(), n.GetNamespace()
	keys := []key{{kind, namespace, name}}
	names := previous(n, previousNamesAnnotations)
	namespaces := previous(n, previousNamespacesAnnotations)
	for i, n := range names {
		ns := namespace
		if i < len(namespaces) {
			ns = namespaces[i]
		}
		keys = append(keys, key{kind, ns, n}, key{kind, namespace, n})
	}
	return keys
}

// previous reads the first of the kustomize annotations in keys that n carries,
// as a list (kustomize joins earlier names with commas).
func previous(n *yaml.RNode, keys []string) []string {
	ann, _ := n.Pipe(yaml.Lookup("metadata", "annotations"))
	if ann == nil {
		return nil
	}
	for _, k := range keys {
		if f := ann.Field(k); f != nil {
			if v := yaml.GetValue(f.Value); v != "" {
				return strings.Split(v, ",")
			}
		}
	}
	return nil
}

// Lookup returns the index of the one item of kind named name (current or previous
// name) in namespace, or -1. Manifests meant for `kubectl apply -n` may name the
// namespace on one object and not the other: an object without a namespace
// matches when none has it.
func (ix *Index) Lookup(kind, namespace, name string) (int, error) {
	found := ix.byKey[key{kind, namespace, name}]
	if len(found) == 0 && namespace != "" {
		found = ix.byKey[key{kind, "", name}]
	}
	uniq := map[int]bool{}
	for _, i := range found {
		uniq[i] = true
	}
	switch len(uniq) {
	case 0:
		return -1, nil
	case 1:
		return found[0], nil
	}
	var names []string
	for i := range uniq {
		names = append(names, describe(ix.Items[i]))
	}
	sort.Strings(names)
	return -1, fmt.Errorf("%s %q is ambiguous: %s", kind, name, strings.Join(names, ", "))
}

// describe names n in messages: "Kind namespace/name", or "Kind name".
func describe(n *yaml.RNode) string { return krmerr.RefOf(n).String() }

// hasName tells whether n is or was called name.
func hasName(n *yaml.RNode, name string) bool {
	if n.GetName() == name {
		return true
	}
	for _, p := range previous(n, previousNamesAnnotations) {
		if p == name {
			return true
		}
	}
	return false
}

// Workload is the selected scraper workload.
type Workload struct {
	Item int
	// Container is the scraper container.
	Container corev1.Container
	// Operator is set for an operator's resource (the scraper table's): the
	// operator generates the pod, so there is no container to find.
	Operator bool
	// unusable is why a workload spec.target names cannot be used (no pod
	// template, no Prometheus container): the error if it is the one selected.
	unusable error
}

// SelectWorkload picks the scraper workload named by t, or the single one,
// whatever its kind.
func (ix *Index) SelectWorkload(t config.Target) (Workload, error) {
	explicit := t.Kind != "" || t.Name != "" || t.Namespace != "" || len(t.MatchLabels) > 0 || t.Container != ""
	var considered, matched []string
	var candidates []Workload
	for _, i := range ix.workloads {
		n := ix.Items[i]
		considered = append(considered, describe(n))
		if t.Kind != "" && n.GetKind() != t.Kind {
			continue
		}
		if t.Name != "" && !hasName(n, t.Name) {
			continue
		}
		if t.Namespace != "" && n.GetNamespace() != t.Namespace {
			continue
		}
		if len(t.MatchLabels) > 0 && !labelsMatch(n, t.MatchLabels) {
			continue
		}
		if kinds.IsOperator(n.GetKind()) {
			if kinds.IsOperatorResource(n.GetApiVersion(), n.GetKind()) {
				matched = append(matched, describe(n))
				candidates = append(candidates, Workload{Item: i, Operator: true})
			}
			continue
		}
		if !explicit && !mayRunScraper(n) {
			continue
		}
		c, err := workloadContainer(n, t.Container)
		if err != nil && !explicit && !errors.As(err, new(malformed)) {
			continue
		}
		matched = append(matched, describe(n))
		candidates = append(candidates, Workload{Item: i, Container: c, unusable: err})
	}
	how := "select one with spec.target (kind, name, namespace, matchLabels; or target-name=… in a ConfigMap config)"
	switch len(candidates) {
	case 0:
		what := "no scraper workload found"
		if explicit {
			what = "no workload matches spec.target " + describeTarget(t)
		}
		if len(considered) == 0 {
			return Workload{}, krmerr.ConfigErrorf("spec.target", "%s: the list holds no %s", what, strings.Join(kinds.Selectable(), ", "))
		}
		return Workload{}, krmerr.ConfigErrorf("spec.target", "%s among the workloads considered (%s); a scraper workload runs %s, or is an operator's resource (%s); %s", what, strings.Join(considered, ", "), scrapers.Recognised(), kinds.Operators(), how)
	case 1:
		w := candidates[0]
		if w.unusable != nil {
			return Workload{}, krmerr.At(ix.Items[w.Item], w.unusable)
		}
		return w, nil
	}
	return Workload{}, krmerr.ConfigErrorf("spec.target", "%d scraper workloads match (%s); %s", len(candidates), strings.Join(matched, ", "), how)
}

func describeTarget(t config.Target) string {
	var parts []string
	for _, kv := range [][2]string{{"kind", t.Kind}, {"name", t.Name}, {"namespace", t.Namespace}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(t.MatchLabels)) {
		parts = append(parts, "matchLabels."+k+"="+t.MatchLabels[k])
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// labelsMatch matches the workload's labels or its pod template's.
func labelsMatch(n *yaml.RNode, want map[string]string) bool {
	sets := []map[string]string{n.GetLabels()}
	if tpl, _, err := podtemplate.Template(n); err == nil {
		sets = append(sets, tpl.GetLabels())
	} else if pm, _ := n.Pipe(yaml.Lookup("spec", "podMetadata")); pm != nil {
		sets = append(sets, pm.GetLabels())
	}
	for _, have := range sets {
		ok := true
		for k, v := range want {
			if have[k] != v {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// workloadContainer finds the Prometheus container of workload n (named name, or
// found as prometheusContainer finds it); errors name their field in n.
func workloadContainer(n *yaml.RNode, name string) (corev1.Container, error) {
	tpl, field, err := podtemplate.Template(n)
	if err != nil {
		return corev1.Container{}, err
	}
	c, err := prometheusContainer(tpl, name)
	if m := (malformed{}); errors.As(err, &m) {
		return c, malformed{krmerr.Prefix(field, m.error)}
	}
	return c, krmerr.Prefix(field, err)
}

// malformed is a pod template whose containers cannot be read (a field of the
// wrong type): a workload that looks like a scraper (mayRunScraper) and has one
// is reported with the field, not passed over as "no scraper found".
type malformed struct{ error }

func (m malformed) Unwrap() error { return m.error }

// prometheusContainer returns the container named name, or the one Prometheus
// server container of the pod template.
func prometheusContainer(tpl *yaml.RNode, name string) (corev1.Container, error) {
	cs, err := podtemplate.Containers(tpl, "containers")
	if err != nil {
		return corev1.Container{}, malformed{err}
	}
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	if name != "" {
		for _, c := range cs {
			if c.Name == name {
				return c, nil
			}
		}
		return corev1.Container{}, krmerr.Errorf("spec.containers", "no container named %q (spec.target.container); containers: %s", name, strings.Join(names, ", "))
	}
	found := -1
	for i, c := range cs {
		if s, ok := scraperOf(c); ok {
			if found >= 0 {
				other, _ := scraperOf(cs[found])
				return corev1.Container{}, krmerr.Errorf("spec.containers", "containers %q (%s) and %q (%s) both look like scrapers; set spec.target.container", cs[found].Name, other.Name, c.Name, s.Name)
			}
			found = i
		}
	}
	if found < 0 {
		return corev1.Container{}, krmerr.Errorf("spec.containers", "no scraper container among %s (none runs %s); set spec.target.container", strings.Join(names, ", "), scrapers.Recognised())
	}
	return cs[found], nil
}

// mayRunScraper is a cheap look at a workload's container images and
// arguments, so only likely candidates are decoded.
func mayRunScraper(n *yaml.RNode) bool {
	p, ok := kinds.TemplatePath(n.GetKind())
	if !ok {
		return false
	}
	cs, err := n.Pipe(yaml.Lookup(append(append([]string{}, p...), "spec", "containers")...))
	if err != nil || cs == nil || cs.YNode().Kind != yaml.SequenceNode {
		return false
	}
	for _, c := range cs.YNode().Content {
		if c.Kind != yaml.MappingNode {
			continue
		}
		var image string
		var args []string
		for i := 0; i+1 < len(c.Content); i += 2 {
			switch k, v := c.Content[i].Value, c.Content[i+1]; k {
			case "image":
				image = v.Value
			case "args", "command":
				for _, a := range v.Content {
					args = append(args, a.Value)
				}
			}
		}
		if scrapers.MayRun(image, args) {
			return true
		}
	}
	return false
}

// containerField is the field of the container named name in the pod template
// tpl ("spec.containers[1]"), for messages; "spec.containers" when it is not found.
func containerField(tpl *yaml.RNode, name string) string {
	for _, list := range []string{"containers", "initContainers"} {
		l, _ := tpl.Pipe(yaml.Lookup("spec", list))
		if l == nil || l.YNode().Kind != yaml.SequenceNode {
			continue
		}
		for i, el := range l.YNode().Content {
			if yamlnode.Value(el, "name") == name {
				return fmt.Sprintf("spec.%s[%d]", list, i)
			}
		}
	}
	return "spec.containers"
}

// scraperOf is the row of the scraper table that container c runs.
func scraperOf(c corev1.Container) (scrapers.Scraper, bool) {
	for _, s := range scrapers.Table {
		if s.Runs(c) {
			return s, true
		}
	}
	return scrapers.Scraper{}, false
}

// RowOf is the row of c, or Prometheus's when c runs none (a container named
// by spec.target.container).
func RowOf(c corev1.Container) scrapers.Scraper {
	if s, ok := scraperOf(c); ok {
		return s
	}
	return scrapers.Prometheus()
}

// Source is where prometheus.yml lives.
type Source struct {
	Item int
	Kind string // ConfigMap or Secret
	Key  string
	// How it was found, for messages.
	Via string
	// File is the config file's path in the container, when its flag names it.
	File string
}

// ScrapeConfig finds the ConfigMap or Secret key holding the Prometheus config of
// container c of workload w.
func (ix *Index) ScrapeConfig(w *yaml.RNode, tpl *yaml.RNode, c corev1.Container, ref *config.ScrapeConfigRef) (Source, error) {
	ns := w.GetNamespace()
	row := RowOf(c)
	if ref.Names() {
		return ix.explicit(ns, ref, row)
	}
	vols, err := podtemplate.Volumes(tpl)
	if err != nil {
		return Source{}, err
	}
	flag, hasFlag := row.ConfigFile(c)
	if !hasFlag {
		return ix.fallback(ns, c, vols, row)
	}
	field := containerField(tpl, c.Name)
	p, err := ix.expandVars(flag, ns, field, row.Passes(flag), c)
	if err != nil {
		return Source{}, err
	}
	expanded := p
	if !path.IsAbs(p) {
		wd := c.WorkingDir
		if wd == "" {
			wd = row.WorkingDir
		}
		p = path.Join(wd, p)
	}
	p = path.Clean(p)
	what := fmt.Sprintf("container %q passes %s", c.Name, krmerr.Clip(row.Passes(flag)))
	if expanded != flag {
		what += " (" + krmerr.Clip(expanded) + " once the kubelet expands it)"
	}
	mount := mountOf(c, p)
	if mount == nil {
		return Source{}, krmerr.Errorf(field, "%s, but no volumeMount of that container contains %s%s; mount the ConfigMap there or set spec.scrapeConfig", what, krmerr.Clip(p), unexpanded(p))
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(p, path.Clean(mount.MountPath)), "/")
	if mount.SubPath != "" {
		rel = path.Join(mount.SubPath, rel)
	}
	what += fmt.Sprintf(" (volumeMount %q at %s)", mount.Name, mount.MountPath)
	j := slices.IndexFunc(vols, func(v corev1.Volume) bool { return v.Name == mount.Name })
	if j < 0 {
		return Source{}, krmerr.Errorf("spec.volumes", "%s, but the pod has no volume %q", what, mount.Name)
	}
	vol := &vols[j]
	cands := candidates(*vol)
	if len(cands) == 0 {
		return Source{}, krmerr.Errorf("spec.volumes", "%s, but volume %q is not a ConfigMap, Secret or projected volume of them; set spec.scrapeConfig to name the object that holds the config", what, vol.Name)
	}
	var missing []string
	for _, cand := range cands {
		key, ok := cand.keyFor(rel)
		if !ok {
			continue
		}
		i, err := ix.Lookup(cand.kind, ns, cand.name)
		if err != nil {
			return Source{}, krmerr.Errorf("spec.volumes", "%s: %v", what, err)
		}
		if i < 0 {
			missing = append(missing, fmt.Sprintf("%s %q", cand.kind, cand.name))
			continue
		}
		if !hasKey(ix.Items[i], key) {
			if cand.items || len(cands) == 1 {
				return Source{}, krmerr.About(ix.Items[i], "data", "%s, which reads key %q of this %s; the key is missing", what, key, cand.kind)
			}
			continue
		}
		return Source{Item: i, Kind: cand.kind, Key: key, Via: what, File: p}, nil
	}
	if len(missing) > 0 {
		return Source{}, krmerr.Errorf("spec.volumes", "%s, which reads %s; it is not in the list of resources (include it, name the object that holds the config with spec.scrapeConfig, or set spec.scrapeConfig.workloadOnly: true to edit the workload alone and get the jobs to add to the config in a result)", what, strings.Join(missing, " or "))
	}
	return Source{}, krmerr.Errorf("spec.volumes", "%s, but volume %q provides no file %q", what, vol.Name, rel)
}

func (ix *Index) explicit(ns string, ref *config.ScrapeConfigRef, row scrapers.Scraper) (Source, error) {
	if ref.Namespace != "" {
		ns = ref.Namespace
	}
	what := fmt.Sprintf("spec.scrapeConfig names %s %q", ref.Kind, ref.Name)
	i, err := ix.Lookup(ref.Kind, ns, ref.Name)
	if err != nil {
		return Source{}, krmerr.ConfigErrorf("spec.scrapeConfig", "%v", err)
	}
	if i < 0 {
		return Source{}, krmerr.ConfigErrorf("spec.scrapeConfig", "%s in namespace %q; it is not in the list of resources", what, ns)
	}
	keys := []string{ref.Key}
	if ref.Key == "" {
		keys = row.DefaultKeys
	}
	if len(keys) == 0 {
		return Source{}, krmerr.ConfigErrorf("spec.scrapeConfig.key", "%s without a key, and %s has no default key: name the key holding its scrape config", what, row.Name)
	}
	for _, k := range keys {
		if hasKey(ix.Items[i], k) {
			return Source{Item: i, Kind: ref.Kind, Key: k, Via: what}, nil
		}
	}
	return Source{}, krmerr.About(ix.Items[i], "data", "%s, but it has no key %s", what, strings.Join(keys, " or "))
}

// fallback looks for the scraper's default keys (prometheus.yml) in the
// ConfigMaps mounted into c.
func (ix *Index) fallback(ns string, c corev1.Container, vols []corev1.Volume, row scrapers.Scraper) (Source, error) {
	what := fmt.Sprintf("container %q passes no %s", c.Name, strings.TrimSuffix(row.Passes(""), "="))
	if len(row.DefaultKeys) == 0 {
		return Source{}, krmerr.Errorf("spec.containers", "%s, so %s reads no scrape configuration; pass %s, a file of a ConfigMap or Secret mounted into it, or set spec.target.container if another container is the scraper", what, row.Name, row.Passes("FILE"))
	}
	mounted := map[string]bool{}
	for _, m := range c.VolumeMounts {
		mounted[m.Name] = true
	}
	for _, v := range vols {
		if !mounted[v.Name] {
			continue
		}
		for _, cand := range candidates(v) {
			i, err := ix.Lookup(cand.kind, ns, cand.name)
			if err != nil || i < 0 {
				continue
			}
			for _, k := range row.DefaultKeys {
				if _, ok := cand.keyFor(k); ok && hasKey(ix.Items[i], k) {
					return Source{Item: i, Kind: cand.kind, Key: k, Via: what + fmt.Sprintf(" (found key %q in mounted volume %q)", k, v.Name)}, nil
				}
			}
		}
	}
	return Source{}, krmerr.Errorf("spec.containers", "%s, and no ConfigMap or Secret mounted into it holds %s; set spec.scrapeConfig", what, strings.Join(row.DefaultKeys, " or "))
}

type candidate struct {
	kind, name string
	items      bool
	paths      map[string]string // path -> key, when items are listed
}

func (c candidate) keyFor(rel string) (string, bool) {
	if c.items {
		k, ok := c.paths[rel]
		return k, ok
	}
	return rel, rel != "" && !strings.Contains(rel, "/")
}

// mountOf returns the volume mount of c whose path holds file p, the longest if
// several do.
func mountOf(c corev1.Container, p string) *corev1.VolumeMount {
	var mount *corev1.VolumeMount
	for i := range c.VolumeMounts {
		m := &c.VolumeMounts[i]
		mp := path.Clean(m.MountPath)
		if p == mp || strings.HasPrefix(p, mp+"/") || mp == "/" {
			if mount == nil || len(mp) > len(path.Clean(mount.MountPath)) {
				mount = m
			}
		}
	}
	return mount
}

func candidates(v corev1.Volume) []candidate {
	var out []candidate
	add := func(kind, name string, items []corev1.KeyToPath) {
		c := candidate{kind: kind, name: name, items: len(items) > 0, paths: map[string]string{}}
		for _, it := range items {
			c.paths[path.Clean(it.Path)] = it.Key
		}
		out = append(out, c)
	}
	switch {
	case v.ConfigMap != nil:
		add("ConfigMap", v.ConfigMap.Name, v.ConfigMap.Items)
	case v.Secret != nil:
		add("Secret", v.Secret.SecretName, v.Secret.Items)
	case v.Projected != nil:
		for _, s := range v.Projected.Sources {
			if s.ConfigMap != nil {
				add("ConfigMap", s.ConfigMap.Name, s.ConfigMap.Items)
			}
			if s.Secret != nil {
				add("Secret", s.Secret.Name, s.Secret.Items)
			}
		}
	}
	return out
}

func hasKey(obj *yaml.RNode, key string) bool {
	for _, field := range []string{"data", "stringData"} {
		if n, err := obj.Pipe(yaml.Lookup(field, key)); err == nil && n != nil {
			return true
		}
	}
	return false
}
