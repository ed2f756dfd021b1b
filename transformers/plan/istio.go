package plan

import (
	"fmt"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/config"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/profiles"
)

// Istio is what the config's Istio version and nativeSidecar come to.
type Istio struct {
	Profile profiles.Profile
	// Newer: the version is newer than the table, so the newest profile is used.
	Newer bool
	// Native: istio-proxy as a native sidecar (sidecar mode); NativeWhy says why.
	Native    bool
	NativeWhy string
	// Inject is the nativeSidecar annotation for injection mode (nil: the
	// injector decides).
	Inject *bool
}

// ChooseIstio picks the profile and the sidecar's form for cfg.
func ChooseIstio(cfg *config.PrometheusMTLS) (Istio, error) {
	is := cfg.Spec.Istio
	minor, _ := config.ParseVersion(is.Version)
	profile, newer, ok := profiles.Resolve(minor)
	if !ok {
		return Istio{}, krmerr.ConfigErrorf("spec.istio.version", "Istio %s is not supported (supported: %s, and newer releases with the newest profile)", is.Version, profiles.Supported())
	}
	c := Istio{Profile: profile, Newer: newer, Inject: is.NativeSidecar}
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
	return c, nil
}

// NewerWarning is the warning for a version newer than the table.
func (c Istio) NewerWarning(version string) string {
	n := c.Profile
	return fmt.Sprintf("Istio %s is newer than the newest profile: using profile %s (1.%d–1.%d), so the sidecar follows Istio 1.%d's injector; compare it with `istioctl kube-inject` of %s",
		version, n.Name, n.MinMinor, n.MaxMinor, n.MaxMinor, version)
}
