package config

import (
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

func parse(t *testing.T, s string) (*PrometheusMTLS, error) {
	t.Helper()
	c, _, err := parseAssumed(t, s)
	return c, err
}

func parseAssumed(t *testing.T, s string) (*PrometheusMTLS, Assumed, error) {
	t.Helper()
	if s == "" {
		return Parse(nil)
	}
	return Parse(yaml.MustParse(s))
}

func TestDefaults(t *testing.T) {
	c, assumed, err := parseAssumed(t, "")
	if err != nil {
		t.Fatal(err)
	}
	s := c.Spec
	if s.Mode != ModeSidecar || s.Istio.Version != "1.31" || !assumed.Version || s.Istio.Minor() != 31 || s.Istio.ProxyImage != "" ||
		s.Istio.MeshID != "cluster.local" || s.Istio.ClusterID != "Kubernetes" || s.Certificates.MountPath != "/etc/istio-certs" ||
		s.Certificates.VolumeName != "istio-certs" || s.ScrapeJob.Name != "kubernetes-pods-istio-secure" || s.Istio.Envoy != nil ||
		s.ScrapeJob.ExcludeFrom != nil {
		t.Errorf("defaults: %+v", s)
	}
}

func TestFullVersionKeepsImageTag(t *testing.T) {
	c, assumed, err := parseAssumed(t, "apiVersion: fn.istio-prometheus-mtls.dev/v1alpha1\nkind: PrometheusMTLS\nspec:\n  istio:\n    version: \"1.28.3\"\n    trustDomain: example.org\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.Spec.Istio.Minor() != 28 || c.Spec.Istio.MeshID != "example.org" || assumed.Version {
		t.Errorf("%+v", c.Spec.Istio)
	}
}

func TestConfigMapFlatKeys(t *testing.T) {
	c, err := parse(t, `apiVersion: v1
kind: ConfigMap
metadata: {name: c}
data:
  istio-version: "1.22"
  target-match-labels: "app=prom, tier=obs"
  native-sidecar: "TRUE"
  envoy: "false"
  scrape-job-exclude-from: ""
  scrape-config-name: prom
`)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Spec
	if s.Istio.Version != "1.22" || s.Target.MatchLabels["tier"] != "obs" || s.Istio.NativeSidecar == nil || !*s.Istio.NativeSidecar || s.Istio.Envoy == nil || *s.Istio.Envoy ||
		s.ScrapeJob.ExcludeFrom == nil || len(*s.ScrapeJob.ExcludeFrom) != 0 || s.ScrapeConfig.Kind != "ConfigMap" || s.ScrapeConfig.Name != "prom" {
		t.Errorf("%+v", s)
	}
}

// TestFlatKeysAreTheFields: each flat key, its value in its flat form (a
// string, true or false, key=value pairs, a list of names), decodes to the
// same config as the resource form with the field its tag sits on set: the
// conversion of every field type and the structs allocated on the way.
func TestFlatKeysAreTheFields(t *testing.T) {
	fields := FlatFields()
	if len(fields) < 30 {
		t.Fatalf("%d flat keys", len(fields))
	}
	for _, f := range fields {
		flat, field := "x", `"x"`
		switch f.FlatForm() {
		case "true or false":
			flat, field = "true", "true"
		case "key=value pairs separated by commas":
			flat, field = "a=b, c=d", "{a: b, c: d}"
		case "names separated by commas; empty: none":
			flat, field = "a, b", "[a, b]"
		}
		fromMap, err := fromConfigMap(yaml.MustParse("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  " + f.Key + ": \"" + flat + "\"\n"))
		if err != nil {
			t.Fatalf("%s: %v", f.Key, err)
		}
		doc := "apiVersion: " + APIVersion + "\nkind: " + Kind + "\nmetadata: {name: c}\n"
		parts := strings.Split(f.Path, ".")
		for i, p := range parts {
			doc += strings.Repeat("  ", i) + p + ":"
			if i < len(parts)-1 {
				doc += "\n"
			}
		}
		doc += " " + field + "\n"
		if strings.HasPrefix(f.Key, "scrape-config-") && f.Key != "scrape-config-kind" {
			doc += "    kind: ConfigMap\n" // a flat scrape-config key names a ConfigMap
		}
		fromObj, err := fromObject(yaml.MustParse(doc))
		if err != nil {
			t.Fatalf("%s: %v\n%s", f.Key, err, doc)
		}
		fromMap.Metadata = fromObj.Metadata
		if !reflect.DeepEqual(fromMap, fromObj) {
			t.Errorf("%s sets another field than %s:\n%+v\n%+v", f.Key, f.Path, fromMap.Spec, fromObj.Spec)
		}
	}
}

func TestErrors(t *testing.T) {
	head := "apiVersion: fn.istio-prometheus-mtls.dev/v1alpha1\nkind: PrometheusMTLS\nspec:\n"
	for spec, want := range map[string]string{
		"  target: {kind: CronJob}":                                  "spec.target.kind: unsupported kind \"CronJob\"",
		"  istio: {version: \"2.0\"}":                                "spec.istio.version: \"2.0\" is not an Istio version",
		"  istio: {version: 1.5}":                                    "spec.istio.version: must be a string",
		"  istio: {revision: Canary}":                                "spec.istio.revision: \"Canary\" is not a valid revision name",
		"  istio: {imagePullPolicy: Sometimes}":                      "spec.istio.imagePullPolicy: must be Always, IfNotPresent or Never",
		"  certificates: {volumeName: Istio_Certs}":                  "spec.certificates.volumeName: \"Istio_Certs\" is not a valid volume name",
		"  certificates: {mountPath: /}":                             "spec.certificates.mountPath: must be an absolute path other than /",
		"  scrapeJob: {excludeFrom: [\"\"]}":                         "spec.scrapeJob.excludeFrom[0]: must not be empty",
		"  scrapeJob: {excludeFrom: [kubernetes-pods-istio-secure]}": "names the secure job",
		"  scrapeConfig: {kind: Pod, name: x}":                       "spec.scrapeConfig.kind: must be ConfigMap or Secret",
		"  scrapeConfig: {kind: Secret}":                             "spec.scrapeConfig.name: must not be empty",
		"  target:\n    matchLabels: [a]":                            "spec.target.matchLabels: wrong type: got a list, want a mapping",
		"  istio:\n    resources: {requests: {cpu: lots}}":           `spec.istio.resources.requests.cpu: quantity "lots" is not valid`,
	} {
		_, err := parse(t, head+spec+"\n")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", spec, err, want)
		}
	}
}

func TestParseVersion(t *testing.T) {
	for v, want := range map[string]int{"1.5": 5, "1.30": 30, "1.30.2": 30, "1.31.0": 31, "1.40": 40, "1.0": 0} {
		if got, ok := parseVersion(v); !ok || got != want {
			t.Errorf("parseVersion(%q) = %d, %v; want %d", v, got, ok, want)
		}
	}
	for _, v := range []string{"", "1", "1.", "1.30.", "2.1", "1.x", "1.3a", "01.3", "1.030", "1.30.2.1", "1..2", "one.thirty", "1.31.0-rc.0", " 1.30"} {
		if got, ok := parseVersion(v); ok {
			t.Errorf("parseVersion(%q) = %d, want an error", v, got)
		}
	}
}
