package ownership

import (
	"fmt"
	"slices"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/injection"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/podtemplate"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/profiles"
	corev1 "k8s.io/api/core/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Verify keeps of r the pod-template entries whose objects are what the
// function writes, and returns the others, described for a warning. A record is
// text anyone can write (a template copied from another workload, a hand edit, a
// rename), and an entry of it lets a run replace or delete what it names: it is
// believed only where the object is of the function's making.
//
//   - a container: an istio-proxy as the profiles build it (profiles.IsCertAgent);
//   - a mount ("container:path"): a read-only mount of a volume the record also
//     names that is the certificate volume: of its kind (profiles.IsCertVolume)
//     and of its name (certVolume, or the one injection mode's record names);
//   - a volume: one of the profiles' table (profiles.IsTableVolume) or the
//     certificate volume, that nothing mounts but the believed containers and
//     mounts;
//   - injection's and ambient mode's undo records: only the labels and
//     annotations those modes write (injection.Verify).
//
// An entry whose object is not in the template is dropped without a word:
// there is nothing it could make the function take.
func Verify(template *yaml.RNode, r Record, certVolume string) (Record, []string, error) {
	t, err := readTemplate(template)
	if err != nil {
		return r, nil, err
	}
	t.certNames = []string{certVolume}
	if r.Injection != nil {
		t.certNames = append(t.certNames, r.Injection.Volume)
	}
	var doubts []string
	r.Containers, doubts = t.containers(r.Containers, "containers", doubts)
	r.InitContainers, doubts = t.containers(r.InitContainers, "initContainers", doubts)
	r.VolumeMounts, doubts = t.mounts(r.VolumeMounts, r.Volumes, doubts)
	r.Volumes, doubts = t.keepVolumes(r, doubts)
	for _, rec := range []**injection.Record{&r.Injection, &r.Ambient} {
		var d []string
		*rec, d = injection.Verify(*rec)
		doubts = append(doubts, d...)
	}
	return r, doubts, nil
}

// template is what Verify reads of a pod template.
type template struct {
	lists      map[string][]corev1.Container // containers, initContainers
	volumes    []corev1.Volume
	viewMounts []corev1.VolumeMount // spec.volumeMounts of an operator's view
	certNames  []string
}

func readTemplate(tpl *yaml.RNode) (*template, error) {
	t := &template{lists: map[string][]corev1.Container{}}
	for _, list := range []string{"containers", "initContainers"} {
		cs, err := podtemplate.Containers(tpl, list)
		if err != nil {
			return nil, err
		}
		t.lists[list] = cs
	}
	var err error
	if t.volumes, err = podtemplate.Volumes(tpl); err != nil {
		return nil, err
	}
	t.viewMounts, err = specMounts(tpl)
	return t, err
}

// containers keeps of names, the record's containers in list, those that are an
// istio-proxy as the profiles build it.
func (t *template) containers(names []string, list string, doubts []string) ([]string, []string) {
	var out []string
	for _, name := range names {
		i := slices.IndexFunc(t.lists[list], func(c corev1.Container) bool { return c.Name == name })
		switch {
		case i < 0:
		case profiles.IsCertAgent(t.lists[list][i]):
			out = append(out, name)
		default:
			doubts = append(doubts, fmt.Sprintf("container %q in spec.%s (not an istio-proxy this function writes)", krmerr.Clip(name), list))
		}
	}
	return out, doubts
}

func (t *template) volume(name string) *corev1.Volume {
	i := slices.IndexFunc(t.volumes, func(v corev1.Volume) bool { return v.Name == name })
	if i < 0 {
		return nil
	}
	return &t.volumes[i]
}

// isCert tells whether v is the certificate volume: of its kind and name.
func (t *template) isCert(v *corev1.Volume) bool {
	return slices.Contains(t.certNames, v.Name) && profiles.IsCertVolume(*v)
}

// mountsOf are the mounts of the container named container ("": the view's own).
func (t *template) mountsOf(container string) []corev1.VolumeMount {
	if container == "" {
		return t.viewMounts
	}
	for _, c := range t.lists["containers"] {
		if c.Name == container {
			return c.VolumeMounts
		}
	}
	return nil
}

// mounts keeps of keys, the record's "container:path" mounts, the read-only
// mounts of the certificate volume, itself named in volumes.
func (t *template) mounts(keys, volumes []string, doubts []string) ([]string, []string) {
	var out []string
	for _, key := range keys {
		container, at, _ := strings.Cut(key, ":")
		ms := t.mountsOf(container)
		i := slices.IndexFunc(ms, func(m corev1.VolumeMount) bool { return m.MountPath == at })
		if i < 0 {
			continue
		}
		if v := t.volume(ms[i].Name); ms[i].ReadOnly && v != nil && slices.Contains(volumes, v.Name) && t.isCert(v) {
			out = append(out, key)
		} else {
			doubts = append(doubts, fmt.Sprintf("the mount of %s at %s (not the certificate mount this function writes)", describe(container), krmerr.Clip(at)))
		}
	}
	return out, doubts
}

// keepVolumes keeps of r's volumes those the profiles write that nothing but r's
// (verified) containers and mounts mounts.
func (t *template) keepVolumes(r Record, doubts []string) ([]string, []string) {
	var out []string
	for _, name := range r.Volumes {
		v := t.volume(name)
		switch {
		case v == nil:
		case (profiles.IsTableVolume(*v) || t.isCert(v)) && !t.mountedOutside(name, r):
			out = append(out, name)
		default:
			doubts = append(doubts, fmt.Sprintf("volume %q (not a volume this function writes, or mounted by a container of yours)", krmerr.Clip(name)))
		}
	}
	return out, doubts
}

// mountedOutside tells whether something the record does not name mounts the
// volume called name.
func (t *template) mountedOutside(name string, r Record) bool {
	owned := map[string][]string{"containers": r.Containers, "initContainers": r.InitContainers}
	for list, cs := range t.lists {
		for _, c := range cs {
			for _, m := range c.VolumeMounts {
				ours := slices.Contains(owned[list], c.Name) || list == "containers" && slices.Contains(r.VolumeMounts, c.Name+":"+m.MountPath)
				if m.Name == name && !ours {
					return true
				}
			}
		}
	}
	return slices.ContainsFunc(t.viewMounts, func(m corev1.VolumeMount) bool {
		return m.Name == name && !slices.Contains(r.VolumeMounts, ":"+m.MountPath)
	})
}

// specMounts reads the spec.volumeMounts of a pod-template view (an operator's
// resource mounts into its scraper container so).
func specMounts(template *yaml.RNode) ([]corev1.VolumeMount, error) {
	n, err := template.Pipe(yaml.Lookup("spec", "volumeMounts"))
	if err != nil || n == nil || n.YNode().Kind != yaml.SequenceNode {
		return nil, err
	}
	b, err := n.MarshalJSON()
	if err != nil {
		return nil, nil
	}
	var out []corev1.VolumeMount
	if kjson.UnmarshalCaseSensitivePreserveInts(b, &out) != nil {
		return nil, nil // not read: no mount of it is believed
	}
	return out, nil
}

func describe(container string) string {
	if container == "" {
		return "spec.volumeMounts"
	}
	return fmt.Sprintf("container %q", krmerr.Clip(container))
}
