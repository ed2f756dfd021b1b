package scrapers

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestTable: every row is complete, Prometheus is the first, and no two rows
// claim an image or a flag.
func TestTable(t *testing.T) {
	if Prometheus().Name != "Prometheus" {
		t.Fatalf("the first row is %q", Prometheus().Name)
	}
	images, flags := map[string]string{}, map[string]string{}
	for _, s := range Table {
		if s.Name == "" || s.Called == "" || len(s.Images) == 0 || (s.ConfigFlag == "") == (s.ConfigCommand == "") || s.WorkingDir == "" || (len(s.TopLevel) == 0) != (s.Syntax != "") || s.Dollar == "" {
			t.Errorf("row %q is incomplete: %+v", s.Name, s)
		}
		if want := "scrape_configs"; s.Syntax != "" {
			// Not a YAML scrape config: its own editor knows its layout.
		} else if s.Receivers {
			if !slices.Contains(s.TopLevel, "receivers") {
				t.Errorf("%s: its jobs sit in receivers, which its layout lacks", s.Name)
			}
		} else if !slices.Contains(s.TopLevel, want) {
			t.Errorf("%s: its layout has no %s", s.Name, want)
		}
		for _, im := range s.Images {
			if other, ok := images[im]; ok {
				t.Errorf("image %q is %s's and %s's", im, other, s.Name)
			}
			images[im] = s.Name
		}
		if other, ok := flags[s.ConfigFlag+s.ConfigCommand]; ok {
			t.Errorf("flag %q is %s's and %s's", s.ConfigFlag+s.ConfigCommand, other, s.Name)
		}
		flags[s.ConfigFlag+s.ConfigCommand] = s.Name
		for _, r := range s.Resources {
			if r.Group == "" || len(r.Kinds) == 0 || r.Container == "" || len(r.ServiceAccount) == 0 {
				t.Errorf("%s: resource %v is incomplete", s.Name, r.Kinds)
			}
			if (r.PodMetadata != nil) == (r.Labels != nil || r.Annotations != nil) || (r.PodMetadata == nil) != (r.Labels != nil && r.Annotations != nil) {
				t.Errorf("%s %v: the pods' labels and annotations come from podMetadata or from both Labels and Annotations", s.Name, r.Kinds)
			}
			if r.PodMetadata != nil && len(r.Renamed) > 0 {
				t.Errorf("%s %v: a podMetadata resource shares its spec with the view: no renamed fields", s.Name, r.Kinds)
			}
			if (r.Config != nil) == (r.Additional != nil || r.Jobs != nil) {
				t.Errorf("%s %v: the job goes into the resource's config, or into job lists, not both or neither", s.Name, r.Kinds)
			}
			if _, got, ok := ResourceOf(r.Group, r.Kinds[0]); !ok || got.Container != r.Container {
				t.Errorf("ResourceOf(%s, %s) does not find the row's resource", r.Group, r.Kinds[0])
			}
		}
	}
}

// TestRuns: containers are told apart by image and by config flag, in every
// spelling of the flag, and helpers that pass the flag are not the scraper.
func TestRuns(t *testing.T) {
	row := func(name string) Scraper {
		for _, s := range Table {
			if s.Name == name {
				return s
			}
		}
		t.Fatalf("no row %s", name)
		return Scraper{}
	}
	prom, vm, otel := row("Prometheus"), row("vmagent"), row("OpenTelemetry Collector")
	if otel.Runs(corev1.Container{Image: "grafana/agent:v0", Args: []string{"--config=/etc/agent.yaml"}}) {
		t.Error("a container passing --config is not a collector by that alone")
	}
	if f, ok := otel.ConfigFile(corev1.Container{Image: "otel/opentelemetry-collector-k8s:0.158.0", Args: []string{"--config=file:/conf/relay.yaml"}}); !ok || f != "/conf/relay.yaml" {
		t.Errorf("collector --config=file:…: %q %v", f, ok)
	}
	for _, c := range []struct {
		c          corev1.Container
		prom, vm   bool
		file, desc string
	}{
		{corev1.Container{Image: "quay.io/prometheus/prometheus:v3.10.0"}, true, false, "", "Prometheus image"},
		{corev1.Container{Image: "victoriametrics/vmagent:v1.150.0", Args: []string{"--promscrape.config=/config/scrape/scrape.yml"}}, false, true, "/config/scrape/scrape.yml", "the vmagent chart"},
		{corev1.Container{Image: "mycorp/agent:1", Args: []string{"-promscrape.config", "/c.yml"}}, false, true, "/c.yml", "vmagent by its flag, two arguments"},
		{corev1.Container{Image: "ghcr.io/prometheus-operator/prometheus-config-reloader:v0.89.0", Args: []string{"--config.file=/etc/p.yml"}}, false, false, "", "a reloader passing --config.file"},
		{corev1.Container{Image: "victoriametrics/operator:config-reloader-v0.74.1", Args: []string{"-promscrape.config=/x"}}, false, false, "", "VictoriaMetrics' reloader"},
	} {
		if got := prom.Runs(c.c); got != c.prom {
			t.Errorf("%s: Prometheus %v, want %v", c.desc, got, c.prom)
		}
		if got := vm.Runs(c.c); got != c.vm {
			t.Errorf("%s: vmagent %v, want %v", c.desc, got, c.vm)
		}
		if f, _ := vm.ConfigFile(c.c); c.vm && f != c.file {
			t.Errorf("%s: config file %q, want %q", c.desc, f, c.file)
		}
	}
}

// TestAlloyConfigFile: Alloy names its config file as the argument of run, after
// or before its flags.
func TestAlloyConfigFile(t *testing.T) {
	var alloy Scraper
	for _, s := range Table {
		if s.Syntax == "alloy" {
			alloy = s
		}
	}
	for _, args := range [][]string{
		{"run", "/etc/alloy/config.alloy", "--storage.path=/tmp/alloy"},
		{"run", "--storage.path=/tmp/alloy", "/etc/alloy/config.alloy"},
		// pflag's "--flag value", and boolean flags that take none.
		{"run", "--storage.path", "/tmp/alloy", "--server.http.listen-addr", "0.0.0.0:12345", "/etc/alloy/config.alloy"},
		{"run", "--cluster.enabled", "--disable-reporting", "/etc/alloy/config.alloy", "--cluster.name", "x"},
		{"run", "--cluster.enabled=true", "/etc/alloy/config.alloy"},
		{"run", "--storage.path=/tmp/alloy", "--", "/etc/alloy/config.alloy"},
	} {
		if got, ok := alloy.ConfigFile(corev1.Container{Args: args}); !ok || got != "/etc/alloy/config.alloy" {
			t.Errorf("%v: %q, %v", args, got, ok)
		}
	}
	if _, ok := alloy.ConfigFile(corev1.Container{Args: []string{"fmt", "x.alloy"}}); ok {
		t.Error("a command other than run names a config file")
	}
	if got := alloy.Passes("/etc/alloy/config.alloy"); got != "run /etc/alloy/config.alloy" {
		t.Errorf("Passes: %q", got)
	}
}

// TestAgentFlowMode: Grafana Agent runs as Alloy in flow mode (its image, with run);
// its static mode, and other programs' images named agent, are not Alloy.
func TestAgentFlowMode(t *testing.T) {
	var alloy Scraper
	for _, s := range Table {
		if s.Syntax == "alloy" {
			alloy = s
		}
	}
	flow := []string{"run", "/etc/agent/config.river", "--storage.path=/tmp/agent"}
	for image, want := range map[string]bool{
		"docker.io/grafana/agent:v0.44.2":               true,
		"grafana/agent":                                 true,
		"registry.local:5000/grafana/agent@sha256:0123": true,
		"gcr.io/datadoghq/agent:7":                      false,
		"agent:v1":                                      false,
		"docker.io/grafana/alloy:v1.18.1":               true,
	} {
		if got := alloy.Runs(corev1.Container{Image: image, Args: flow}); got != want {
			t.Errorf("%s with run: Runs = %v, want %v", image, got, want)
		}
	}
	static := corev1.Container{Image: "docker.io/grafana/agent:v0.44.2", Args: []string{"-config.file=/etc/agent/config.yaml"}}
	for _, s := range Table {
		if s.Runs(static) {
			t.Errorf("Grafana Agent in static mode is taken for %s", s.Name)
		}
	}
	if r := Recognised(); !strings.Contains(r, "image alloy or grafana/agent (with run PATH)") {
		t.Errorf("Recognised: %s", r)
	}
}
