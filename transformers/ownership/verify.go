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
//   - a volume: one the profiles write (profiles.IsAgentVolume) that nothing
//     mounts but the believed containers and mounts;
//   - injection's and ambient mode's undo records: only the labels and
//     annotations those modes write (injection.Verify).
//
// An entry whose object is not in the template is dropped without a word:
// there is nothing it could make the function take.
func Verify(template *yaml.RNode, r Record, certVolume string) (Record, []string, error) {
	isCert := func(v *corev1.Volume) bool {
		named := v.Name == certVolume || r.Injection != nil && v.Name == r.Injection.Volume
		return named && profiles.IsCertVolume(*v)
	}
	var doubts []string
	lists := map[string][]corev1.Container{}
	for _, list := range []string{"containers", "initContainers"} {
		cs, err := podtemplate.Containers(template, list)
		if err != nil {
			return r, nil, err
		}
		lists[list] = cs
	}
	volumes, err := podtemplate.Volumes(template)
	if err != nil {
		return r, nil, err
	}
	viewMounts, err := specMounts(template)
	if err != nil {
		return r, nil, err
	}

	keep := func(names []string, list string) []string {
		var out []string
		for _, name := range names {
			i := slices.IndexFunc(lists[list], func(c corev1.Container) bool { return c.Name == name })
			switch {
			case i < 0:
			case profiles.IsCertAgent(lists[list][i]):
				out = append(out, name)
			default:
				doubts = append(doubts, fmt.Sprintf("container %q in spec.%s (not an istio-proxy this function writes)", krmerr.Clip(name), list))
			}
		}
		return out
	}
	r.Containers, r.InitContainers = keep(r.Containers, "containers"), keep(r.InitContainers, "initContainers")

	volume := func(name string) *corev1.Volume {
		i := slices.IndexFunc(volumes, func(v corev1.Volume) bool { return v.Name == name })
		if i < 0 {
			return nil
		}
		return &volumes[i]
	}
	mountsOf := func(container string) []corev1.VolumeMount {
		if container == "" {
			return viewMounts
		}
		for _, c := range lists["containers"] {
			if c.Name == container {
				return c.VolumeMounts
			}
		}
		return nil
	}
	var mounts []string
	for _, key := range r.VolumeMounts {
		container, at, _ := strings.Cut(key, ":")
		ms := mountsOf(container)
		i := slices.IndexFunc(ms, func(m corev1.VolumeMount) bool { return m.MountPath == at })
		if i < 0 {
			continue
		}
		v := volume(ms[i].Name)
		if ms[i].ReadOnly && v != nil && slices.Contains(r.Volumes, v.Name) && isCert(v) {
			mounts = append(mounts, key)
		} else {
			doubts = append(doubts, fmt.Sprintf("the mount of %s at %s (not the certificate mount this function writes)", describe(container), krmerr.Clip(at)))
		}
	}
	r.VolumeMounts = mounts

	// A volume is the function's only where nothing of the user's mounts it.
	mountedOutside := func(name string) bool {
		for _, list := range []string{"containers", "initContainers"} {
			for _, c := range lists[list] {
				owned := slices.Contains(r.Containers, c.Name) && list == "containers" || slices.Contains(r.InitContainers, c.Name) && list == "initContainers"
				for _, m := range c.VolumeMounts {
					if m.Name == name && !owned && !(list == "containers" && slices.Contains(mounts, c.Name+":"+m.MountPath)) {
						return true
					}
				}
			}
		}
		return slices.ContainsFunc(viewMounts, func(m corev1.VolumeMount) bool {
			return m.Name == name && !slices.Contains(mounts, ":"+m.MountPath)
		})
	}
	var vols []string
	for _, name := range r.Volumes {
		v := volume(name)
		switch {
		case v == nil:
		case (profiles.IsTableVolume(*v) || isCert(v)) && !mountedOutside(name):
			vols = append(vols, name)
		default:
			doubts = append(doubts, fmt.Sprintf("volume %q (not a volume this function writes, or mounted by a container of yours)", krmerr.Clip(name)))
		}
	}
	r.Volumes = vols

	for _, rec := range []**injection.Record{&r.Injection, &r.Ambient} {
		var d []string
		*rec, d = injection.Verify(*rec)
		doubts = append(doubts, d...)
	}
	return r, doubts, nil
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
