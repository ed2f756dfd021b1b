// Package plan turns the function config and the selected workload into what is
// to be done, computed once: the Istio profile and image, the pod-template edit
// and the scrape options. It decides; package workload carries the plan out. The
// plan carries only what its writers read: spec.certificates.mountPath, for one,
// is the scraper container's volume mount (Pod.Mounts), the directory of the
// scrape jobs' tls_config files (Scrape.CertsDir) and of an operator's scrape
// class (Class.CertsDir).
package plan

import (
	"fmt"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/config"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/injection"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/operator"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/podtemplate"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/profiles"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/scrapeconfig"
	corev1 "k8s.io/api/core/v1"
)

// Target is what the plan needs to know of the selected workload.
type Target struct {
	// Owner is the workload whose pods run the sidecar (ISTIO_META_OWNER and
	// ISTIO_META_WORKLOAD_NAME): the workload itself, or the StatefulSet
	// prometheus-operator makes.
	Owner profiles.Owner
	// Container is the scraper container the certificates are mounted into;
	// empty: the pod-template view's spec.volumeMounts (an operator's
	// resource).
	Container string
	// Scraper is how a sentence names the scraper (its table row's Called);
	// Operator the operator that makes its pods, if one does (its row's
	// Operator). Empty: Prometheus, prometheus-operator.
	Scraper, Operator string
	// Namespace and ServiceAccount are the scraper pods' (empty namespace: the
	// one the manifest is applied to): their mesh identity, for ambient mode's
	// AuthorizationPolicy advice.
	Namespace, ServiceAccount string
}

// Plan is everything the run writes, decided before anything is edited.
type Plan struct {
	// Istio is the profile, image and sidecar form chosen for the version.
	Istio Istio
	// Pod is the pod-template edit.
	Pod podtemplate.Desired
	// Injection asks Istio's injector for the sidecar; nil in sidecar mode.
	Injection *injection.Options
	// Scrape is the edit of the scrape configuration.
	Scrape scrapeconfig.Options
	// Class is prometheus-operator's scrape class (operator resources only).
	Class operator.ScrapeClass
	// CertVolume is the certificate volume's name (spec.certificates.volumeName),
	// in every mode: the ownership record is believed about a memory volume of
	// this name only.
	CertVolume string
	// Ambient is set in ambient mode: the pod is enrolled, and what the other
	// modes added (the sidecar, its volumes and mount, the injector's steering,
	// the https jobs and drop rules, the scrape class) is removed.
	Ambient *Ambient
}

// Ambient is ambient mode's part of the plan.
type Ambient struct {
	// Principal is the scraper's identity in AuthorizationPolicies:
	// <trustDomain>/ns/<namespace>/sa/<serviceAccount>.
	Principal string
}

// New makes the plan for target: it chooses the Istio profile (an unsupported
// version is an error; Plan.Istio.Warning says when a newer one runs with the
// newest profile) and everything the writers need.
func New(cfg *config.PrometheusMTLS, t Target) (Plan, error) {
	s := cfg.Spec
	istio, err := chooseIstio(s.Istio)
	if err != nil {
		return Plan{}, err
	}
	if s.Mode == config.ModeAmbient {
		return ambient(cfg, istio, t), nil
	}
	istio.holdApplicationUntilProxyStarts(s.Mode, t, s.Istio.Minor())
	sidecar, err := istio.Profile.Build(sidecarParams(cfg, istio, t.Owner))
	if err != nil {
		return Plan{}, krmerr.ConfigErrorf("spec.istio.envoy", "%v", err)
	}
	dir := s.Certificates.MountPath
	var receiver string
	if s.ScrapeConfig != nil {
		receiver = s.ScrapeConfig.Receiver
	}
	p := Plan{
		Istio:      istio,
		CertVolume: s.Certificates.VolumeName,
		Scrape: scrapeconfig.Options{
			JobName:       s.ScrapeJob.Name,
			CertsDir:      dir,
			ExcludeFrom:   s.ScrapeJob.ExcludeFrom,
			TakeOver:      s.ScrapeJob.TakeOver,
			SecurePortJob: s.ScrapeJob.SecurePortJob,
			Receiver:      receiver,
		},
		Class: operator.ScrapeClass{CertsDir: dir, Default: s.ScrapeJob.DefaultScrapeClass, TakeOver: s.ScrapeJob.TakeOver},
	}
	p.Pod = podtemplate.Desired{
		Mounts: []podtemplate.Mount{{Container: t.Container, VolumeMount: corev1.VolumeMount{
			Name: s.Certificates.VolumeName, MountPath: dir, ReadOnly: true}}},
		TakeOver: s.TakeOver,
	}
	if s.Mode == config.ModeInjection {
		p.Injection = &injection.Options{
			Revision: s.Istio.Revision, OutputCertsDir: sidecar.OutputCertsDir,
			CertVolume: s.Certificates.VolumeName, Native: istio.NativeAnnotation,
		}
		// The volume is declared in the pod itself: one only named in the
		// annotation is rejected by the API server (istio/istio#29919).
		p.Pod.Volumes = sidecar.Volumes[len(sidecar.Volumes)-1:]
		p.Pod.Forbid = map[string]string{profiles.ContainerName: "Istio's injector adds one of that name"}
		return p, nil
	}
	p.Pod.Volumes = sidecar.Volumes
	p.Pod.Labels = map[string]string{injection.LabelInject: "false"}
	p.Pod.Annotations = map[string]string{injection.LabelInject: "false"}
	if istio.Native {
		p.Pod.InitContainers = []corev1.Container{sidecar.Container}
	} else {
		p.Pod.Containers = []corev1.Container{sidecar.Container}
		p.Pod.ContainersFirst = istio.Hold
	}
	return p, nil
}

// ambient is the plan of ambient mode: no sidecar, volume or mount is wanted, so
// the pod-template edit removes those an earlier run added; the injection label
// stays "false" (ztunnel, not a sidecar, carries the scraper's traffic).
func ambient(cfg *config.PrometheusMTLS, istio Istio, t Target) Plan {
	s := cfg.Spec
	ns := t.Namespace
	if ns == "" {
		ns = "<namespace>"
	}
	sa := t.ServiceAccount
	if sa == "" {
		sa = "default"
	}
	return Plan{
		Istio:      istio,
		CertVolume: s.Certificates.VolumeName,
		Pod: podtemplate.Desired{
			Labels:      map[string]string{injection.LabelInject: "false"},
			Annotations: map[string]string{injection.LabelInject: "false"},
			TakeOver:    s.TakeOver,
		},
		Scrape:  scrapeconfig.Options{JobName: s.ScrapeJob.Name, Remove: true},
		Class:   operator.ScrapeClass{Remove: true},
		Ambient: &Ambient{Principal: fmt.Sprintf("%s/ns/%s/sa/%s", s.Istio.TrustDomain, ns, sa)},
	}
}

// AmbientSummary says what ambient mode did, for the info result: removed lists
// what earlier runs had added and this one took out.
func (p Plan) AmbientSummary(field string, removed []string) string {
	msg := fmt.Sprintf("enrolled in Istio's ambient mode (%s: %s on %s, %s: \"false\")", injection.LabelDataplaneMode, injection.DataplaneAmbient, field, injection.LabelInject)
	if len(removed) > 0 {
		msg += "; removed what the sidecar or injection route had added: " + strings.Join(removed, ", ")
	}
	return msg + fmt.Sprintf(". A manifest cannot show the rest: the cluster must run ambient (istio-cni and ztunnel installed); "+
		"targets behind a deny-by-default AuthorizationPolicy need an ALLOW rule for principal %q; "+
		"ambient targets are reached only this way (ztunnel accepts mesh traffic only as HBONE)", p.Ambient.Principal)
}

// sidecarParams maps the config onto the profile's parameters.
func sidecarParams(cfg *config.PrometheusMTLS, istio Istio, owner profiles.Owner) profiles.Params {
	is := cfg.Spec.Istio
	// Injection mode builds the sidecar only for its volume and directory: the
	// injector's istio-proxy runs Envoy.
	envoy := istio.Envoy || cfg.Spec.Mode != config.ModeSidecar
	return profiles.Params{
		Image: istio.Image, PullPolicy: is.ImagePullPolicy,
		Namespace: is.ControlPlaneNamespace, Revision: is.Revision, DiscoveryAddress: is.DiscoveryAddress,
		TrustDomain: is.TrustDomain, MeshID: is.MeshID, ClusterID: is.ClusterID, Network: is.Network,
		Envoy: envoy, Native: istio.Native, Hold: istio.Hold, Resources: *is.Resources,
		CertVolume: cfg.Spec.Certificates.VolumeName,
		Owner:      owner,
	}
}

// Summary says what the pod-template edit does, for the info result: into
// names where the certificates are mounted, suffix adds to the end.
func (p Plan) Summary(into, suffix string) string {
	what, form := "istio-proxy sidecar in spec.containers", p.Istio.NativeWhy
	switch {
	case p.Injection != nil && p.Istio.NativeAnnotation == nil:
		what, form = "Istio injection annotations (the injector adds istio-proxy)", "native or classic sidecar as the injector decides"
	case p.Injection != nil:
		what = "Istio injection annotations (the injector adds istio-proxy)"
	case p.Istio.Native:
		what = "istio-proxy sidecar in spec.initContainers"
	}
	if p.Injection == nil {
		form += "; " + p.Istio.EnvoyWhy
		if p.Istio.HoldWhy != "" {
			form += "; " + p.Istio.HoldWhy
		}
	}
	m := p.Pod.Mounts[0]
	return fmt.Sprintf("%s (Istio %s, profile %s; %s), certificate volume %q mounted into %s at %s%s",
		what, p.Istio.Version, p.Istio.Profile.Name, form, m.Name, into, m.MountPath, suffix)
}
