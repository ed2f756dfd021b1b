package plan

import (
	"cmp"
	"fmt"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/config"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/profiles"
)

// Istio is what the config's Istio version and nativeSidecar come to, chosen
// together and once: the profile, the proxy image, the sidecar's form.
type Istio struct {
	// Version is spec.istio.version, for messages.
	Version string
	Profile profiles.Profile
	// Image is spec.istio.proxyImage, or the version's tag of
	// config.DefaultProxyImageRepo.
	Image string
	// Newer: the version is newer than the table, so the newest profile is used.
	Newer bool
	// Native: istio-proxy as a native sidecar (sidecar mode); NativeWhy says why.
	Native    bool
	NativeWhy string
	// NativeAnnotation is the sidecar.istio.io/nativeSidecar value for injection
	// mode (nil: none, the injector decides).
	NativeAnnotation *bool
	// Envoy: the sidecar runs Envoy (sidecar mode; the injector's istio-proxy
	// always does); EnvoyWhy says why.
	Envoy    bool
	EnvoyWhy string
	// Hold (classic sidecar only): istio-proxy goes first in spec.containers
	// with Istio's `pilot-agent wait` postStart hook, so that the kubelet starts
	// the scraper only once the certificates are written; HoldWhy says what holds
	// the scraper back, or why nothing can.
	Hold    bool
	HoldWhy string
}

// chooseIstio picks the profile, the image and the sidecar's form for is.
func chooseIstio(is config.Istio) (Istio, error) {
	minor := is.Minor()
	profile, newer, ok := profiles.Resolve(minor)
	if !ok {
		return Istio{}, krmerr.ConfigErrorf("spec.istio.version", "Istio %s is not supported (supported: %s, and newer releases with the newest profile)", is.Version, profiles.Supported())
	}
	c := Istio{Version: is.Version, Profile: profile, Image: is.ProxyImage, Newer: newer, NativeAnnotation: is.NativeSidecar}
	if c.Image == "" {
		c.Image = config.DefaultProxyImageRepo + ":" + config.ImageTag(is.Version)
	}
	switch {
	case is.NativeSidecar != nil && *is.NativeSidecar:
		c.Native, c.NativeWhy = true, "native sidecar, as spec.istio.nativeSidecar asks"
	case is.NativeSidecar != nil:
		c.NativeWhy = "classic sidecar, as spec.istio.nativeSidecar asks"
	case minor >= profiles.NativeSidecarsSince:
		c.Native, c.NativeWhy = true, fmt.Sprintf("native sidecar, as Istio's injector makes it since 1.%d where every node runs kubelet 1.33 or newer; set spec.istio.nativeSidecar false if a node runs a kubelet older than 1.29", profiles.NativeSidecarsSince)
	default:
		c.NativeWhy = fmt.Sprintf("classic sidecar, as Istio's injector makes it before 1.%d", profiles.NativeSidecarsSince)
	}
	switch {
	case is.Envoy != nil && *is.Envoy:
		c.Envoy, c.EnvoyWhy = true, "with Envoy, as spec.istio.envoy asks"
	case is.Envoy != nil:
		c.EnvoyWhy = "agent only (DISABLE_ENVOY), as spec.istio.envoy asks"
	case profile.NoEnvoy:
		c.EnvoyWhy = fmt.Sprintf("agent only (DISABLE_ENVOY): it intercepts nothing, and pilot-agent writes, rotates and holds readiness on the certificates without Envoy since 1.%d; set spec.istio.envoy true for Envoy", profiles.AgentOnlySince)
	default:
		c.Envoy, c.EnvoyWhy = true, fmt.Sprintf("with Envoy: pilot-agent before 1.%d does not keep the certificates without it", profiles.AgentOnlySince)
	}
	return c, nil
}

// holdApplicationUntilProxyStarts decides, for the classic sidecar of sidecar
// mode, whether istio-proxy's postStart hook can hold the scraper back, as
// Istio's option of that name does (t.Container: the pod's scraper container;
// empty for an operator's resource), and says so.
func (c *Istio) holdApplicationUntilProxyStarts(mode string, t Target, minor int) {
	scraper := cmp.Or(t.Scraper, "Prometheus")
	switch {
	case mode != config.ModeSidecar || c.Native:
		// The native sidecar's startup probe holds the pod's containers.
	case t.Container == "":
		c.HoldWhy = fmt.Sprintf("nothing holds %s back until the certificates exist (%s puts its own containers before ours, so no postStart hook can): it builds the secure scrape pool at its next target update, such as istio-proxy turning ready; a native sidecar is held", scraper, cmp.Or(t.Operator, "prometheus-operator"))
	case minor < profiles.HoldSince:
		c.HoldWhy = fmt.Sprintf("nothing holds %s back until the certificates exist (pilot-agent before 1.%d has no wait command): it builds the secure scrape pool at its next target update, such as istio-proxy turning ready", scraper, profiles.HoldSince)
	default:
		until := "the certificates are written"
		if c.Envoy {
			until = "Envoy is ready"
		}
		c.Hold = true
		c.HoldWhy = fmt.Sprintf("istio-proxy first, its postStart hook (pilot-agent wait, up to %d s) holds the other containers until %s", profiles.HoldTimeoutSeconds, until)
	}
}

// Warning is the warning of a version newer than the table ("" otherwise).
func (c Istio) Warning() string {
	if !c.Newer {
		return ""
	}
	n := c.Profile
	return fmt.Sprintf("Istio %s is newer than the newest profile: using profile %s (1.%d–1.%d), so the sidecar follows Istio 1.%d's injector; compare it with `istioctl kube-inject` of %s",
		c.Version, n.Name, n.MinMinor, n.MaxMinor, n.MaxMinor, c.Version)
}
