package checks

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func restrictedPod() *corev1.PodTemplateSpec {
	t, f := true, false
	return &corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &t, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		Containers: []corev1.Container{{Name: "app", Image: "x", SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: &f, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}},
	}}
}

func TestPodSecurityCatchesANewViolation(t *testing.T) {
	before := restrictedPod()
	if v, err := PodSecurity(before); err != nil || len(v) != 0 {
		t.Fatalf("a restricted pod: %v %v", v, err)
	}
	after := before.DeepCopy()
	after.Spec.Containers = append(after.Spec.Containers, corev1.Container{Name: "istio-proxy", Image: "proxy"})
	err := NoNewPodSecurityViolations(before, after, "istio-proxy")
	if err == nil || !strings.Contains(err.Error(), "allowPrivilegeEscalation") {
		t.Errorf("err = %v", err)
	}
	// A pod that already violates a check: our compliant container adds nothing.
	before.Spec.SecurityContext = nil
	after = before.DeepCopy()
	tr, f := true, false
	var uid int64 = 1337
	after.Spec.Containers = append(after.Spec.Containers, corev1.Container{Name: "istio-proxy", Image: "proxy", SecurityContext: &corev1.SecurityContext{
		RunAsNonRoot: &tr, RunAsUser: &uid, AllowPrivilegeEscalation: &f, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}})
	if err := NoNewPodSecurityViolations(before, after, "istio-proxy"); err != nil {
		t.Error(err)
	}
}

func TestPodTemplateChecks(t *testing.T) {
	p := restrictedPod()
	p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "missing", MountPath: "/x"}}
	if err := PodTemplate(p); err == nil || !strings.Contains(err.Error(), `mounts volume "missing"`) {
		t.Errorf("err = %v", err)
	}
	p = restrictedPod()
	p.Spec.InitContainers = []corev1.Container{{Name: "app"}}
	if err := PodTemplate(p); err == nil || !strings.Contains(err.Error(), "defined twice") {
		t.Errorf("err = %v", err)
	}
}
