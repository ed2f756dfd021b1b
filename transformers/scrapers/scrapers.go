// Package scrapers is the table of the scrapers the function knows, as
// package profiles is the table of Istio versions: for each, how its container
// is recognised, which flag names its config file, what the top level of that
// file may hold, where its scrape jobs sit, how a literal `$` is written in
// what the function adds, and what an operator makes of its resources (the
// workload's name and kind, its service account, where its jobs go). Selection, the
// layout guard and the scrape-config edit read their row; nothing else is
// written per scraper.
package scrapers

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Scraper is one row of the table.
type Scraper struct {
	// Name names the scraper in messages.
	Name string
	// Called is how a sentence names it, its article included (the comments
	// over the TLS settings the function writes).
	Called string
	// Qualifier names the scraper before "container" in the notes ("vmagent
	// container \"vmagent\""); empty for Prometheus, the scraper a reader
	// assumes.
	Qualifier string
	// Images are the image names (the reference's last path element, without
	// tag or digest) that run it; a name with a slash is the repository's last
	// elements ("grafana/agent", where "agent" alone names other programs).
	Images []string
	// Helpers are substrings of image names of containers that pass the
	// config flag but are not this scraper (exporters, reloaders, …).
	Helpers []string
	// ConfigFlag is the flag naming the config file, without dashes: it is
	// accepted with one or two, as name=value or name value (a "file:" URI
	// names a file too).
	ConfigFlag string
	// ConfigCommand, when set, is the subcommand whose argument names the
	// config file (Alloy's `run PATH`), instead of a flag: its first argument
	// that is neither a flag nor a flag's value.
	ConfigCommand string
	// BoolFlags are the config command's flags that take no value; any other
	// flag written without "=" takes the next argument as its value (pflag's
	// "--flag value").
	BoolFlags []string
	// Syntax is the config file's language: "" for Prometheus-style YAML
	// scrape configs, "alloy" for Grafana Alloy's (package alloyconfig).
	Syntax string
	// ByImageOnly: the flag is too common a name to recognise the scraper by
	// (the collector's --config); only its images do.
	ByImageOnly bool
	// WorkingDir is the image's working directory, against which a relative
	// config path is resolved when the container sets none.
	WorkingDir string
	// DefaultKeys are the ConfigMap or Secret keys looked for in the mounted
	// volumes when no flag names the file; none when the scraper reads no
	// scrape config without its flag.
	DefaultKeys []string
	// TopLevel are the keys the config file's top level may hold; a file with
	// others is some other program's, and nothing is written into it.
	TopLevel []string
	// Receivers: the scrape jobs sit in a prometheus receiver of the file
	// (receivers.prometheus[/NAME].config.scrape_configs), not at its top level.
	Receivers bool
	// Dollar is how a literal `$` (a relabel replacement's `$1`) is written in
	// the jobs the function adds: "$", or "$$" where the file expands `$`.
	Dollar string
	// Resources are the custom resources an operator makes this scraper's
	// pods of.
	Resources []Resource
}

// Resource is a custom resource an operator turns into a scraper's pods: the
// fields of the resource the operator copies into them, and where the
// function's scrape job goes. Paths are field paths in the resource.
type Resource struct {
	// Operator names the operator in sentences.
	Operator string
	// Group is the API group; Kinds the kinds of it that run this scraper.
	Group string
	Kinds []string
	// Container is the scraper's container in the operator's pods.
	Container string
	// PodMetadata holds the pods' labels and annotations (an embedded object
	// metadata); when unset, Labels and Annotations say where they are.
	PodMetadata []string
	Labels      []string
	Annotations []string
	// Renamed are the pod spec fields that sit in the resource's spec under
	// another name (the rest of spec.containers, initContainers, volumes and
	// the scraper container's volumeMounts share the pod spec's names); only
	// for a resource without PodMetadata.
	Renamed map[string]string
	// ServiceAccount is the field naming the pods' service account.
	ServiceAccount []string
	// ScrapeClasses: the resource has spec.scrapeClasses with a tlsConfig,
	// which the function's job and the user's monitors use.
	ScrapeClasses bool
	// MonitorFiles: the monitors' own tlsConfig can name certificate files
	// (VictoriaMetrics'); prometheus-operator's cannot, and only a scrape class
	// gives them Istio's.
	MonitorFiles bool
	// Jobs is the field of a bare list of scrape jobs that is the resource's
	// own (VMAgent's spec.inlineScrapeConfig), used when no additional scrape
	// configs Secret of the list is referenced.
	Jobs []string
	// Config is the field holding the scraper's whole config (the
	// OpenTelemetryCollector's spec.config), where the job goes.
	Config []string
	// ConfigMapName and ConfigMapKey, when the resource's config is a key of a
	// ConfigMap (the Alloy resource's): the fields naming the ConfigMap (unset
	// or empty: the resource's own name) and the key (the row's DefaultKeys).
	// Config, when also set, holds the config inline and is used when not empty.
	ConfigMapName, ConfigMapKey []string
	// Additional is the Secret key selector of additional scrape jobs.
	Additional []string
	// Workloads says, per kind, the workload the operator makes of a
	// resource: its name and its kind.
	Workloads map[string]Workload
	// OwnServiceAccount: when the resource names no service account, the
	// operator creates one of the workload's name (otherwise the pods run
	// as the namespace's default).
	OwnServiceAccount bool
	// Endpoints is the field of the resource's own scrape endpoints with a
	// tlsConfig (VMAgent's spec.serviceScrapeSpec.endpoints), if it has one.
	Endpoints []string
	// Mounted are the directories the operator mounts into the scraper
	// container besides spec.volumeMounts: a file of a monitor's tlsConfig there
	// is written by something.
	Mounted []string
	// NoToken is the field that, set to false, keeps Kubernetes from mounting
	// the service account token directory (serviceaccount.TokenDir) into the
	// pod's containers; unset, the operator mounts it whatever the resource says.
	NoToken []string
}

// TokenDir is where Kubernetes mounts a pod's service account token, CA
// (ca.crt) and namespace into every container, unless automounting is off.
const TokenDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// Workload is how an operator names and makes the workload of a resource:
// Prefix + the resource's name + Suffix (the name alone when the field
// Legacy is "true"), of the kind of the first rule that matches.
type Workload struct {
	Prefix, Suffix string
	Legacy         []string
	Kinds          []KindRule
	// Refusal is the error when no rule matches, with %q for the value of
	// the last rule's field.
	Refusal string
}

// KindRule: the workload is of Kind when the resource's Field holds one of
// Values (a rule without Field always matches).
type KindRule struct {
	Field  []string
	Values []string
	Kind   string
}

// Table is the scraper table.
var Table = []Scraper{
	{
		Name:   "Prometheus",
		Called: "Prometheus",
		Images: []string{"prometheus"},
		// Images that pass --config.file but are not Prometheus servers.
		Helpers:     []string{"alertmanager", "exporter", "reloader", "configmap-reload", "pushgateway", "blackbox", "thanos", "agent", "operator"},
		ConfigFlag:  "config.file",
		WorkingDir:  "/prometheus", // the WORKDIR of the Prometheus images
		DefaultKeys: []string{"prometheus.yml", "prometheus.yaml"},
		// prometheus/config.Config: Prometheus refuses any other key.
		TopLevel: []string{"global", "runtime", "alerting", "rule_files", "scrape_config_files", "scrape_configs",
			"storage", "tracing", "remote_write", "remote_read", "otlp"},
		Dollar: "$",
		// prometheus-operator: its StatefulSet's container "prometheus" gets
		// spec.volumeMounts; spec.containers are merged by name.
		Resources: []Resource{{
			Operator: "prometheus-operator", Group: "monitoring.coreos.com", Kinds: []string{"Prometheus", "PrometheusAgent"}, Container: "prometheus",
			PodMetadata: []string{"spec", "podMetadata"}, ServiceAccount: []string{"spec", "serviceAccountName"},
			ScrapeClasses: true, Additional: []string{"spec", "additionalScrapeConfigs"},
			// The operator mounts the Secrets and ConfigMaps a monitor's tlsConfig
			// references under /etc/prometheus/certs; spec.automountServiceAccountToken:
			// false leaves the token out.
			Mounted: []string{"/etc/prometheus/"}, NoToken: []string{"spec", "automountServiceAccountToken"},
			// pkg/prometheus: prefixedName, StatefulSets only.
			Workloads: map[string]Workload{
				"Prometheus":      {Prefix: "prometheus-", Kinds: []KindRule{{Kind: "StatefulSet"}}},
				"PrometheusAgent": {Prefix: "prom-agent-", Kinds: []KindRule{{Kind: "StatefulSet"}}},
			},
		}},
	},
	{
		// VictoriaMetrics' vmagent (app/vmagent): -promscrape.config names a
		// Prometheus-style scrape config, parsed strictly. Its placeholders are
		// %{ENV}, so `$1` is written as it is.
		Name:       "vmagent",
		Called:     "vmagent",
		Qualifier:  "vmagent",
		Images:     []string{"vmagent"},
		Helpers:    []string{"operator", "reloader"},
		ConfigFlag: "promscrape.config",
		WorkingDir: "/", // the vmagent images set none
		// Without -promscrape.config vmagent scrapes nothing: no default keys.
		// lib/promscrape's Config at v1.151.0.
		TopLevel: []string{"global", "scrape_configs", "scrape_config_files"},
		Dollar:   "$",
		// VictoriaMetrics' operator (api/operator/v1beta1 at v0.74.1): a
		// Deployment, StatefulSet (statefulMode) or DaemonSet (daemonSetMode)
		// whose container "vmagent" gets spec.volumeMounts; spec.containers
		// and initContainers are merged by name; its config is generated, and
		// appends the additionalScrapeConfigs Secret's jobs and
		// inlineScrapeConfig's.
		Resources: []Resource{{
			Operator: "the VictoriaMetrics operator", Group: "operator.victoriametrics.com", Kinds: []string{"VMAgent"}, Container: "vmagent",
			PodMetadata: []string{"spec", "podMetadata"}, ServiceAccount: []string{"spec", "serviceAccountName"},
			ScrapeClasses: true, MonitorFiles: true, Additional: []string{"spec", "additionalScrapeConfigs"}, Jobs: []string{"spec", "inlineScrapeConfig"},
			Endpoints: []string{"spec", "serviceScrapeSpec", "endpoints"},
			// The operator's own files are under /etc/vm/; it mounts the token
			// into vmagent even with disableAutomountServiceAccountToken (vmagent
			// needs the API), so there is no NoToken field.
			Mounted: []string{"/etc/vm/"},
			// VMAgent.PrefixedName and the mode fields, at v0.74.1.
			Workloads: map[string]Workload{"VMAgent": {Prefix: "vmagent-", Legacy: []string{"spec", "useLegacyNaming"}, Kinds: []KindRule{
				{Field: []string{"spec", "daemonSetMode"}, Values: []string{"true"}, Kind: "DaemonSet"},
				{Field: []string{"spec", "statefulMode"}, Values: []string{"true"}, Kind: "StatefulSet"},
				{Kind: "Deployment"},
			}}},
			OwnServiceAccount: true,
		}},
	},
	{
		// The OpenTelemetry Collector with the contrib prometheus receiver: its
		// confmap expands ${VAR} and ${env:VAR} and reads $$ as $, so every $ of
		// what the function adds is written $$ (the receiver's README says so).
		Name:      "OpenTelemetry Collector",
		Called:    "the OpenTelemetry Collector",
		Qualifier: "OpenTelemetry Collector",
		Images: []string{"opentelemetry-collector", "opentelemetry-collector-contrib", "opentelemetry-collector-k8s",
			"otelcol", "otelcol-contrib", "otelcol-k8s"},
		ConfigFlag:  "config",
		ByImageOnly: true,
		WorkingDir:  "/",
		// Without --config the collector images read their own baked-in file.
		TopLevel:  []string{"receivers", "processors", "exporters", "connectors", "extensions", "service"},
		Receivers: true,
		Dollar:    "$$",
		// The OpenTelemetry operator (apis/v1beta1 at v0.158.0): its container
		// "otc-container" gets spec.volumeMounts; the pods carry the resource's
		// own labels and spec.podAnnotations; other containers are
		// spec.additionalContainers; the config is spec.config.
		Resources: []Resource{{
			Operator: "the OpenTelemetry Operator", Group: "opentelemetry.io", Kinds: []string{"OpenTelemetryCollector"}, Container: "otc-container",
			Labels: []string{"metadata", "labels"}, Annotations: []string{"spec", "podAnnotations"},
			Renamed:        map[string]string{"containers": "additionalContainers"},
			ServiceAccount: []string{"spec", "serviceAccount"}, Config: []string{"spec", "config"},
			// naming.Collector and spec.mode, at v0.158.0.
			Workloads: map[string]Workload{"OpenTelemetryCollector": {Suffix: "-collector", Kinds: []KindRule{
				{Field: []string{"spec", "mode"}, Values: []string{"", "deployment"}, Kind: "Deployment"},
				{Field: []string{"spec", "mode"}, Values: []string{"daemonset"}, Kind: "DaemonSet"},
				{Field: []string{"spec", "mode"}, Values: []string{"statefulset"}, Kind: "StatefulSet"},
			}, Refusal: "%q: the operator injects this collector into other pods (or the mode is unknown), so there is no collector pod of its own to give the certificates to; use mode deployment, daemonset or statefulset for the scraping collector"}},
			OwnServiceAccount: true,
		}},
	},
	{
		// Grafana Alloy (github.com/grafana/alloy): `alloy run PATH`, the
		// grafana/alloy chart's shape (ConfigMap key config.alloy at
		// /etc/alloy, container "alloy"). Its configuration language is not
		// YAML: package alloyconfig edits it with Grafana's own parser.
		Name:      "Alloy",
		Called:    "Grafana Alloy",
		Qualifier: "Alloy",
		// Grafana Agent in flow mode (its chart's default; end of life in 2025):
		// the same command, chart layout and language (River, which Alloy's
		// syntax continues), key config.river. Its static mode (-config.file,
		// no run) is another program: not recognised.
		Images: []string{"alloy", "grafana/agent"},
		// The chart's config reloader watches the same directory.
		Helpers:       []string{"reloader"},
		ConfigCommand: "run",
		// alloy run's boolean flags at v1.18.1 (internal/alloycli/cmd_run.go).
		BoolFlags: []string{"server.http.enable-pprof", "server.http.disable-support-bundle",
			"server.http.enable-graphql", "server.http.enable-graphql-playground", "cluster.enabled",
			"cluster.enable-tls", "config.bypass-conversion-errors", "disable-reporting",
			"feature.community-components.enabled", "feature.prometheus.direct-fanout.enabled"},
		ByImageOnly: true,
		WorkingDir:  "/",
		DefaultKeys: []string{"config.alloy", "config.river"},
		Syntax:      "alloy",
		Dollar:      "$",
		// Grafana's alloy-operator (used by the k8s-monitoring chart from v2):
		// an Alloy resource (collectors.grafana.com/v1alpha1) holds the values
		// of the grafana/alloy chart, which the operator installs as a release
		// of the resource's name: the pods' labels and annotations, init and
		// extra containers and volumes under spec.controller, the alloy
		// container's mounts under spec.alloy.mounts.extra, the config in a
		// ConfigMap of the resource's name (or inline in spec.alloy.configMap).
		Resources: []Resource{{
			Operator: "Grafana's alloy-operator", Group: "collectors.grafana.com", Kinds: []string{"Alloy"}, Container: "alloy",
			Labels: []string{"spec", "controller", "podLabels"}, Annotations: []string{"spec", "controller", "podAnnotations"},
			Renamed: map[string]string{"initContainers": "controller.initContainers", "containers": "controller.extraContainers",
				"volumes": "controller.volumes.extra", "volumeMounts": "alloy.mounts.extra"},
			ServiceAccount: []string{"spec", "serviceAccount", "name"},
			Config:         []string{"spec", "alloy", "configMap", "content"},
			ConfigMapName:  []string{"spec", "alloy", "configMap", "name"}, ConfigMapKey: []string{"spec", "alloy", "configMap", "key"},
			Workloads: map[string]Workload{"Alloy": {Kinds: []KindRule{
				{Field: []string{"spec", "controller", "type"}, Values: []string{"", "daemonset"}, Kind: "DaemonSet"},
				{Field: []string{"spec", "controller", "type"}, Values: []string{"deployment"}, Kind: "Deployment"},
				{Field: []string{"spec", "controller", "type"}, Values: []string{"statefulset"}, Kind: "StatefulSet"},
			}, Refusal: "%q: not a controller type of the grafana/alloy chart (daemonset, deployment, statefulset)"}},
			OwnServiceAccount: true,
		}},
	},
}

// Into names container, the one the certificates go into, in notes: with
// the scraper's qualifier when it has one.
func (s Scraper) Into(container string) string {
	if s.Qualifier == "" {
		return fmt.Sprintf("container %q", container)
	}
	return fmt.Sprintf("%s container %q", s.Qualifier, container)
}

// ResourceOf is the row and resource of kind in API group group.
func ResourceOf(group, kind string) (Scraper, Resource, bool) {
	for _, s := range Table {
		for _, r := range s.Resources {
			if r.Group == group && slices.Contains(r.Kinds, kind) {
				return s, r, true
			}
		}
	}
	return Scraper{}, Resource{}, false
}

// Prometheus is the table's Prometheus row.
func Prometheus() Scraper { return Table[0] }

// ImageName is the last path element of an image reference, without tag or
// digest.
func ImageName(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndex(image, "/"); i >= 0 {
		image = image[i+1:]
	}
	if i := strings.Index(image, ":"); i >= 0 {
		image = image[:i]
	}
	return image
}

// Runs tells whether container c runs s: one of its images (with its config
// command, for a scraper named by one), or (not a helper's image) its config
// flag.
func (s Scraper) Runs(c corev1.Container) bool {
	if s.Image(c.Image) {
		if s.ConfigCommand != "" {
			_, ok := s.ConfigFile(c)
			return ok
		}
		return true
	}
	if s.ByImageOnly {
		return false
	}
	name := ImageName(c.Image)
	for _, h := range s.Helpers {
		if strings.Contains(name, h) {
			return false
		}
	}
	_, ok := s.ConfigFile(c)
	return ok
}

// Passes is how the scraper's command line names its config file, for
// messages: "--config.file=PATH", or "run PATH" for a config command.
func (s Scraper) Passes(path string) string {
	if s.ConfigCommand != "" {
		return s.ConfigCommand + " " + path
	}
	return "--" + s.ConfigFlag + "=" + path
}

// ConfigFile is the value of s's config flag in c's command and args (or the
// argument of its config command).
func (s Scraper) ConfigFile(c corev1.Container) (string, bool) {
	argv := append(append([]string{}, c.Command...), c.Args...)
	if s.ConfigCommand != "" {
		if i := slices.Index(argv, s.ConfigCommand); i >= 0 {
			value, rest := false, false // the previous flag's value; after "--"
			for _, a := range argv[i+1:] {
				switch {
				case rest:
					return a, true
				case a == "--":
					rest = true
				case strings.HasPrefix(a, "-"):
					name := strings.TrimLeft(a, "-")
					value = !strings.Contains(name, "=") && !slices.Contains(s.BoolFlags, name)
				case value:
					value = false
				default:
					return a, true
				}
			}
		}
		return "", false
	}
	for i, a := range argv {
		for _, flag := range []string{"--" + s.ConfigFlag, "-" + s.ConfigFlag} {
			if v, ok := strings.CutPrefix(a, flag+"="); ok {
				return strings.TrimPrefix(v, "file:"), true
			}
			if a == flag && i+1 < len(argv) {
				return strings.TrimPrefix(argv[i+1], "file:"), true
			}
		}
	}
	return "", false
}

// Recognised says, for messages, how the table's scrapers are recognised:
// "image prometheus (or --config.file), image vmagent (or --promscrape.config), …".
func Recognised() string {
	var parts []string
	for _, s := range Table {
		if s.ByImageOnly {
			part := "image " + strings.Join(s.Images, " or ")
			if s.ConfigCommand != "" {
				part += " (with " + s.Passes("PATH") + ")"
			}
			parts = append(parts, part)
			continue
		}
		parts = append(parts, fmt.Sprintf("image %s (or %s)", strings.Join(s.Images, " or "), strings.TrimSuffix(s.Passes(""), "=")))
	}
	return strings.Join(parts, ", ")
}

// Image tells whether image is one of s's Images.
func (s Scraper) Image(image string) bool {
	repo := Repository(image)
	name := ImageName(image)
	for _, im := range s.Images {
		if strings.Contains(im, "/") {
			if repo == im || strings.HasSuffix(repo, "/"+im) {
				return true
			}
		} else if im == name {
			return true
		}
	}
	return false
}

// Repository is an image reference without tag or digest.
func Repository(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	return image
}

// MayRun is a cheap look at one container's image and one argument, for a
// prefilter: whether either could belong to some scraper of the table.
func MayRun(image string, args []string) bool {
	for _, s := range Table {
		for _, im := range s.Images {
			if strings.Contains(image, im) {
				return true
			}
		}
		for _, a := range args {
			if !s.ByImageOnly && strings.Contains(a, s.ConfigFlag) {
				return true
			}
		}
	}
	return false
}
