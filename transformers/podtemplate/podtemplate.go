// Package podtemplate finds the pod template of any workload kind and edits it in
// place on the node tree (elements found and removed with kyaml's element matcher
// and setter), so comments, key order and annotations survive. Apply
// is told what an earlier run added (Owned) and returns what this one added, so a
// second run updates its own output and never mistakes a user's container, volume
// or mount for its own; keeping that record is the caller's.
package podtemplate

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/kinds"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/meta"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/yamlnode"
	corev1 "k8s.io/api/core/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Template returns the pod template of workload (shared with it: edits show in the
// workload) and its field path.
func Template(workload *yaml.RNode) (*yaml.RNode, string, error) {
	p, ok := kinds.TemplatePath(workload.GetKind())
	if !ok {
		return nil, "", krmerr.Errorf("kind", "%s has no pod template this function knows", workload.GetKind())
	}
	field := strings.Join(p, ".")
	t, err := workload.Pipe(yaml.Lookup(p...))
	if err != nil {
		return nil, field, krmerr.Errorf(field, "%v", err)
	}
	if t == nil || t.YNode().Kind != yaml.MappingNode {
		return nil, field, krmerr.Errorf(field, "missing: the workload has no pod template")
	}
	spec := t.Field("spec")
	if spec == nil || spec.Value.YNode().Kind != yaml.MappingNode {
		return nil, field, krmerr.Errorf(field+".spec", "missing: the pod template has no spec")
	}
	return t, field, nil
}

// Containers decodes the containers (or initContainers) of a pod template.
func Containers(template *yaml.RNode, list string) ([]corev1.Container, error) {
	return decodeList[corev1.Container](template, list)
}

// Volumes decodes the volumes of a pod template.
func Volumes(template *yaml.RNode) ([]corev1.Volume, error) {
	return decodeList[corev1.Volume](template, "volumes")
}

// decodeList reads spec.<list> of a pod template into core/v1 values the way
// the API server reads JSON (case-sensitive field names, unknown fields ignored);
// a value of the wrong type names its field, element by element.
func decodeList[T any](template *yaml.RNode, list string) ([]T, error) {
	field := "spec." + list
	n, err := template.Pipe(yaml.Lookup("spec", list))
	if err != nil || n == nil {
		return nil, err
	}
	if n.YNode().Kind != yaml.SequenceNode {
		return nil, krmerr.Errorf(field, "must be a list, got a %s", yamlnode.KindWord(n.YNode()))
	}
	out := make([]T, len(n.YNode().Content))
	for i, el := range n.YNode().Content {
		at := fmt.Sprintf("%s[%d]", field, i)
		b, err := yaml.NewRNode(el).MarshalJSON()
		if err != nil {
			return nil, krmerr.Errorf(at, "cannot be read: %s", krmerr.Clip(err.Error()))
		}
		if err := kjson.UnmarshalCaseSensitivePreserveInts(b, &out[i]); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				if te.Field != "" {
					at += "." + te.Field
				}
				return nil, krmerr.Errorf(at, "%s", krmerr.WrongType(te))
			}
			return nil, krmerr.Errorf(at, "cannot be read: %s", goFree(err))
		}
	}
	return out, nil
}

// goFree is err's message for a user: a decoder's mention of Go types becomes
// a plain sentence.
func goFree(err error) string {
	if m := err.Error(); !strings.Contains(m, "Go ") && !strings.Contains(m, "json: ") {
		return krmerr.Clip(m)
	}
	return "a value has the wrong type or form"
}

// toNode turns a Kubernetes API value into a block-style YAML node. encoding/json
// writes it as the API does (the Go type's field order, omitempty, canonical
// quantities); that JSON is YAML, so it is parsed as it is and its flow style and
// quoting are dropped.
func toNode(v any) (*yaml.RNode, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	n, err := yaml.Parse(string(b))
	if err != nil {
		return nil, err
	}
	blockStyle(n.YNode())
	return n, nil
}

func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// Owned is what Apply added to a pod template, by name.
type Owned struct {
	Containers     []string `json:"containers,omitempty"`
	InitContainers []string `json:"initContainers,omitempty"`
	Volumes        []string `json:"volumes,omitempty"`
	// VolumeMounts are "container:mountPath" pairs.
	VolumeMounts []string `json:"volumeMounts,omitempty"`
}

// Empty tells whether nothing is owned.
func (o Owned) Empty() bool {
	return len(o.Containers)+len(o.InitContainers)+len(o.Volumes)+len(o.VolumeMounts) == 0
}

func (o Owned) lists() map[string][]string {
	return map[string][]string{"containers": o.Containers, "initContainers": o.InitContainers}
}

// Mount asks for a volume mount in one of the pod's own containers. With Container
// empty it goes into the template's spec.volumeMounts: a pod-template view whose
// spec carries a mount list of its own (prometheus-operator's resources do).
type Mount struct {
	Container string
	corev1.VolumeMount
}

// Desired is what a pod template must hold after Apply.
type Desired struct {
	// Containers are appended to spec.containers; InitContainers are put first in
	// spec.initContainers (native sidecars start before everything else).
	Containers, InitContainers []corev1.Container
	// ContainersFirst puts Containers first in spec.containers instead: the
	// kubelet starts a pod's containers in order, each after the previous one's
	// postStart hook returns, so a hook of the first holds the rest. The
	// container that was first stays kubectl's default
	// (kubectl.kubernetes.io/default-container), unless one is named already.
	ContainersFirst     bool
	Volumes             []corev1.Volume
	Mounts              []Mount
	Labels, Annotations map[string]string
	// TakeOver adopts containers, volumes and mounts of our names that this
	// function did not add (a hand-written setup being migrated) instead of
	// refusing them.
	TakeOver bool
	// Forbid names containers that must not be in the pod, each with the reason
	// the error gives. One that is there is an error, or is removed with TakeOver.
	Forbid map[string]string
}

// Apply makes template hold d, replacing what an earlier Apply added (old) and
// refusing to overwrite anything else that differs. It returns what it added,
// each list sorted.
func Apply(template *yaml.RNode, d Desired, old Owned) (Owned, error) {
	var next Owned
	var err error
	if d.ContainersFirst {
		if err := keepDefaultContainer(template, d.Containers, old.Containers); err != nil {
			return Owned{}, err
		}
	}
	if err := applyContainers(template, d, old, &next); err != nil {
		return Owned{}, err
	}
	if next.Volumes, err = applyVolumes(template, d, old.Volumes); err != nil {
		return Owned{}, err
	}
	if next.VolumeMounts, err = applyMounts(template, old.VolumeMounts, d.Mounts, d.TakeOver); err != nil {
		return Owned{}, err
	}
	for _, m := range []struct {
		path string
		m    map[string]string
	}{{"labels", d.Labels}, {"annotations", d.Annotations}} {
		for _, k := range slices.Sorted(maps.Keys(m.m)) {
			if err := meta.Set(template, []string{"metadata", m.path}, k, m.m[k]); err != nil {
				return Owned{}, err
			}
		}
	}
	for _, l := range [][]string{next.Containers, next.InitContainers, next.Volumes, next.VolumeMounts} {
		slices.Sort(l)
	}
	return next, nil
}

var containerLists = []string{"containers", "initContainers"}

// applyContainers drops our earlier containers no longer wanted in their list (when
// nativeSidecar is switched) and the forbidden ones, then puts each wanted container
// in its list, recording the ones taken in next.
func applyContainers(template *yaml.RNode, d Desired, old Owned, next *Owned) error {
	want := map[string][]corev1.Container{"containers": d.Containers, "initContainers": d.InitContainers}
	for _, list := range containerLists {
		for _, name := range old.lists()[list] {
			if !slices.ContainsFunc(want[list], func(c corev1.Container) bool { return c.Name == name }) {
				if err := removeElement(template, []string{"spec", list}, "name", name); err != nil {
					return err
				}
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(d.Forbid)) {
		for _, list := range containerLists {
			i, _ := element(template, []string{"spec", list}, "name", name)
			if i < 0 {
				continue
			}
			if !d.TakeOver && !slices.Contains(old.lists()[list], name) {
				return krmerr.Errorf(fmt.Sprintf("spec.%s[%d]", list, i), "the pod already has a container named %q, and %s: the pod would be rejected (remove it, or set spec.takeOver: true to let the function remove it)", name, d.Forbid[name])
			}
			if err := removeElement(template, []string{"spec", list}, "name", name); err != nil {
				return err
			}
		}
	}
	taken := map[string]*[]string{"containers": &next.Containers, "initContainers": &next.InitContainers}
	for _, list := range containerLists {
		for _, c := range want[list] {
			first := list == "initContainers" || d.ContainersFirst
			ok, err := putContainer(template, list, c, slices.Contains(old.lists()[list], c.Name), d.TakeOver, first)
			if err != nil {
				return err
			}
			if ok {
				*taken[list] = append(*taken[list], c.Name)
			}
		}
	}
	return nil
}

// DefaultContainerAnnotation names the container kubectl logs, exec and attach
// pick when none is given; without it they pick the first.
const DefaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

// keepDefaultContainer names the pod's first container (not one of ours) as
// kubectl's default before ours are put ahead of it, as Istio's injector does,
// unless the template names one already.
func keepDefaultContainer(template *yaml.RNode, ours []corev1.Container, old []string) error {
	if _, ok := meta.Get(template, []string{"metadata", "annotations"}, DefaultContainerAnnotation); ok {
		return nil
	}
	list, err := template.Pipe(yaml.Lookup("spec", "containers"))
	if err != nil || list == nil || list.YNode().Kind != yaml.SequenceNode {
		return nil
	}
	for _, el := range list.YNode().Content {
		name := yamlnode.Value(el, "name")
		if name == "" || slices.Contains(old, name) || slices.ContainsFunc(ours, func(c corev1.Container) bool { return c.Name == name }) {
			continue
		}
		return meta.Set(template, []string{"metadata", "annotations"}, DefaultContainerAnnotation, name)
	}
	return nil
}

// putContainer puts c into list (first when first is set), refusing a container
// of its name in the other list unless takeOver.
func putContainer(template *yaml.RNode, list string, c corev1.Container, owned, takeOver, first bool) (bool, error) {
	other := "initContainers"
	if list == "initContainers" {
		other = "containers"
	}
	if i, _ := element(template, []string{"spec", other}, "name", c.Name); i >= 0 {
		if !takeOver {
			return false, krmerr.Errorf(fmt.Sprintf("spec.%s[%d]", other, i), "a container named %q already exists; it collides with the %s this function adds (rename it, remove it, or set spec.takeOver: true to replace it)", c.Name, list)
		}
		if err := removeElement(template, []string{"spec", other}, "name", c.Name); err != nil {
			return false, err
		}
	}
	node, err := toNode(c)
	if err != nil {
		return false, err
	}
	return upsert(template, []string{"spec", list}, "name", c.Name, node, owned || takeOver, first)
}

// applyVolumes drops our earlier volumes no longer wanted and puts the wanted ones;
// it returns the names taken.
func applyVolumes(template *yaml.RNode, d Desired, old []string) ([]string, error) {
	for _, name := range old {
		if !slices.ContainsFunc(d.Volumes, func(v corev1.Volume) bool { return v.Name == name }) {
			if err := removeElement(template, []string{"spec", "volumes"}, "name", name); err != nil {
				return nil, err
			}
		}
	}
	var taken []string
	for _, v := range d.Volumes {
		node, err := toNode(v)
		if err != nil {
			return nil, err
		}
		ok, err := upsert(template, []string{"spec", "volumes"}, "name", v.Name, node, slices.Contains(old, v.Name) || d.TakeOver, false)
		if err != nil {
			return nil, err
		}
		if ok {
			taken = append(taken, v.Name)
		}
	}
	return taken, nil
}

func applyMounts(template *yaml.RNode, old []string, want []Mount, takeOver bool) ([]string, error) {
	wantKey := map[string]bool{}
	for _, m := range want {
		wantKey[m.Container+":"+m.MountPath] = true
	}
	// Remove our earlier mounts that are no longer wanted.
	for _, key := range old {
		if wantKey[key] {
			continue
		}
		container, mountPath, _ := strings.Cut(key, ":")
		if container == "" {
			if err := removeElement(template, []string{"spec", "volumeMounts"}, "mountPath", mountPath); err != nil {
				return nil, err
			}
		} else if i, c := element(template, []string{"spec", "containers"}, "name", container); i >= 0 {
			if err := removeElement(c, []string{"volumeMounts"}, "mountPath", mountPath); err != nil {
				return nil, err
			}
		}
	}
	var taken []string
	for _, m := range want {
		i, c := element(template, []string{"spec", "containers"}, "name", m.Container)
		field := fmt.Sprintf("spec.containers[%d]", i)
		if m.Container == "" {
			// No container: the view's own spec.volumeMounts (see Mount).
			i, c, field = 0, yaml.NewRNode(template.Field("spec").Value.YNode()), "spec"
		}
		if i < 0 {
			return nil, krmerr.Errorf("spec.containers", "no container named %q to mount %s into", m.Container, m.Name)
		}
		if !takeOver && adopted(c, m, old) {
			continue
		}
		if err := pathCollision(c, field, m, old); err != nil {
			return nil, err
		}
		node, err := toNode(m.VolumeMount)
		if err != nil {
			return nil, err
		}
		key := m.Container + ":" + m.MountPath
		// A mount of our volume elsewhere in this container is a leftover of a
		// different mountPath (or the user's own): refuse unless it is ours.
		if j, other := element(c, []string{"volumeMounts"}, "name", m.Name); j >= 0 {
			if p := yaml.GetValue(other.Field("mountPath").Value); p != m.MountPath && !slices.Contains(old, m.Container+":"+p) {
				if !takeOver {
					return nil, krmerr.Errorf(fmt.Sprintf("%s.volumeMounts[%d]", field, j), "%s already mounts volume %q at %s; the certificates are to be mounted at %s (set spec.certificates.mountPath to %s, remove that mount, or set spec.takeOver: true)", describe(m), m.Name, p, m.MountPath, path.Clean(p))
				}
				if err := removeElement(c, []string{"volumeMounts"}, "mountPath", p); err != nil {
					return nil, err
				}
			}
		}
		ok, err := upsert(c, []string{"volumeMounts"}, "mountPath", m.MountPath, node, slices.Contains(old, key) || takeOver, false)
		if err != nil {
			return nil, krmerr.Prefix(field, err)
		}
		if ok {
			taken = append(taken, key)
		}
	}
	return taken, nil
}

// adopted tells a mount the user already has: the container mounts the
// certificate volume at m's path (a trailing slash, readOnly or other fields aside)
// and no earlier run added it. It is kept as it is, and not recorded as ours.
func adopted(c *yaml.RNode, m Mount, old []string) bool {
	j, other := element(c, []string{"volumeMounts"}, "name", m.Name)
	if j < 0 {
		return false
	}
	p := yaml.GetValue(other.Field("mountPath").Value)
	return path.Clean(p) == m.MountPath && !slices.Contains(old, m.Container+":"+p)
}

// describe names the container of m in messages.
func describe(m Mount) string {
	if m.Container == "" {
		return "the operator's prometheus container (spec.volumeMounts)"
	}
	return fmt.Sprintf("container %q", m.Container)
}

// pathCollision refuses m when its container mounts another volume (not one an
// earlier run added) at m's path or below it: those files would hide the
// certificates, or be hidden by them.
func pathCollision(c *yaml.RNode, field string, m Mount, old []string) error {
	list, _ := c.Pipe(yaml.Lookup("volumeMounts"))
	if list == nil || list.YNode().Kind != yaml.SequenceNode {
		return nil
	}
	dir := strings.TrimSuffix(m.MountPath, "/")
	for i, el := range list.YNode().Content {
		name, at := yamlnode.Value(el, "name"), yamlnode.Value(el, "mountPath")
		if name == m.Name || slices.Contains(old, m.Container+":"+at) {
			continue
		}
		if p := strings.TrimSuffix(at, "/"); p == dir || strings.HasPrefix(p, dir+"/") {
			return krmerr.Errorf(fmt.Sprintf("%s.volumeMounts[%d]", field, i), "%s already mounts volume %q at %s, which collides with the certificate mount path %s; set spec.certificates.mountPath to another directory", describe(m), name, at, m.MountPath)
		}
	}
	return nil
}

// upsert puts node into the list at path, keyed by key=value. An element with that
// key is replaced when owned, kept when semantically equal (then it is not ours:
// false is returned), and otherwise an error. Ours is appended, or put first when
// first is set.
func upsert(parent *yaml.RNode, path []string, key, value string, node *yaml.RNode, owned, first bool) (bool, error) {
	list, err := parent.Pipe(yaml.LookupCreate(yaml.SequenceNode, path...))
	if err != nil {
		return false, krmerr.Errorf(strings.Join(path, "."), "%v", err)
	}
	if list.YNode().Kind != yaml.SequenceNode {
		return false, krmerr.Errorf(strings.Join(path, "."), "must be a list")
	}
	if i, el := element(parent, path, key, value); i >= 0 {
		switch {
		case owned:
			// Ours: drop it here and add it again below, so our elements always sit
			// where a first run puts them (mode switches round-trip exactly).
			if _, err := list.Pipe(yaml.ElementSetter{Keys: []string{key}, Values: []string{value}}); err != nil {
				return false, err
			}
		case yamlnode.SameDecoded(el.YNode(), node.YNode()):
			return false, nil
		default:
			existing, _ := el.String()
			return false, krmerr.Errorf(fmt.Sprintf("%s[%d]", strings.Join(path, "."), i),
				"%s %q is already used by something this function did not add, with different content; rename it, configure another name, or set spec.takeOver: true to replace it. Existing:\n%s", key, value, strings.TrimSpace(existing))
		}
	}
	if len(list.YNode().Content) == 0 {
		list.YNode().Style = 0 // `[]` written as a block list once it holds ours
	}
	// kyaml's setters append; a native sidecar goes first, before the init
	// containers it must start ahead of, and so does a classic one that holds
	// the containers after it.
	if first {
		list.YNode().Content = append([]*yaml.Node{node.YNode()}, list.YNode().Content...)
	} else {
		list.YNode().Content = append(list.YNode().Content, node.YNode())
	}
	return true, nil
}

// element is the element of the list at path whose key field is value, found
// with kyaml's element matcher, and its index; -1 and nil when there is none.
func element(parent *yaml.RNode, path []string, key, value string) (int, *yaml.RNode) {
	list, err := parent.Pipe(yaml.Lookup(path...))
	if err != nil || list == nil || list.YNode().Kind != yaml.SequenceNode {
		return -1, nil
	}
	el := list.Element(key, value)
	if el == nil {
		return -1, nil
	}
	return slices.Index(list.YNode().Content, el.YNode()), el
}

// removeElement deletes the elements of the list at path whose key field is
// value, with kyaml's element setter; a list left empty goes, as if it had never
// been added (initContainers of a native sidecar, when the mode switches).
func removeElement(parent *yaml.RNode, path []string, key, value string) error {
	list, err := parent.Pipe(yaml.Lookup(path...))
	if err != nil || list == nil || list.YNode().Kind != yaml.SequenceNode {
		return nil
	}
	if _, err := list.Pipe(yaml.ElementSetter{Keys: []string{key}, Values: []string{value}}); err != nil {
		return err
	}
	if len(list.YNode().Content) == 0 {
		_, err := parent.Pipe(yaml.Lookup(path[:len(path)-1]...), yaml.Clear(path[len(path)-1]))
		return err
	}
	return nil
}
