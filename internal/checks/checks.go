// Package checks validates what the function emits; every golden and client test
// runs its output through these helpers.
package checks

import (
	"fmt"
	"sort"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/kinds"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	monitoringv1alpha1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"
	sigyaml "sigs.k8s.io/yaml"
)

// Items reads a ResourceList or a multi-document stream.
func Items(b []byte) ([]*yaml.RNode, error) {
	r := &kio.ByteReader{Reader: strings.NewReader(string(b)), OmitReaderAnnotations: true}
	return r.Read()
}

// PodSpec decodes the pod template of a workload strictly into k8s.io/api types.
func PodSpec(n *yaml.RNode) (*corev1.PodTemplateSpec, error) {
	s, err := n.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var obj any
	switch n.GetKind() {
	case "Deployment":
		obj = &appsv1.Deployment{}
	case "StatefulSet":
		obj = &appsv1.StatefulSet{}
	case "DaemonSet":
		obj = &appsv1.DaemonSet{}
	case "Job":
		obj = &batchv1.Job{}
	default:
		return nil, nil
	}
	if err := sigyaml.UnmarshalStrict(s, obj); err != nil {
		return nil, fmt.Errorf("%s %s does not decode strictly: %w", n.GetKind(), n.GetName(), err)
	}
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return &o.Spec.Template, nil
	case *appsv1.StatefulSet:
		// Claim templates are volumes of the pod too.
		t := o.Spec.Template.DeepCopy()
		for _, c := range o.Spec.VolumeClaimTemplates {
			t.Spec.Volumes = append(t.Spec.Volumes, corev1.Volume{Name: c.Name})
		}
		return t, nil
	case *appsv1.DaemonSet:
		return &o.Spec.Template, nil
	case *batchv1.Job:
		return &o.Spec.Template, nil
	}
	return nil, nil
}

// Workloads checks every workload among items: strict decoding, unique container
// and volume names, every volumeMount names a volume of the pod.
func Workloads(items []*yaml.RNode) error {
	for _, n := range items {
		if _, ok := kinds.TemplatePath(n.GetKind()); !ok {
			continue
		}
		tpl, err := PodSpec(n)
		if err != nil {
			return err
		}
		if tpl == nil {
			continue
		}
		if err := PodTemplate(tpl); err != nil {
			return fmt.Errorf("%s %s: %w", n.GetKind(), n.GetName(), err)
		}
	}
	return nil
}

// OperatorResources decodes every monitoring.coreos.com Prometheus and
// PrometheusAgent strictly into prometheus-operator's own types, and checks that
// the mounts of spec.volumeMounts and of the containers the resource adds name a
// volume of spec.volumes (or one the operator generates).
func OperatorResources(items []*yaml.RNode) error {
	for _, n := range items {
		if !strings.HasPrefix(n.GetApiVersion(), "monitoring.coreos.com/") {
			continue
		}
		s, err := n.MarshalJSON()
		if err != nil {
			return err
		}
		var common *monitoringv1.CommonPrometheusFields
		switch n.GetKind() {
		case "Prometheus":
			var p monitoringv1.Prometheus
			if err := sigyaml.UnmarshalStrict(s, &p); err != nil {
				return fmt.Errorf("Prometheus %s does not decode strictly into prometheus-operator's types: %w", n.GetName(), err)
			}
			common = &p.Spec.CommonPrometheusFields
		case "PrometheusAgent":
			var p monitoringv1alpha1.PrometheusAgent
			if err := sigyaml.UnmarshalStrict(s, &p); err != nil {
				return fmt.Errorf("PrometheusAgent %s does not decode strictly into prometheus-operator's types: %w", n.GetName(), err)
			}
			common = &p.Spec.CommonPrometheusFields
		case "ScrapeConfig":
			var sc monitoringv1alpha1.ScrapeConfig
			if err := sigyaml.UnmarshalStrict(s, &sc); err != nil {
				return fmt.Errorf("ScrapeConfig %s does not decode strictly into prometheus-operator's types: %w", n.GetName(), err)
			}
			continue
		default:
			continue
		}
		vols := map[string]bool{}
		for _, v := range common.Volumes {
			if vols[v.Name] {
				return fmt.Errorf("%s %s: volume %q is defined twice", n.GetKind(), n.GetName(), v.Name)
			}
			vols[v.Name] = true
		}
		mounts := append([]corev1.VolumeMount{}, common.VolumeMounts...)
		for _, c := range append(append([]corev1.Container{}, common.InitContainers...), common.Containers...) {
			if c.Image != "" { // a container the resource adds, not a patch of the operator's
				mounts = append(mounts, c.VolumeMounts...)
			}
		}
		for _, m := range mounts {
			if !vols[m.Name] {
				return fmt.Errorf("%s %s: mount of volume %q, which spec.volumes does not define", n.GetKind(), n.GetName(), m.Name)
			}
		}
	}
	return nil
}

// PodTemplate checks names and mounts of one pod template.
func PodTemplate(tpl *corev1.PodTemplateSpec) error {
	vols := map[string]bool{}
	for _, v := range tpl.Spec.Volumes {
		if vols[v.Name] {
			return fmt.Errorf("volume %q is defined twice", v.Name)
		}
		vols[v.Name] = true
	}
	names := map[string]bool{}
	all := append(append([]corev1.Container{}, tpl.Spec.InitContainers...), tpl.Spec.Containers...)
	for _, c := range all {
		if names[c.Name] {
			return fmt.Errorf("container %q is defined twice", c.Name)
		}
		names[c.Name] = true
		paths := map[string]bool{}
		for _, m := range c.VolumeMounts {
			if !vols[m.Name] {
				return fmt.Errorf("container %q mounts volume %q, which the pod does not define", c.Name, m.Name)
			}
			if paths[m.MountPath] {
				return fmt.Errorf("container %q mounts two volumes at %s", c.Name, m.MountPath)
			}
			paths[m.MountPath] = true
		}
	}
	return nil
}

// PodSecurity evaluates a pod template against Pod Security Standards "restricted"
// (latest) with k8s.io/pod-security-admission and returns reason -> detail of every
// check that fails.
func PodSecurity(tpl *corev1.PodTemplateSpec) (map[string]string, error) {
	ev, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, r := range ev.EvaluatePod(psapi.LevelVersion{Level: psapi.LevelRestricted, Version: psapi.LatestVersion()}, &tpl.ObjectMeta, &tpl.Spec) {
		if !r.Allowed {
			out[r.ForbiddenReason] = r.ForbiddenDetail
		}
	}
	return out, nil
}

// NoNewPodSecurityViolations: every restricted check that fails on after failed on
// before already, and never because of a container named added.
func NoNewPodSecurityViolations(before, after *corev1.PodTemplateSpec, added string) error {
	b, err := PodSecurity(before)
	if err != nil {
		return err
	}
	a, err := PodSecurity(after)
	if err != nil {
		return err
	}
	reasons := make([]string, 0, len(a))
	for r := range a {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	var problems []string
	for _, reason := range reasons {
		detail := a[reason]
		if _, ok := b[reason]; !ok {
			problems = append(problems, fmt.Sprintf("new Pod Security (restricted) violation: %s: %s", reason, detail))
		} else if strings.Contains(detail, fmt.Sprintf("%q", added)) {
			problems = append(problems, fmt.Sprintf("container %q violates Pod Security (restricted): %s: %s", added, reason, detail))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}
