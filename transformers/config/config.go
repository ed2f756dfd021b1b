// Package config holds the function's public API (fn.istio-prometheus-mtls.dev/v1alpha1
// PrometheusMTLS): its types, defaults and validation, in one place. It is pure: it
// reads YAML nodes handed to it and never does I/O.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/kinds"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/profiles"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/yamlnode"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	kjson "sigs.k8s.io/json"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

const (
	Group      = "fn.istio-prometheus-mtls.dev"
	Version    = "v1alpha1"
	APIVersion = Group + "/" + Version
	Kind       = "PrometheusMTLS"
)

// Modes.
const (
	ModeSidecar   = "sidecar"
	ModeInjection = "injection"
	ModeAmbient   = "ambient"
)

// PrometheusMTLS is the function config.
type PrometheusMTLS struct {
	// APIVersion is fn.istio-prometheus-mtls.dev/v1alpha1.
	APIVersion string `json:"apiVersion"`
	// Kind is PrometheusMTLS.
	Kind string `json:"kind"`
	// Metadata names the config; the function reads nothing else of it.
	Metadata Metadata `json:"metadata,omitempty"`
	// Spec is what the function is asked to do; every field is optional.
	Spec Spec `json:"spec,omitempty"`
}

// Metadata is the part of ObjectMeta a function config carries.
type Metadata struct {
	// Name of the config, named in results about it.
	Name string `json:"name,omitempty"`
	// Namespace of the config (kpt and kustomize may set one).
	Namespace string `json:"namespace,omitempty"`
	// Labels of the config.
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations of the config, such as config.kubernetes.io/function.
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Spec is what the user asks for.
type Spec struct {
	// Target selects the scraper when the list holds more than one; unset, the
	// single scraper workload or resource (Prometheus, vmagent, the
	// OpenTelemetry Collector) in the list.
	Target Target `json:"target,omitempty"`
	// Mode is how the scraper reaches STRICT mTLS pods: "sidecar" (the default)
	// writes a cert-only istio-proxy and an https job; "injection" asks Istio's
	// injector for that sidecar; "ambient" enrols the scraper in Istio's ambient
	// mode (istio.io/dataplane-mode: ambient), so ztunnel carries its plain scrapes
	// over mTLS, and removes what the other two modes added.
	Mode string `json:"mode,omitempty" flat:"mode"`
	// Istio describes the control plane the sidecar talks to and the sidecar.
	Istio Istio `json:"istio,omitempty"`
	// Certificates says where the workload certificates go.
	Certificates Certificates `json:"certificates,omitempty"`
	// ScrapeJob configures the https job and the edit of the plain pod jobs.
	ScrapeJob ScrapeJob `json:"scrapeJob,omitempty"`
	// ScrapeConfig names the ConfigMap or Secret key holding the scrape config
	// (prometheus.yml, vmagent's or the collector's file); unset, the function
	// follows the scraper container's config flag.
	ScrapeConfig *ScrapeConfigRef `json:"scrapeConfig,omitempty"`
	// TakeOver adopts what a hand-written setup (such as the blog post's) left with
	// our names: the istio-proxy container, volumes, mounts, the scrape job and the
	// scrape class are replaced instead of refused.
	TakeOver bool `json:"takeOver,omitempty" flat:"take-over"`
}

// Target selects the scraper workload. Everything is optional.
type Target struct {
	// Kind is Deployment, StatefulSet, DaemonSet, Prometheus, PrometheusAgent,
	// VMAgent, OpenTelemetryCollector or Alloy.
	Kind string `json:"kind,omitempty" flat:"target-kind"`
	// Name is the workload's name, current or previous (kustomize namePrefix,
	// nameSuffix).
	Name string `json:"name,omitempty" flat:"target-name"`
	// Namespace is the workload's namespace.
	Namespace string `json:"namespace,omitempty" flat:"target-namespace"`
	// MatchLabels must all be labels of the workload or of its pod template.
	MatchLabels map[string]string `json:"matchLabels,omitempty" flat:"target-match-labels"`
	// Container is the scraper container; unset, the one running the scraper's
	// image or passing its config flag (--config.file, -promscrape.config).
	Container string `json:"container,omitempty" flat:"target-container"`
}

// Istio describes the control plane the sidecar talks to.
type Istio struct {
	// Version is the control plane's Istio release, a string "1.X" or "1.X.Y"
	// (quoted: YAML reads 1.30 as a number); it chooses the profile and the proxy
	// image tag. Set it to your control plane's version; unset, the newest release
	// the profile table knows is assumed and an info result says so. A release
	// newer than the table runs with the newest profile and a warning.
	Version string `json:"version,omitempty" flat:"istio-version"`
	// ProxyImage is the istio-proxy image; unset, docker.io/istio/proxyv2 tagged
	// with the version (1.X.0, or 1.X.Y when given so).
	ProxyImage string `json:"proxyImage,omitempty" flat:"proxy-image"`
	// ImagePullPolicy of istio-proxy: Always, IfNotPresent (the default) or Never.
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty" flat:"image-pull-policy"`
	// ControlPlaneNamespace is istiod's namespace (default istio-system).
	ControlPlaneNamespace string `json:"controlPlaneNamespace,omitempty" flat:"control-plane-namespace"`
	// Revision is the istiod revision to talk to (istiod-<revision>); in
	// injection mode, the istio.io/rev label.
	Revision string `json:"revision,omitempty" flat:"revision"`
	// DiscoveryAddress overrides istiod's address; unset,
	// istiod[-<revision>].<namespace>.svc:15012 (istio-pilot for 1.5).
	DiscoveryAddress string `json:"discoveryAddress,omitempty" flat:"discovery-address"`
	// TrustDomain is the mesh's trust domain (default cluster.local).
	TrustDomain string `json:"trustDomain,omitempty" flat:"trust-domain"`
	// MeshID is the mesh ID; unset, the trust domain.
	MeshID string `json:"meshID,omitempty" flat:"mesh-id"`
	// ClusterID is the cluster's ID in the mesh (default Kubernetes).
	ClusterID string `json:"clusterID,omitempty" flat:"cluster-id"`
	// Network is the pod's network in a multi-network mesh (ISTIO_META_NETWORK).
	Network string `json:"network,omitempty" flat:"network"`
	// NativeSidecar puts istio-proxy into initContainers with restartPolicy Always.
	// Unset: what Istio's injector does for the version on a current cluster (native
	// from 1.27 on); in injection mode, unset leaves the choice to the injector.
	NativeSidecar *bool `json:"nativeSidecar,omitempty" flat:"native-sidecar"`
	// Envoy runs Envoy in the sidecar. Unset: the agent only (DISABLE_ENVOY,
	// readiness on 15020) from Istio 1.14, whose pilot-agent writes, rotates and
	// holds readiness on the certificates without Envoy; Envoy before 1.14. false
	// needs 1.14 or later and mode sidecar (the injector's istio-proxy runs Envoy).
	Envoy *bool `json:"envoy,omitempty" flat:"envoy"`
	// Resources of istio-proxy; unset, requests 10m CPU / 64Mi memory, limits
	// 500m / 256Mi.
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
}

// Minor is the minor release of Version ("1.31" and "1.31.2": 31); 0 for a
// version Validate refuses.
func (i Istio) Minor() int {
	m, _ := parseVersion(i.Version)
	return m
}

// Certificates says where the workload certificates live.
type Certificates struct {
	// VolumeName is the memory volume istio-proxy writes the certificates into
	// (default istio-certs).
	VolumeName string `json:"volumeName,omitempty" flat:"cert-volume-name"`
	// MountPath is where the scraper reads root-cert.pem, cert-chain.pem and
	// key.pem (default /etc/istio-certs).
	MountPath string `json:"mountPath,omitempty" flat:"cert-mount-path"`
}

// ScrapeJob configures the https scrape job and the edit of the plain pod jobs.
type ScrapeJob struct {
	// Name is the https job's name (default kubernetes-pods-istio-secure).
	Name string `json:"name,omitempty" flat:"scrape-job-name"`
	// ExcludeFrom names the plain jobs that get the drop rule for sidecar pods.
	// nil: every role-pod job that keeps prometheus_io_scrape*; empty: none.
	ExcludeFrom *[]string `json:"excludeFrom,omitempty" flat:"scrape-job-exclude-from"`
	// TakeOver lets the function replace a job of its name it did not write.
	TakeOver bool `json:"takeOver,omitempty" flat:"scrape-job-take-over"`
	// SecurePortJob adds a job for pods annotated prometheus.istio.io/secure-port
	// (Istio >= 1.31 secure metrics ports).
	SecurePortJob bool `json:"securePortJob,omitempty" flat:"secure-port-job"`
	// DefaultScrapeClass makes the istio-mtls scrape class the default of an
	// operator's resource with scrape classes (off: plaintext monitors would
	// break).
	DefaultScrapeClass bool `json:"defaultScrapeClass,omitempty" flat:"default-scrape-class"`
}

// ScrapeConfigRef names the object holding prometheus.yml explicitly.
type ScrapeConfigRef struct {
	// Kind is ConfigMap or Secret.
	Kind string `json:"kind,omitempty" flat:"scrape-config-kind"`
	// Name of the object.
	Name string `json:"name,omitempty" flat:"scrape-config-name"`
	// Namespace of the object; unset, the workload's.
	Namespace string `json:"namespace,omitempty" flat:"scrape-config-namespace"`
	// Key holding the config; unset, prometheus.yml or prometheus.yaml.
	Key string `json:"key,omitempty" flat:"scrape-config-key"`
	// Receiver is the OpenTelemetry Collector's prometheus receiver the job
	// goes into ("prometheus" or "prometheus/NAME"); unset, the only one. It
	// may be set alone: the config file is then found as without
	// spec.scrapeConfig.
	Receiver string `json:"receiver,omitempty" flat:"scrape-config-receiver"`
	// WorkloadOnly edits the scraper's workload alone and leaves its scrape
	// configuration as it is, wherever it is: the jobs and rules to add to it are
	// given in a warning result. For a configuration that is not in the list of
	// resources (the prometheus chart's server.configFromSecret, a ConfigMap
	// managed elsewhere), which is otherwise an error.
	WorkloadOnly bool `json:"workloadOnly,omitempty" flat:"scrape-config-workload-only"`
}

// Names tells whether r names the object holding the config (not only a
// receiver).
func (r *ScrapeConfigRef) Names() bool { return r != nil && r.Name != "" }

// Defaults.
const (
	DefaultProxyImageRepo        = "docker.io/istio/proxyv2"
	DefaultControlPlaneNamespace = "istio-system"
	DefaultTrustDomain           = "cluster.local"
	DefaultClusterID             = "Kubernetes"
	DefaultCertVolumeName        = "istio-certs"
	DefaultCertMountPath         = "/etc/istio-certs"
	DefaultScrapeJobName         = "kubernetes-pods-istio-secure"
)

// DefaultIstioVersion is the newest release the profile table knows ("1.31"),
// used when spec.istio.version is not set.
func DefaultIstioVersion() string { return fmt.Sprintf("1.%d", profiles.Newest().MaxMinor) }

// DefaultResources are the sidecar's modest defaults: it only fetches certificates.
func DefaultResources() *corev1.ResourceRequirements {
	return &corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("10m"),
			corev1.ResourceMemory: resource.MustParse("64Mi"),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("500m"),
			corev1.ResourceMemory: resource.MustParse("256Mi"),
		},
	}
}

func fieldErr(field, format string, a ...any) *krmerr.Error {
	return krmerr.ConfigErrorf(field, format, a...)
}

// Default fills every unset field with its documented default.
func (c *PrometheusMTLS) Default() {
	s := &c.Spec
	if s.Mode == "" {
		s.Mode = ModeSidecar
	}
	if s.Istio.Version == "" {
		s.Istio.Version = DefaultIstioVersion()
	}
	if s.Istio.ControlPlaneNamespace == "" {
		s.Istio.ControlPlaneNamespace = DefaultControlPlaneNamespace
	}
	if s.Istio.TrustDomain == "" {
		s.Istio.TrustDomain = DefaultTrustDomain
	}
	if s.Istio.MeshID == "" {
		s.Istio.MeshID = s.Istio.TrustDomain
	}
	if s.Istio.ClusterID == "" {
		s.Istio.ClusterID = DefaultClusterID
	}
	if s.Istio.ImagePullPolicy == "" {
		s.Istio.ImagePullPolicy = corev1.PullIfNotPresent
	}
	if s.Istio.Resources == nil {
		s.Istio.Resources = DefaultResources()
	}
	if s.Certificates.VolumeName == "" {
		s.Certificates.VolumeName = DefaultCertVolumeName
	}
	if s.Certificates.MountPath == "" {
		s.Certificates.MountPath = DefaultCertMountPath
	}
	s.Certificates.MountPath = path.Clean(s.Certificates.MountPath)
	if s.ScrapeJob.Name == "" {
		s.ScrapeJob.Name = DefaultScrapeJobName
	}
	if s.TakeOver {
		s.ScrapeJob.TakeOver = true
	}
}

// ImageTag turns "1.28" into "1.28.0" and leaves "1.28.2" alone: the tag of
// DefaultProxyImageRepo for a version.
func ImageTag(version string) string {
	if strings.Count(version, ".") == 1 {
		return version + ".0"
	}
	return version
}

// versionRE is the Istio release grammar the function accepts: 1.X or 1.X.Y.
var versionRE = regexp.MustCompile(`^1\.(0|[1-9][0-9]{0,3})(\.(0|[1-9][0-9]{0,3}))?$`)

// parseVersion returns the minor version of "1.X" or "1.X.Y".
func parseVersion(v string) (int, bool) {
	m := versionRE.FindStringSubmatch(v)
	if m == nil {
		return 0, false
	}
	minor, _ := strconv.Atoi(m[1])
	return minor, true
}

// nameErr checks a name with one of apimachinery's validators and words its
// first complaint as an error about field.
func nameErr(field, what, value string, check func(string) []string) error {
	if msgs := check(value); len(msgs) > 0 {
		return fieldErr(field, "%q is not a valid %s: %s", value, what, msgs[0])
	}
	return nil
}

// Validate checks a defaulted config. The Istio version is parsed here, once; the
// plan chooses its profile (and says when none fits).
func (c *PrometheusMTLS) Validate() error {
	if c.APIVersion != APIVersion {
		return fieldErr("apiVersion", "must be %q, got %q", APIVersion, c.APIVersion)
	}
	if c.Kind != Kind {
		return fieldErr("kind", "must be %q, got %q", Kind, c.Kind)
	}
	s := c.Spec
	if s.Target.Kind != "" && !kinds.IsSelectable(s.Target.Kind) {
		return fieldErr("spec.target.kind", "unsupported kind %q (supported: %s)", s.Target.Kind, strings.Join(kinds.Selectable(), ", "))
	}
	switch s.Mode {
	case ModeSidecar, ModeAmbient:
	case ModeInjection:
		if s.Istio.Envoy != nil && !*s.Istio.Envoy {
			return fieldErr("spec.istio.envoy", "envoy: false cannot be used with mode injection: the injected istio-proxy's readiness and startup probes ask Envoy on port 15021, so the pod would never become ready (use mode sidecar, which probes the agent on 15020)")
		}
	default:
		return fieldErr("spec.mode", "must be %q, %q or %q, got %q", ModeSidecar, ModeInjection, ModeAmbient, s.Mode)
	}
	if _, ok := parseVersion(s.Istio.Version); !ok {
		return fieldErr("spec.istio.version", "%q is not an Istio version of the form 1.X or 1.X.Y", s.Istio.Version)
	}
	if s.Istio.Revision != "" {
		if err := nameErr("spec.istio.revision", "revision name", s.Istio.Revision, validation.IsDNS1123Label); err != nil {
			return err
		}
	}
	if err := nameErr("spec.istio.controlPlaneNamespace", "namespace name", s.Istio.ControlPlaneNamespace, validation.IsDNS1123Label); err != nil {
		return err
	}
	switch s.Istio.ImagePullPolicy {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		return fieldErr("spec.istio.imagePullPolicy", "must be Always, IfNotPresent or Never, got %q", s.Istio.ImagePullPolicy)
	}
	if err := nameErr("spec.certificates.volumeName", "volume name", s.Certificates.VolumeName, validation.IsDNS1123Label); err != nil {
		return err
	}
	if !path.IsAbs(s.Certificates.MountPath) || s.Certificates.MountPath == "/" {
		return fieldErr("spec.certificates.mountPath", "must be an absolute path other than /, got %q", s.Certificates.MountPath)
	}
	if strings.TrimSpace(s.ScrapeJob.Name) == "" || strings.ContainsAny(s.ScrapeJob.Name, "\n\t") {
		return fieldErr("spec.scrapeJob.name", "must be a non-empty single-line job name")
	}
	if s.ScrapeJob.ExcludeFrom != nil {
		for i, n := range *s.ScrapeJob.ExcludeFrom {
			if n == "" {
				return fieldErr(fmt.Sprintf("spec.scrapeJob.excludeFrom[%d]", i), "must not be empty")
			}
			if n == s.ScrapeJob.Name {
				return fieldErr(fmt.Sprintf("spec.scrapeJob.excludeFrom[%d]", i), "names the secure job %q itself", n)
			}
		}
	}
	if r := s.ScrapeConfig; r != nil && r.Receiver != "" && r.Receiver != "prometheus" && !strings.HasPrefix(r.Receiver, "prometheus/") {
		return fieldErr("spec.scrapeConfig.receiver", "must be a prometheus receiver of the collector's config (prometheus or prometheus/NAME), got %q", r.Receiver)
	}
	if r := s.ScrapeConfig; r != nil && (r.Names() || r.Namespace != "" || r.Key != "" || (r.Receiver == "" && !r.WorkloadOnly)) {
		if r.Kind != "ConfigMap" && r.Kind != "Secret" {
			return fieldErr("spec.scrapeConfig.kind", "must be ConfigMap or Secret, got %q", r.Kind)
		}
		if r.Name == "" {
			return fieldErr("spec.scrapeConfig.name", "must not be empty")
		}
	}
	return nil
}

// Assumed says which defaults of a parsed config a run reports: run-time
// facts about this config, not part of the API.
type Assumed struct {
	// Version: spec.istio.version was not given, and DefaultIstioVersion
	// was filled in; the run says so in an info result.
	Version bool
}

// Parse decodes, defaults and validates the function config carried by node, which
// is either a PrometheusMTLS or a ConfigMap of flat keys (for `kpt fn eval -- k=v`).
// A nil or empty node yields the defaults.
func Parse(node *kyaml.RNode) (*PrometheusMTLS, Assumed, error) {
	c := &PrometheusMTLS{APIVersion: APIVersion, Kind: Kind}
	if node != nil && !node.IsNilOrEmpty() {
		var err error
		switch kind := node.GetKind(); {
		case kind == "ConfigMap" && node.GetApiVersion() == "v1":
			c, err = fromConfigMap(node)
		default:
			c, err = fromObject(node)
		}
		if err != nil {
			return nil, Assumed{}, err
		}
	}
	assumed := Assumed{Version: c.Spec.Istio.Version == ""}
	c.Default()
	if err := c.Validate(); err != nil {
		return nil, Assumed{}, err
	}
	return c, assumed, nil
}

func fromObject(node *kyaml.RNode) (*PrometheusMTLS, error) {
	if node.YNode().Kind != kyaml.MappingNode {
		return nil, fieldErr("", "functionConfig must be a mapping, got a %s", yamlnode.KindWord(node.YNode()))
	}
	if k := node.GetKind(); k != Kind {
		return nil, fieldErr("kind", "must be %q (or a v1 ConfigMap), got %q", Kind, k)
	}
	if av := node.GetApiVersion(); av != APIVersion {
		return nil, fieldErr("apiVersion", "must be %q (or a v1 ConfigMap), got %q", APIVersion, av)
	}
	if err := rejectNumericVersion(node); err != nil {
		return nil, err
	}
	if err := checkQuantities(node); err != nil {
		return nil, err
	}
	b, err := node.MarshalJSON()
	if err != nil {
		return nil, fieldErr("", "cannot read functionConfig: %v", err)
	}
	c := &PrometheusMTLS{}
	strict, err := kjson.UnmarshalStrict(b, c)
	if err != nil {
		return nil, decodeError(b, err)
	}
	// Every unknown or duplicate field, each at its full path, as the decoder gives it.
	var unknown []error
	for _, e := range strict {
		var fe kjson.FieldError
		if errors.As(e, &fe) {
			kind, _, _ := strings.Cut(e.Error(), ` "`)
			unknown = append(unknown, fieldErr(fe.FieldPath(), "%s (see `istio-prometheus-mtls --help` for the API)", kind))
		} else {
			unknown = append(unknown, fieldErr("", "%v", e))
		}
	}
	return c, errors.Join(unknown...)
}

// rejectNumericVersion catches `version: 1.30`, which YAML reads as the number 1.3.
func rejectNumericVersion(node *kyaml.RNode) error {
	v, err := node.Pipe(kyaml.Lookup("spec", "istio", "version"))
	if err != nil || v == nil {
		return nil
	}
	if y := v.YNode(); y.Kind == kyaml.ScalarNode && (y.Tag == kyaml.NodeTagFloat || y.Tag == kyaml.NodeTagInt) {
		return fieldErr("spec.istio.version", "must be a string: quote it (\"%s\"), YAML reads an unquoted %s as a number", y.Value, y.Value)
	}
	return nil
}

// checkQuantities parses every quantity of spec.istio.resources with
// resource.ParseQuantity first, so that a bad one is reported at its field (the
// decoder reports it without one).
func checkQuantities(node *kyaml.RNode) error {
	for _, list := range []string{"limits", "requests"} {
		m, err := node.Pipe(kyaml.Lookup("spec", "istio", "resources", list))
		if err != nil || m == nil || m.YNode().Kind != kyaml.MappingNode {
			continue
		}
		content := m.YNode().Content
		for i := 0; i+1 < len(content); i += 2 {
			v := content[i+1]
			if v.Kind != kyaml.ScalarNode {
				continue
			}
			if _, err := resource.ParseQuantity(v.Value); err != nil {
				return fieldErr("spec.istio.resources."+list+"."+content[i].Value, "quantity %q is not valid: %v", v.Value, err)
			}
		}
	}
	return nil
}

// decodeError words a decoding failure. A value of the wrong type is found again
// with encoding/json, whose UnmarshalTypeError carries the field's full path.
func decodeError(b []byte, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(json.Unmarshal(b, &PrometheusMTLS{}), &te) && te.Field != "" {
		return fieldErr(te.Field, "%s", krmerr.WrongType(te))
	}
	return fieldErr("", "cannot decode functionConfig: %v", err)
}

// FlatField is a spec field a ConfigMap function config sets with a flat key:
// the field's `flat` tag names the key, so the flat keys are the typed API's
// fields and nothing else.
type FlatField struct {
	// Key is the ConfigMap key; Path the field's path in the PrometheusMTLS
	// resource (spec.istio.version).
	Key, Path string
	// Type is the field's Go type.
	Type reflect.Type
	// index is the field's reflect index path from PrometheusMTLS.
	index []int
}

// FlatFields lists the flat keys' fields, sorted by key.
func FlatFields() []FlatField {
	var out []FlatField
	var walk func(t reflect.Type, path string, index []int)
	walk = func(t reflect.Type, path string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			at := append(slices.Clone(index), i)
			if key := f.Tag.Get("flat"); key != "" {
				out = append(out, FlatField{Key: key, Path: path + name, Type: f.Type, index: at})
				continue
			}
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft.PkgPath() == reflect.TypeFor[Spec]().PkgPath() {
				walk(ft, path+name+".", at)
			}
		}
	}
	walk(reflect.TypeFor[PrometheusMTLS](), "", nil)
	slices.SortFunc(out, func(a, b FlatField) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// FlatKeys lists the keys a ConfigMap function config accepts, sorted.
func FlatKeys() []string {
	var keys []string
	for _, f := range FlatFields() {
		keys = append(keys, f.Key)
	}
	return keys
}

// FlatForm says how a flat key's string value is written for the field's
// type ("" for a plain string).
func (f FlatField) FlatForm() string {
	switch f.Type {
	case reflect.TypeFor[bool](), reflect.TypeFor[*bool]():
		return "true or false"
	case reflect.TypeFor[map[string]string]():
		return "key=value pairs separated by commas"
	case reflect.TypeFor[*[]string]():
		return "names separated by commas; empty: none"
	}
	return ""
}

// set writes v, the flat key's string, into the field of c, allocating the
// structs on the way.
func (f FlatField) set(c *PrometheusMTLS, v string) error {
	field := reflect.ValueOf(c).Elem()
	for _, i := range f.index {
		if field.Kind() == reflect.Pointer {
			if field.IsNil() {
				field.Set(reflect.New(field.Type().Elem()))
			}
			field = field.Elem()
		}
		field = field.Field(i)
	}
	switch f.Type {
	case reflect.TypeFor[bool](), reflect.TypeFor[*bool]():
		b, err := parseBool(v)
		if err != nil {
			return err
		}
		if f.Type.Kind() == reflect.Pointer {
			field.Set(reflect.ValueOf(&b))
		} else {
			field.SetBool(b)
		}
	case reflect.TypeFor[map[string]string]():
		m, err := parseLabels(v)
		if err != nil {
			return err
		}
		field.Set(reflect.ValueOf(m))
	case reflect.TypeFor[*[]string]():
		names := []string{}
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
		field.Set(reflect.ValueOf(&names))
	default:
		if f.Type.Kind() != reflect.String {
			return fmt.Errorf("%s has no flat form", f.Path)
		}
		field.SetString(v)
	}
	return nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("must be true or false, got %q", v)
}

func parseLabels(v string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range strings.Split(v, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, val, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("must be a list of key=value pairs separated by commas, got %q", v)
		}
		m[strings.TrimSpace(k)] = strings.TrimSpace(val)
	}
	return m, nil
}

func fromConfigMap(node *kyaml.RNode) (*PrometheusMTLS, error) {
	c := &PrometheusMTLS{APIVersion: APIVersion, Kind: Kind}
	data, err := node.Pipe(kyaml.Lookup("data"))
	if err != nil || data == nil {
		return c, nil
	}
	if data.YNode().Kind != kyaml.MappingNode {
		return nil, fieldErr("data", "must be a mapping of strings")
	}
	content := data.YNode().Content
	keys := make([]string, 0, len(content)/2)
	values := map[string]string{}
	for i := 0; i+1 < len(content); i += 2 {
		k, v := content[i].Value, content[i+1]
		if v.Kind != kyaml.ScalarNode {
			return nil, fieldErr("data."+k, "must be a string")
		}
		keys = append(keys, k)
		values[k] = v.Value
	}
	sort.Strings(keys)
	fields := FlatFields()
	for _, k := range keys {
		i := slices.IndexFunc(fields, func(f FlatField) bool { return f.Key == k })
		if i < 0 {
			return nil, fieldErr("data."+k, "unknown key (known: %s)", strings.Join(FlatKeys(), ", "))
		}
		if err := fields[i].set(c, values[k]); err != nil {
			return nil, fieldErr("data."+k, "%v", err)
		}
	}
	// A scrape-config-* key alone names a ConfigMap, as a resource's
	// scrapeConfig does only with kind set.
	if r := c.Spec.ScrapeConfig; r != nil && r.Kind == "" {
		r.Kind = "ConfigMap"
	}
	return c, nil
}
