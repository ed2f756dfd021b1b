package podtemplate

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

const podSpec = `
      metadata:
        labels: {app: p}
      spec:
        containers:
        - name: prometheus # the server
          image: prom/prometheus
          volumeMounts:
          - {name: config, mountPath: /etc/prometheus}
        volumes:
        - name: config
          configMap: {name: c}
`

func workload(kind string) string {
	head := "apiVersion: apps/v1\nkind: " + kind + "\nmetadata: {name: w}\nspec:\n"
	return head + "  template:" + strings.ReplaceAll(podSpec, "\n      ", "\n    ")
}

func desired(native bool, vols ...string) Desired {
	c := corev1.Container{Name: "istio-proxy", Image: "proxy"}
	d := Desired{
		// The certificate volume is the first.
		Mounts:      []Mount{{Container: "prometheus", VolumeMount: corev1.VolumeMount{Name: vols[0], MountPath: "/etc/certs", ReadOnly: true}}},
		Labels:      map[string]string{"sidecar.istio.io/inject": "false"},
		Annotations: map[string]string{"sidecar.istio.io/inject": "false"},
	}
	for _, v := range vols {
		d.Volumes = append(d.Volumes, corev1.Volume{Name: v, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	}
	if native {
		d.InitContainers = []corev1.Container{c}
	} else {
		d.Containers = []corev1.Container{c}
	}
	return d
}

// TestEveryKind: one walker finds the pod template of every workload kind, and
// Apply edits it in place, keeping comments.
func TestEveryKind(t *testing.T) {
	for _, kind := range []string{"Deployment", "StatefulSet", "DaemonSet"} {
		t.Run(kind, func(t *testing.T) {
			w := yaml.MustParse(workload(kind))
			tpl, field, err := Template(w)
			if err != nil {
				t.Fatal(err)
			}
			if field != "spec.template" {
				t.Errorf("field %s", field)
			}
			owned, err := Apply(tpl, desired(false, "certs"), Owned{})
			if err != nil {
				t.Fatal(err)
			}
			if want := (Owned{Containers: []string{"istio-proxy"}, Volumes: []string{"certs"}, VolumeMounts: []string{"prometheus:/etc/certs"}}); !reflect.DeepEqual(owned, want) {
				t.Errorf("owned %+v, want %+v", owned, want)
			}
			out := w.MustString()
			for _, want := range []string{"name: istio-proxy", "- name: prometheus # the server", "mountPath: /etc/certs", `sidecar.istio.io/inject: "false"`} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

func TestIdempotentAndSwitches(t *testing.T) {
	w := yaml.MustParse(workload("Deployment"))
	tpl, _, _ := Template(w)
	owned, err := Apply(tpl, desired(false, "certs", "old"), Owned{})
	if err != nil {
		t.Fatal(err)
	}
	once := w.MustString()
	again, err := Apply(tpl, desired(false, "certs", "old"), owned)
	if err != nil {
		t.Fatal(err)
	}
	if w.MustString() != once || !reflect.DeepEqual(again, owned) {
		t.Errorf("second Apply changed the template:\n%s\n---\n%s", once, w.MustString())
	}
	// Switch to a native sidecar and drop a volume: our old container and volume go.
	if owned, err = Apply(tpl, desired(true, "certs"), owned); err != nil {
		t.Fatal(err)
	}
	cs, _ := Containers(tpl, "containers")
	ics, _ := Containers(tpl, "initContainers")
	vols, _ := Volumes(tpl)
	if len(cs) != 1 || len(ics) != 1 || ics[0].Name != "istio-proxy" || len(vols) != 2 {
		t.Errorf("after switch: containers %d, init %d, volumes %v", len(cs), len(ics), vols)
	}
	// Changing the mount path moves our mount and leaves no stale one behind.
	d := desired(true, "certs")
	d.Mounts[0].MountPath = "/certs"
	if _, err := Apply(tpl, d, owned); err != nil {
		t.Fatal(err)
	}
	cs, _ = Containers(tpl, "containers")
	if n := len(cs[0].VolumeMounts); n != 2 || cs[0].VolumeMounts[1].MountPath != "/certs" {
		t.Errorf("mounts after path change: %+v", cs[0].VolumeMounts)
	}
}

func TestCollisions(t *testing.T) {
	w := yaml.MustParse(strings.Replace(workload("Deployment"), "configMap: {name: c}", "configMap: {name: c}\n      - {name: certs, secret: {secretName: mine}}", 1))
	tpl, _, _ := Template(w)
	before := w.MustString()
	_, err := Apply(tpl, desired(false, "certs"), Owned{})
	if err == nil || !strings.Contains(err.Error(), `name "certs" is already used by something this function did not add`) || !strings.Contains(err.Error(), "secretName: mine") {
		t.Fatalf("err = %v", err)
	}
	_ = before // the function works on a copy; podtemplate edits in place by design.

	// Identical content is not a collision, and stays the user's.
	w = yaml.MustParse(strings.Replace(workload("Deployment"), "configMap: {name: c}", "configMap: {name: c}\n      - {name: certs, emptyDir: {}}", 1))
	tpl, _, _ = Template(w)
	owned, err := Apply(tpl, desired(false, "certs"), Owned{})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(owned.Volumes, "certs") {
		t.Error("an identical user volume was claimed as ours")
	}
}

func TestNoTemplate(t *testing.T) {
	_, _, err := Template(yaml.MustParse("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"))
	if err == nil {
		t.Error("a Service has no pod template")
	}
	_, field, err := Template(yaml.MustParse("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: s}\nspec: {}\n"))
	if err == nil || field != "spec.template" {
		t.Errorf("err = %v field %s", err, field)
	}
}

// TestMountPathCollision: another volume mounted at the certificate path, or
// below it, is refused with the path of that mount; one an earlier run added is
// not the user's and is moved.
func TestMountPathCollision(t *testing.T) {
	for _, at := range []string{"/etc/certs", "/etc/certs/", "/etc/certs/sub"} {
		w := yaml.MustParse(strings.Replace(workload("Deployment"), "- {name: config, mountPath: /etc/prometheus}", "- {name: config, mountPath: /etc/prometheus}\n        - {name: data, mountPath: "+at+"}", 1))
		tpl, _, _ := Template(w)
		_, err := Apply(tpl, desired(false, "certs"), Owned{})
		var e *krmerr.Error
		if !errors.As(err, &e) || e.Field != "spec.containers[0].volumeMounts[1]" || !strings.Contains(e.Message, `volume "data" at `+at+", which collides with the certificate mount path /etc/certs") {
			t.Errorf("%s: err = %v", at, err)
		}
	}
	// Not below it: /etc/certsx, and /etc (the certificates are mounted inside it).
	for _, at := range []string{"/etc/certsx", "/etc"} {
		w := yaml.MustParse(strings.Replace(workload("Deployment"), "- {name: config, mountPath: /etc/prometheus}", "- {name: data, mountPath: "+at+"}", 1))
		tpl, _, _ := Template(w)
		if _, err := Apply(tpl, desired(false, "certs"), Owned{}); err != nil {
			t.Errorf("%s: %v", at, err)
		}
	}
	// Ours from an earlier run under another volume name: replaced, not refused.
	w := yaml.MustParse(workload("Deployment"))
	tpl, _, _ := Template(w)
	owned, err := Apply(tpl, desired(false, "old-certs"), Owned{})
	if err != nil {
		t.Fatal(err)
	}
	d := desired(false, "certs")
	if _, err := Apply(tpl, d, owned); err != nil {
		t.Fatal(err)
	}
	cs, _ := Containers(tpl, "containers")
	if m := cs[0].VolumeMounts; len(m) != 2 || m[1].Name != "certs" {
		t.Errorf("mounts %+v", m)
	}
}

// TestUsersMountAdopted: the user's own mount of the certificate volume at the
// configured path (with or without a trailing slash, readOnly or not) is kept as
// it is and not recorded as ours; with takeOver it is replaced by ours.
func TestUsersMountAdopted(t *testing.T) {
	for _, mount := range []string{"{name: certs, mountPath: /etc/certs}", "{name: certs, mountPath: /etc/certs/, readOnly: false}", "{name: certs, mountPath: /etc/certs, readOnly: true, subPath: ''}"} {
		w := yaml.MustParse(strings.Replace(workload("Deployment"), "- {name: config, mountPath: /etc/prometheus}", "- {name: config, mountPath: /etc/prometheus}\n        - "+mount, 1))
		tpl, _, _ := Template(w)
		before, _ := Containers(tpl, "containers")
		owned, err := Apply(tpl, desired(false, "certs"), Owned{})
		if err != nil {
			t.Fatalf("%s: %v", mount, err)
		}
		after, _ := Containers(tpl, "containers")
		if !reflect.DeepEqual(before[0].VolumeMounts, after[0].VolumeMounts) || len(owned.VolumeMounts) != 0 {
			t.Errorf("%s: mounts %+v, owned %v; want the user's kept and none recorded", mount, after[0].VolumeMounts, owned.VolumeMounts)
		}
		d := desired(false, "certs")
		d.TakeOver = true
		if owned, err = Apply(tpl, d, owned); err != nil || len(owned.VolumeMounts) != 1 {
			t.Errorf("%s: with takeOver: owned %v, %v", mount, owned.VolumeMounts, err)
		}
	}
}

// TestContainersFirst: a held classic sidecar goes first in spec.containers,
// the container that was first stays kubectl's default (unless one is named),
// and a second Apply changes nothing.
func TestContainersFirst(t *testing.T) {
	const two = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\nspec:\n  template:\n    spec:\n      containers:\n      - {name: reloader, image: r}\n      - {name: prometheus, image: p}\n"
	for _, c := range []struct{ in, want string }{
		{two, "reloader"},
		{strings.Replace(two, "    spec:\n", "    metadata:\n      annotations: {kubectl.kubernetes.io/default-container: prometheus}\n    spec:\n", 1), "prometheus"},
	} {
		w := yaml.MustParse(c.in)
		tpl, _, _ := Template(w)
		d := desired(false, "certs")
		d.ContainersFirst = true
		owned, err := Apply(tpl, d, Owned{})
		if err != nil {
			t.Fatal(err)
		}
		cs, _ := Containers(tpl, "containers")
		var names []string
		for _, c := range cs {
			names = append(names, c.Name)
		}
		if !slices.Equal(names, []string{"istio-proxy", "reloader", "prometheus"}) {
			t.Errorf("containers %v", names)
		}
		if got := tpl.GetAnnotations()[DefaultContainerAnnotation]; got != c.want {
			t.Errorf("default container %q, want %q", got, c.want)
		}
		once := w.MustString()
		if _, err := Apply(tpl, d, owned); err != nil || w.MustString() != once {
			t.Errorf("second Apply (err %v) changed:\n%s\n---\n%s", err, once, w.MustString())
		}
	}
}
