// Package profiles builds the cert-only istio-proxy sidecar for an Istio version.
// Versions are data: each Profile in the table below says what Istio's own injection
// template of that version renders for the istio-proxy container (args, env, probes,
// volumes), minus everything that exists for traffic capture. Reference renderings
// live in ../shared/anchors.
package profiles

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// ContainerName is the sidecar's container name, as Istio names it.
const ContainerName = "istio-proxy"

// Profile is one row of the version table.
type Profile struct {
	// Name is the first version the profile covers; MinMinor..MaxMinor the range.
	Name               string
	MinMinor, MaxMinor int
	// Notes is shown in --help.
	Notes string
	// Args are the pilot-agent arguments; {placeholders} are filled in by Build.
	Args []string
	// Env is the environment; values may hold {placeholders}.
	Env []corev1.EnvVar
	// OutputCertsDir is where the agent writes the certificates (OUTPUT_CERTS).
	OutputCertsDir string
	// DiscoveryAddress is the default istiod address, with {istiod} and {ns}.
	DiscoveryAddress string
	// Readiness is the readiness probe (port is replaced by 15020 without Envoy).
	Readiness corev1.Probe
	// Startup, when set, is the startup probe.
	Startup *corev1.Probe
	// Volumes the sidecar mounts, by name (see volumeTable).
	Volumes []string
	// NoEnvoy tells whether pilot-agent of this version keeps the certificates
	// without Envoy (DISABLE_ENVOY): see AgentOnlySince.
	NoEnvoy bool
	// NativeDrain: as a native sidecar, istio-proxy gets the injector's preStop hook
	// that drains Envoy (pilot-agent request --debug-port=15020 POST drain).
	NativeDrain bool
}

// Placeholders filled by Build.
const (
	phCAAddr       = "{caAddr}"
	phProxyConfig  = "{proxyConfig}"
	phClusterID    = "{clusterID}"
	phMeshID       = "{meshID}"
	phTrustDomain  = "{trustDomain}"
	phOutputCerts  = "{outputCerts}"
	phWorkloadName = "{workloadName}"
	phOwner        = "{owner}"
	phDiscovery    = "{discoveryAddress}"
)

func fieldEnv(name, path string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
}

func resourceEnv(name, res, divisor string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{
		Resource: res, Divisor: resource.MustParse(divisor)}}}
}

func env(name, value string) corev1.EnvVar { return corev1.EnvVar{Name: name, Value: value} }

// podEnv is what every profile reads from the downward API.
var podEnv = []corev1.EnvVar{
	fieldEnv("POD_NAME", "metadata.name"),
	fieldEnv("POD_NAMESPACE", "metadata.namespace"),
	fieldEnv("INSTANCE_IP", "status.podIP"),
	fieldEnv("SERVICE_ACCOUNT", "spec.serviceAccountName"),
	fieldEnv("HOST_IP", "status.hostIP"),
}

func concat(parts ...[]corev1.EnvVar) []corev1.EnvVar {
	var out []corev1.EnvVar
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// readyProbe is the injector's probe of the proxy's /healthz/ready, in seconds
// and attempts as corev1.Probe counts them.
type readyProbe struct {
	Port                                   int32
	InitialDelay, Period, Timeout, Failure int32
}

func (r readyProbe) probe() corev1.Probe {
	return corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: "/healthz/ready", Port: intstr.FromInt32(r.Port)}},
		InitialDelaySeconds: r.InitialDelay, PeriodSeconds: r.Period, TimeoutSeconds: r.Timeout, FailureThreshold: r.Failure,
	}
}

// Arguments shared by the profiles after 1.5 (the flag-based layout ended with 1.5).
var modernArgs = []string{
	"proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local",
	"--proxyLogLevel=warning", "--proxyComponentLogLevel=misc:error", "--log_output_level=default:info",
}

// Environment shared by the profiles after 1.5, in the injector's order:
// identity, [ISTIO_CPU_LIMIT], PROXY_CONFIG, [Go runtime], cluster, then metadata.
func modernEnv(jwt bool, cpu, goRuntime, tail []corev1.EnvVar) []corev1.EnvVar {
	var head []corev1.EnvVar
	if jwt {
		head = append(head, env("JWT_POLICY", "third-party-jwt"))
	}
	head = append(head, env("PILOT_CERT_PROVIDER", "istiod"), env("CA_ADDR", phCAAddr))
	return concat(head, podEnv, cpu,
		[]corev1.EnvVar{env("PROXY_CONFIG", phProxyConfig)},
		goRuntime,
		[]corev1.EnvVar{env("ISTIO_META_CLUSTER_ID", phClusterID)},
		tail,
	)
}

var metaTail = []corev1.EnvVar{
	env("ISTIO_META_WORKLOAD_NAME", phWorkloadName),
	env("ISTIO_META_OWNER", phOwner),
	env("ISTIO_META_MESH_ID", phMeshID),
	env("TRUST_DOMAIN", phTrustDomain),
	env("OUTPUT_CERTS", phOutputCerts),
}

var goRuntimeEnv = func(divisor string) []corev1.EnvVar {
	return []corev1.EnvVar{
		resourceEnv("GOMEMLIMIT", "limits.memory", divisor),
		resourceEnv("GOMAXPROCS", "limits.cpu", divisor),
	}
}

var (
	socketVolumes = []string{"workload-socket", "credential-socket", "workload-certs"}
	baseVolumes   = []string{"istiod-ca-cert", "istio-data", "istio-envoy", "istio-token", "istio-podinfo"}
	crlVolumes    = append(append(append([]string{}, socketVolumes...), "istiod-ca-cert", "istio-ca-crl"), baseVolumes[1:]...)
	nodeMetaTail  = concat([]corev1.EnvVar{fieldEnv("ISTIO_META_NODE_NAME", "spec.nodeName")}, metaTail)
)

// Table is the profile table, oldest first. Boundaries follow Istio's injection
// template history (manifests/charts/istio-control/istio-discovery/files/
// injection-template.yaml) and the kube-inject renderings in shared/anchors.
var Table = []Profile{
	{
		Name: "1.5", MinMinor: 5, MaxMinor: 5,
		Notes: "the seed's flag-based layout (pilot-agent flags were removed in 1.6), with its bugs fixed: " +
			"one cert volume name, certificates mounted into Prometheus; readiness on 15020",
		Args: []string{
			"proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local",
			"--configPath", "/etc/istio/proxy", "--binaryPath", "/usr/local/bin/envoy",
			"--serviceCluster", "istio-proxy-prometheus", "--drainDuration", "45s",
			"--parentShutdownDuration", "1m0s", "--discoveryAddress", phDiscovery,
			"--proxyLogLevel=warning", "--proxyComponentLogLevel=misc:error",
			"--connectTimeout", "10s", "--proxyAdminPort", "15000", "--controlPlaneAuthPolicy", "NONE",
			"--dnsRefreshRate", "300s", "--statusPort", "15020", "--trust-domain=" + phTrustDomain,
			"--controlPlaneBootstrap=false",
		},
		Env: concat(
			[]corev1.EnvVar{
				env("OUTPUT_CERTS", phOutputCerts),
				env("JWT_POLICY", "third-party-jwt"),
				env("PILOT_CERT_PROVIDER", "istiod"),
				env("CA_ADDR", phCAAddr),
			},
			podEnv,
			[]corev1.EnvVar{
				fieldEnv("ISTIO_META_POD_NAME", "metadata.name"),
				fieldEnv("ISTIO_META_CONFIG_NAMESPACE", "metadata.namespace"),
				env("ISTIO_META_MESH_ID", phMeshID),
				env("ISTIO_META_CLUSTER_ID", phClusterID),
			},
		),
		OutputCertsDir:   "/etc/istio-certs",
		DiscoveryAddress: "istio-pilot.{ns}.svc:15012",
		Readiness:        readyProbe{Port: 15020, InitialDelay: 1, Period: 2, Timeout: 1, Failure: 30}.probe(),
		Volumes:          []string{"istiod-ca-cert", "istio-envoy", "istio-token"},
	},
	{
		Name: "1.6", MinMinor: 6, MaxMinor: 13,
		Notes: "env-based config (PROXY_CONFIG), istiod, readiness on 15021, JWT_POLICY third-party-jwt",
		Args: []string{
			"proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local",
			"--serviceCluster", phWorkloadName + ".$(POD_NAMESPACE)",
			"--proxyLogLevel=warning", "--proxyComponentLogLevel=misc:error", "--log_output_level=default:info",
		},
		Env:              modernEnv(true, nil, nil, metaTail),
		OutputCertsDir:   "/etc/istio-output-certs",
		DiscoveryAddress: "{istiod}.{ns}.svc:15012",
		Readiness:        readyProbe{Port: 15021, InitialDelay: 1, Period: 2, Timeout: 3, Failure: 30}.probe(),
		Volumes:          baseVolumes,
	},
	{
		Name: "1.14", MinMinor: 14, MaxMinor: 21,
		Notes: "adds the workload-socket, credential-socket and workload-certs volumes, ISTIO_META_NODE_NAME and ISTIO_CPU_LIMIT",
		Args:  modernArgs,
		Env: modernEnv(true,
			[]corev1.EnvVar{resourceEnv("ISTIO_CPU_LIMIT", "limits.cpu", "0")}, nil,
			nodeMetaTail),
		OutputCertsDir:   "/etc/istio-output-certs",
		DiscoveryAddress: "{istiod}.{ns}.svc:15012",
		Readiness:        readyProbe{Port: 15021, InitialDelay: 1, Period: 2, Timeout: 3, Failure: 30}.probe(),
		Volumes:          append(append([]string{}, socketVolumes...), baseVolumes...),
		NoEnvoy:          true,
	},
	{
		Name: "1.22", MinMinor: 22, MaxMinor: 27,
		Notes: "drops JWT_POLICY (third-party tokens only), adds GOMEMLIMIT/GOMAXPROCS and a startup probe",
		Args:  modernArgs,
		Env: modernEnv(false,
			[]corev1.EnvVar{resourceEnv("ISTIO_CPU_LIMIT", "limits.cpu", "0")}, goRuntimeEnv("0"),
			nodeMetaTail),
		OutputCertsDir:   "/etc/istio-output-certs",
		DiscoveryAddress: "{istiod}.{ns}.svc:15012",
		Readiness:        readyProbe{Port: 15021, InitialDelay: 0, Period: 15, Timeout: 3, Failure: 4}.probe(),
		Startup:          ptr(readyProbe{Port: 15021, InitialDelay: 0, Period: 1, Timeout: 3, Failure: 600}.probe()),
		Volumes:          append(append([]string{}, socketVolumes...), baseVolumes...),
		NoEnvoy:          true,
	},
	crlLayout("1.28", 28, 28, "0", "adds the istio-ca-crl volume (optional ConfigMap) mounted at /var/run/secrets/istio/crl; "+
		"as a native sidecar, a preStop hook that drains Envoy"),
	// 1.31's injector renders istio-proxy exactly as 1.30's does
	// (shared/anchors/kube-inject-1.31.0-rc.0.yaml against kube-inject-1.30.0.yaml).
	crlLayout("1.29", 29, 31, "1", "resourceFieldRef divisors are \"1\" (istio/istio#58077); 1.30 and 1.31 render the same istio-proxy"),
}

// crlLayout is the layout from 1.28 on (the istio-ca-crl volume, the native
// sidecar's drain hook); divisor is what the injector writes in resourceFieldRef.
func crlLayout(name string, minMinor, maxMinor int, divisor, notes string) Profile {
	return Profile{
		Name: name, MinMinor: minMinor, MaxMinor: maxMinor, Notes: notes,
		Args:             modernArgs,
		Env:              modernEnv(false, []corev1.EnvVar{resourceEnv("ISTIO_CPU_LIMIT", "limits.cpu", divisor)}, goRuntimeEnv(divisor), nodeMetaTail),
		OutputCertsDir:   "/etc/istio-output-certs",
		DiscoveryAddress: "{istiod}.{ns}.svc:15012",
		Readiness:        readyProbe{Port: 15021, InitialDelay: 0, Period: 15, Timeout: 3, Failure: 4}.probe(),
		Startup:          ptr(readyProbe{Port: 15021, InitialDelay: 0, Period: 1, Timeout: 3, Failure: 600}.probe()),
		Volumes:          crlVolumes,
		NoEnvoy:          true,
		NativeDrain:      true,
	}
}

// NativeSidecarsSince is the first minor whose injector makes istio-proxy a native
// sidecar on its own (ENABLE_NATIVE_SIDECARS=auto, when every node runs kubelet 1.33
// or newer: every Kubernetes release still supported upstream).
const NativeSidecarsSince = 27

// AgentOnlySince is the first minor release whose pilot-agent, without Envoy
// (DISABLE_ENVOY=true), does all a cert-only sidecar needs, as Istio's source
// at each release tag shows: it writes the workload certificate and root to
// OUTPUT_CERTS (security/pkg/nodeagent/cache/secretcache.go, on every
// GenerateSecret), rotates them (pkg/istio-agent/agent.go registers a secret
// handler that generates them again on renewal, new in 1.14), and answers
// /healthz/ready with an error until they exist (the gRPC bootstrap it writes
// at GRPC_XDS_BOOTSTRAP's default path since 1.12 names the three files,
// which pilot/cmd/pilot-agent/status/grpcready checks). The profiles from
// this release on have NoEnvoy.
const AgentOnlySince = 14

// HoldSince is the first minor whose pilot-agent has the `wait` command
// (pilot/cmd/pilot-agent/wait.go, with --url and --timeoutSeconds, new in 1.7)
// that Istio's injector runs as istio-proxy's postStart hook for
// holdApplicationUntilProxyStarts.
const HoldSince = 7

// HoldTimeoutSeconds is how long the classic form's postStart hook waits for
// the certificates: the native form's startup probe budget (600 × 1 s). The
// kubelet gives exec hooks no deadline of its own.
const HoldTimeoutSeconds = 600

// Newest is the profile of the newest Istio the table knows.
func Newest() Profile { return Table[len(Table)-1] }

func ptr[T any](v T) *T { return &v }

// volumeDef is one sidecar volume and where istio-proxy mounts it. source returns
// a new value on each call, so no two pods share one.
type volumeDef struct {
	mountPath string
	source    func() corev1.VolumeSource
}

func memoryDir() corev1.VolumeSource {
	return corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}
}

func emptyDir() corev1.VolumeSource {
	return corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
}

func configMap(name string, optional bool) func() corev1.VolumeSource {
	return func() corev1.VolumeSource {
		cm := &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}
		if optional {
			cm.Optional = ptr(true)
		}
		return corev1.VolumeSource{ConfigMap: cm}
	}
}

var volumeTable = map[string]volumeDef{
	"workload-socket":   {"/var/run/secrets/workload-spiffe-uds", emptyDir},
	"credential-socket": {"/var/run/secrets/credential-uds", emptyDir},
	"workload-certs":    {"/var/run/secrets/workload-spiffe-credentials", emptyDir},
	"istiod-ca-cert":    {"/var/run/secrets/istio", configMap("istio-ca-root-cert", false)},
	"istio-ca-crl":      {"/var/run/secrets/istio/crl", configMap("istio-ca-crl", true)},
	"istio-data":        {"/var/lib/istio/data", emptyDir},
	"istio-envoy":       {"/etc/istio/proxy", memoryDir},
	"istio-token": {"/var/run/secrets/tokens", func() corev1.VolumeSource {
		return corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{
			ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: "istio-ca", ExpirationSeconds: ptr(int64(43200)), Path: "istio-token"}}}}}
	}},
	"istio-podinfo": {"/etc/istio/pod", func() corev1.VolumeSource {
		return corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
			{Path: "annotations", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations"}},
		}}}
	}},
}

// Supported lists the version ranges of the table, for messages.
func Supported() string {
	var parts []string
	for _, p := range Table {
		if p.MinMinor == p.MaxMinor {
			parts = append(parts, fmt.Sprintf("1.%d", p.MinMinor))
		} else {
			parts = append(parts, fmt.Sprintf("1.%d–1.%d", p.MinMinor, p.MaxMinor))
		}
	}
	return strings.Join(parts, ", ")
}

// lookup returns the profile for the minor version of Istio 1.minor.
func lookup(minor int) (Profile, bool) {
	for _, p := range Table {
		if minor >= p.MinMinor && minor <= p.MaxMinor {
			return p, true
		}
	}
	return Profile{}, false
}

// Resolve is Lookup for any release: a minor newer than the table gets the newest
// profile (newer is then true); one older than the table has none.
func Resolve(minor int) (p Profile, newer, ok bool) {
	if n := Newest(); minor > n.MaxMinor {
		return n, true, true
	}
	p, ok = lookup(minor)
	return p, false, ok
}

// Params are what Build needs from the function config and the workload.
type Params struct {
	Image            string
	PullPolicy       corev1.PullPolicy
	Namespace        string // control plane namespace
	Revision         string
	DiscoveryAddress string // empty: derived from the profile
	TrustDomain      string
	MeshID           string
	ClusterID        string
	Network          string
	Envoy            bool
	Native           bool
	// Hold (classic form only): istio-proxy gets Istio's postStart hook,
	// `pilot-agent wait` on its own startup probe's URL, so that the kubelet,
	// which starts a pod's containers in order and each after the previous
	// one's postStart hook returns, starts the containers after it only once
	// the certificates are written (istio-proxy must then come first).
	Hold       bool
	Resources  corev1.ResourceRequirements
	CertVolume string
	// Owner is the workload whose pods run the sidecar.
	Owner Owner
}

// Owner names a workload, for ISTIO_META_WORKLOAD_NAME and ISTIO_META_OWNER.
type Owner struct {
	APIVersion, Kind, Name string
}

// Sidecar is what Build produces: the container and the volumes it needs (the
// certificate volume last).
type Sidecar struct {
	Container corev1.Container
	Volumes   []corev1.Volume
	// OutputCertsDir is where istio-proxy mounts the certificate volume.
	OutputCertsDir string
}

// Build renders the sidecar of profile p.
func (p Profile) Build(in Params) (Sidecar, error) {
	if !in.Envoy && !p.NoEnvoy {
		return Sidecar{}, fmt.Errorf("envoy: false needs an Istio version whose pilot-agent runs without Envoy (DISABLE_ENVOY); profile %s (1.%d–1.%d) does not", p.Name, p.MinMinor, p.MaxMinor)
	}
	istiod := "istiod"
	if in.Revision != "" {
		istiod += "-" + in.Revision
	}
	discovery := in.DiscoveryAddress
	if discovery == "" {
		discovery = strings.NewReplacer("{istiod}", istiod, "{ns}", in.Namespace).Replace(p.DiscoveryAddress)
	}
	proxyConfig, err := json.Marshal(map[string]any{
		"discoveryAddress": discovery,
		"proxyMetadata":    map[string]string{"OUTPUT_CERTS": p.OutputCertsDir},
	})
	if err != nil {
		return Sidecar{}, err
	}
	owner := fmt.Sprintf("kubernetes://apis/%s/namespaces/$(POD_NAMESPACE)/%ss/%s",
		in.Owner.APIVersion, strings.ToLower(in.Owner.Kind), in.Owner.Name)
	fill := strings.NewReplacer(
		phCAAddr, discovery, phDiscovery, discovery, phProxyConfig, string(proxyConfig),
		phClusterID, in.ClusterID, phMeshID, in.MeshID, phTrustDomain, in.TrustDomain,
		phOutputCerts, p.OutputCertsDir, phWorkloadName, in.Owner.Name, phOwner, owner,
	)

	c := corev1.Container{
		Name:            ContainerName,
		Image:           in.Image,
		ImagePullPolicy: in.PullPolicy,
		Resources:       in.Resources,
		SecurityContext: securityContext(),
	}
	for _, a := range p.Args {
		c.Args = append(c.Args, fill.Replace(a))
	}
	for _, e := range p.Env {
		e.Value = fill.Replace(e.Value)
		c.Env = append(c.Env, e)
	}
	if in.Network != "" {
		c.Env = append(c.Env, env("ISTIO_META_NETWORK", in.Network))
	}
	p.probesAndHooks(&c, in)

	var vols []corev1.Volume
	for _, name := range p.Volumes {
		def := volumeTable[name]
		vols = append(vols, corev1.Volume{Name: name, VolumeSource: def.source()})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: def.mountPath})
	}
	vols = append(vols, corev1.Volume{Name: in.CertVolume, VolumeSource: memoryDir()})
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: in.CertVolume, MountPath: p.OutputCertsDir})
	return Sidecar{Container: c, Volumes: vols, OutputCertsDir: p.OutputCertsDir}, nil
}

// probesAndHooks gives c the profile's probes (on the agent's 15020 without
// Envoy), the native form's restart policy and drain hook, and the classic
// form's hold.
func (p Profile) probesAndHooks(c *corev1.Container, in Params) {
	readiness := p.Readiness
	if in.Envoy {
		c.Ports = []corev1.ContainerPort{{Name: "http-envoy-prom", ContainerPort: 15090, Protocol: corev1.ProtocolTCP}}
		if p.Startup != nil {
			c.StartupProbe = ptr(*p.Startup)
		}
	} else {
		c.Env = append(c.Env, env("DISABLE_ENVOY", "true"))
		readiness.HTTPGet = &corev1.HTTPGetAction{Path: readiness.HTTPGet.Path, Port: intstr.FromInt32(15020)}
		if p.Startup != nil {
			s := *p.Startup
			s.HTTPGet = readiness.HTTPGet
			c.StartupProbe = &s
		}
	}
	c.ReadinessProbe = &readiness
	if in.Hold && !in.Native {
		gate := c.StartupProbe
		if gate == nil {
			gate = c.ReadinessProbe
		}
		c.Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{
			"pilot-agent", "wait", fmt.Sprintf("--url=http://localhost:%d%s", gate.HTTPGet.Port.IntValue(), gate.HTTPGet.Path),
			fmt.Sprintf("--timeoutSeconds=%d", HoldTimeoutSeconds)}}}}
	}
	if in.Native {
		c.RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
		if p.NativeDrain && in.Envoy {
			c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{
				Command: []string{"pilot-agent", "request", "--debug-port=15020", "POST", "drain"}}}}
		}
	}
}

func securityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		Privileged:               ptr(false),
		ReadOnlyRootFilesystem:   ptr(true),
		RunAsGroup:               ptr(int64(1337)),
		RunAsNonRoot:             ptr(true),
		RunAsUser:                ptr(int64(1337)),
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// IsCertAgent tells whether c is an istio-proxy as Build makes it, of any profile:
// pilot-agent run as a sidecar (args "proxy sidecar") that writes the workload
// certificates to a directory (OUTPUT_CERTS). An ownership record naming a
// container is believed only where the container is one.
func IsCertAgent(c corev1.Container) bool {
	if len(c.Args) < 2 || c.Args[0] != "proxy" || c.Args[1] != "sidecar" {
		return false
	}
	return slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "OUTPUT_CERTS" && e.Value != "" })
}

// IsTableVolume tells whether v is one of the volumes Build writes for the
// agent, of its name and source (the certificate volume aside: IsCertVolume).
func IsTableVolume(v corev1.Volume) bool {
	def, ok := volumeTable[v.Name]
	return ok && reflect.DeepEqual(v.VolumeSource, def.source())
}

// IsCertVolume tells whether v is of the certificate volume's kind: an emptyDir
// in memory.
func IsCertVolume(v corev1.Volume) bool {
	return v.EmptyDir != nil && v.EmptyDir.Medium == corev1.StorageMediumMemory && v.EmptyDir.SizeLimit == nil
}
