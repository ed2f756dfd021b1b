package kube

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The pairs checked: every local type against its k8s.io/api counterpart.
var mirrors = []struct{ local, upstream any }{
	{Container{}, corev1.Container{}},
	{ContainerPort{}, corev1.ContainerPort{}},
	{EnvVar{}, corev1.EnvVar{}},
	{EnvVarSource{}, corev1.EnvVarSource{}},
	{ObjectFieldSelector{}, corev1.ObjectFieldSelector{}},
	{ResourceFieldSelector{}, corev1.ResourceFieldSelector{}},
	{ResourceRequirements{}, corev1.ResourceRequirements{}},
	{Probe{}, corev1.Probe{}},
	{ProbeHandler{}, corev1.ProbeHandler{}},
	{HTTPGetAction{}, corev1.HTTPGetAction{}},
	{SecurityContext{}, corev1.SecurityContext{}},
	{Capabilities{}, corev1.Capabilities{}},
	{SeccompProfile{}, corev1.SeccompProfile{}},
	{VolumeMount{}, corev1.VolumeMount{}},
	{Volume{}, corev1.Volume{}},
	{VolumeSource{}, corev1.VolumeSource{}},
	{EmptyDirVolumeSource{}, corev1.EmptyDirVolumeSource{}},
	{LocalObjectReference{}, corev1.LocalObjectReference{}},
	{KeyToPath{}, corev1.KeyToPath{}},
	{ConfigMapVolumeSource{}, corev1.ConfigMapVolumeSource{}},
	{SecretVolumeSource{}, corev1.SecretVolumeSource{}},
	{ProjectedVolumeSource{}, corev1.ProjectedVolumeSource{}},
	{VolumeProjection{}, corev1.VolumeProjection{}},
	{ConfigMapProjection{}, corev1.ConfigMapProjection{}},
	{SecretProjection{}, corev1.SecretProjection{}},
	{ServiceAccountTokenProjection{}, corev1.ServiceAccountTokenProjection{}},
	{DownwardAPIVolumeSource{}, corev1.DownwardAPIVolumeSource{}},
	{DownwardAPIVolumeFile{}, corev1.DownwardAPIVolumeFile{}},
}

type field struct {
	tag  string // the whole json tag
	kind reflect.Kind
}

func fields(t reflect.Type) []field {
	var out []field
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == ",inline" || tag == "" && f.Anonymous {
			tag = "<inline " + f.Name + ">"
		}
		k := f.Type.Kind()
		if k == reflect.Pointer {
			k = f.Type.Elem().Kind()
		}
		out = append(out, field{tag, k})
	}
	return out
}

// TestMirrorsUpstream: each local field is an upstream field with the same JSON
// tag and kind, in the upstream order, so marshalling gives the same keys in the
// same order as k8s.io/api would.
func TestMirrorsUpstream(t *testing.T) {
	for _, m := range mirrors {
		lt, ut := reflect.TypeOf(m.local), reflect.TypeOf(m.upstream)
		if lt.Name() != ut.Name() {
			t.Errorf("%s is paired with %s", lt.Name(), ut.Name())
		}
		up := fields(ut)
		next := 0
		for _, f := range fields(lt) {
			found := -1
			for j := next; j < len(up); j++ {
				if up[j].tag == f.tag {
					found = j
					break
				}
			}
			if found < 0 {
				t.Errorf("%s: field with json tag %q is not in k8s.io/api's %s (or is out of order)", lt.Name(), f.tag, ut.Name())
				continue
			}
			uk := up[found].kind
			// Quantity and IntOrString are strings and structs upstream; typed
			// enums are strings in both.
			if uk != f.kind && !(uk == reflect.Struct && (strings.Contains(f.tag, "divisor") || strings.Contains(f.tag, "port"))) {
				t.Errorf("%s.%s: kind %s, upstream %s", lt.Name(), f.tag, f.kind, uk)
			}
			next = found + 1
		}
	}
}

func sample() (Container, []Volume) {
	tr, f := true, false
	uid, exp := int64(1337), int64(43200)
	restart := ContainerRestartPolicyAlways
	probe := &Probe{ProbeHandler: ProbeHandler{HTTPGet: &HTTPGetAction{Path: "/healthz/ready", Port: FromInt32(15021)}},
		InitialDelaySeconds: 1, TimeoutSeconds: 3, PeriodSeconds: 15, SuccessThreshold: 1, FailureThreshold: 4}
	c := Container{
		Name: "istio-proxy", Image: "img", Command: []string{"a"}, Args: []string{"b"}, WorkingDir: "/w",
		Ports: []ContainerPort{{Name: "p", ContainerPort: 15090, Protocol: ProtocolTCP}},
		Env: []EnvVar{
			{Name: "A", Value: "v"},
			{Name: "B", ValueFrom: &EnvVarSource{FieldRef: &ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
			{Name: "C", ValueFrom: &EnvVarSource{ResourceFieldRef: &ResourceFieldSelector{ContainerName: "x", Resource: "limits.cpu", Divisor: "1"}}},
		},
		Resources: ResourceRequirements{
			Limits:   ResourceList{ResourceCPU: "500m", ResourceMemory: "256Mi"},
			Requests: ResourceList{ResourceCPU: "10m", ResourceMemory: "64Mi"},
		},
		RestartPolicy:  &restart,
		VolumeMounts:   []VolumeMount{{Name: "v", ReadOnly: true, MountPath: "/m", SubPath: "s"}},
		ReadinessProbe: probe, StartupProbe: &Probe{ProbeHandler: ProbeHandler{HTTPGet: &HTTPGetAction{Port: IntOrString{IsString: true, StrVal: "web"}}}},
		ImagePullPolicy: PullIfNotPresent,
		SecurityContext: &SecurityContext{Capabilities: &Capabilities{Add: []string{"NET_ADMIN"}, Drop: []string{"ALL"}}, Privileged: &f,
			RunAsUser: &uid, RunAsGroup: &uid, RunAsNonRoot: &tr, ReadOnlyRootFilesystem: &tr, AllowPrivilegeEscalation: &f,
			SeccompProfile: &SeccompProfile{Type: SeccompProfileTypeRuntimeDefault}},
	}
	vols := []Volume{
		{Name: "e", VolumeSource: VolumeSource{EmptyDir: &EmptyDirVolumeSource{Medium: StorageMediumMemory}}},
		{Name: "s", VolumeSource: VolumeSource{Secret: &SecretVolumeSource{SecretName: "s", Items: []KeyToPath{{Key: "k", Path: "p"}}, Optional: &tr}}},
		{Name: "d", VolumeSource: VolumeSource{DownwardAPI: &DownwardAPIVolumeSource{Items: []DownwardAPIVolumeFile{{Path: "labels", FieldRef: &ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}},
		{Name: "c", VolumeSource: VolumeSource{ConfigMap: &ConfigMapVolumeSource{LocalObjectReference: LocalObjectReference{Name: "cm"}, Items: []KeyToPath{{Key: "k", Path: "p"}}, Optional: &f}}},
		{Name: "p", VolumeSource: VolumeSource{Projected: &ProjectedVolumeSource{Sources: []VolumeProjection{
			{ConfigMap: &ConfigMapProjection{LocalObjectReference: LocalObjectReference{Name: "cm"}, Items: []KeyToPath{{Key: "k", Path: "p"}}}},
			{Secret: &SecretProjection{LocalObjectReference: LocalObjectReference{Name: "s"}, Optional: &tr}},
			{ServiceAccountToken: &ServiceAccountTokenProjection{Audience: "istio-ca", ExpirationSeconds: &exp, Path: "istio-token"}},
		}}}},
	}
	return c, vols
}

// TestRoundTripsThroughUpstream: a value with every field set marshals to JSON
// that k8s.io/api decodes strictly and marshals back to the same bytes, and that
// decodes back to the same local value.
func TestRoundTripsThroughUpstream(t *testing.T) {
	c, vols := sample()
	for _, v := range []struct{ local, upstream, back any }{
		{c, &corev1.Container{}, &Container{}},
		{vols, &[]corev1.Volume{}, &[]Volume{}},
	} {
		b, err := json.Marshal(v.local)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v.upstream); err != nil {
			t.Fatalf("k8s.io/api does not take %s: %v", b, err)
		}
		again, _ := json.Marshal(v.upstream)
		if !bytes.Equal(b, again) {
			t.Errorf("marshal differs from k8s.io/api's:\n ours %s\n  k8s %s", b, again)
		}
		if err := json.Unmarshal(again, v.back); err != nil {
			t.Fatal(err)
		}
		if got := reflect.ValueOf(v.back).Elem().Interface(); !reflect.DeepEqual(got, v.local) {
			t.Errorf("decode lost something:\n got %+v\nwant %+v", got, v.local)
		}
	}
}

// TestQuantity: the grammar accepts and refuses what resource.ParseQuantity does
// (which also takes a bare suffix such as "Mi" as zero; ours refuses it).
func TestQuantity(t *testing.T) {
	for _, s := range []string{"0", "1", "500m", "0.5", ".5", "5.", "+1", "-1", "64Mi", "1Gi", "2Ei", "1e3", "1E-3", "100n", "3u", "12k", "1M", "1T", "1P", "1E"} {
		_, ours := ParseQuantity(s)
		_, theirs := resource.ParseQuantity(s)
		if (ours == nil) != (theirs == nil) {
			t.Errorf("%q: ours %v, resource.ParseQuantity %v", s, ours, theirs)
		}
	}
	for _, s := range []string{"", "abc", "1mi", "1KiB", "1 Mi", "1..2", "--1", "1e", "0x10", "1Ki1"} {
		_, ours := ParseQuantity(s)
		_, theirs := resource.ParseQuantity(s)
		if ours == nil || theirs == nil {
			t.Errorf("%q: ours %v, resource.ParseQuantity %v (both should refuse)", s, ours, theirs)
		}
	}
	var q struct{ CPU Quantity }
	if err := json.Unmarshal([]byte(`{"CPU": 1}`), &q); err != nil || q.CPU != "1" {
		t.Errorf("a JSON number: %v %q", err, q.CPU)
	}
	if err := json.Unmarshal([]byte(`{"CPU": "lots"}`), &q); err == nil {
		t.Error("an invalid quantity was taken")
	}
}
