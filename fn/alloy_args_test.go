package main

import (
	"strings"
	"testing"
	"time"

	"github.com/grafana/alloy/syntax/alloytypes"
	"github.com/grafana/alloy/syntax/ast"
	"github.com/grafana/alloy/syntax/parser"
	"github.com/grafana/alloy/syntax/vm"
)

// The arguments of the components the function writes and edits, as Alloy v1.18.1's
// reference documents them (docs/sources/reference/components/prometheus/prometheus.scrape.md,
// …/discovery/discovery.relabel.md and the shared tls-config, rule, authorization,
// basic-auth and oauth2 blocks at tag v1.18.1): every attribute and block, with its type.
// Alloy's own Arguments types live in internal packages of a module the Go module proxy
// cannot build (docs/scrapers.md), so these stand in for them. Alloy's evaluator
// (syntax/vm, what `alloy run` decodes component bodies with) refuses an attribute or
// block a type does not have, and a value of the wrong type.
type alloyScrapeArgs struct {
	ForwardTo                      []any                          `alloy:"forward_to,attr"`
	Targets                        []map[string]string            `alloy:"targets,attr"`
	BearerTokenFile                string                         `alloy:"bearer_token_file,attr,optional"`
	BearerToken                    alloytypes.Secret              `alloy:"bearer_token,attr,optional"`
	BodySizeLimit                  int                            `alloy:"body_size_limit,attr,optional"`
	ConvertClassicHistogramsToNHCB bool                           `alloy:"convert_classic_histograms_to_nhcb,attr,optional"`
	EnableCompression              bool                           `alloy:"enable_compression,attr,optional"`
	EnableHTTP2                    bool                           `alloy:"enable_http2,attr,optional"`
	EnableProtobufNegotiation      bool                           `alloy:"enable_protobuf_negotiation,attr,optional"`
	EnableTypeAndUnitLabels        bool                           `alloy:"enable_type_and_unit_labels,attr,optional"`
	ExtraMetrics                   bool                           `alloy:"extra_metrics,attr,optional"`
	FollowRedirects                bool                           `alloy:"follow_redirects,attr,optional"`
	HTTPHeaders                    map[string][]alloytypes.Secret `alloy:"http_headers,attr,optional"`
	HonorLabels                    bool                           `alloy:"honor_labels,attr,optional"`
	HonorTimestamps                bool                           `alloy:"honor_timestamps,attr,optional"`
	HonorMetadata                  bool                           `alloy:"honor_metadata,attr,optional"`
	JobName                        string                         `alloy:"job_name,attr,optional"`
	LabelLimit                     uint                           `alloy:"label_limit,attr,optional"`
	LabelNameLengthLimit           uint                           `alloy:"label_name_length_limit,attr,optional"`
	LabelValueLengthLimit          uint                           `alloy:"label_value_length_limit,attr,optional"`
	MetricNameEscapingScheme       string                         `alloy:"metric_name_escaping_scheme,attr,optional"`
	MetricNameValidationScheme     string                         `alloy:"metric_name_validation_scheme,attr,optional"`
	MetricsPath                    string                         `alloy:"metrics_path,attr,optional"`
	NativeHistogramBucketLimit     uint                           `alloy:"native_histogram_bucket_limit,attr,optional"`
	NativeHistogramMinBucketFactor float64                        `alloy:"native_histogram_min_bucket_factor,attr,optional"`
	NoProxy                        string                         `alloy:"no_proxy,attr,optional"`
	Params                         map[string][]string            `alloy:"params,attr,optional"`
	ProxyConnectHeader             map[string][]alloytypes.Secret `alloy:"proxy_connect_header,attr,optional"`
	ProxyFromEnvironment           bool                           `alloy:"proxy_from_environment,attr,optional"`
	ProxyURL                       string                         `alloy:"proxy_url,attr,optional"`
	SampleLimit                    uint                           `alloy:"sample_limit,attr,optional"`
	Scheme                         string                         `alloy:"scheme,attr,optional"`
	ScrapeClassicHistograms        bool                           `alloy:"scrape_classic_histograms,attr,optional"`
	ScrapeFailureLogFile           string                         `alloy:"scrape_failure_log_file,attr,optional"`
	ScrapeFallbackProtocol         string                         `alloy:"scrape_fallback_protocol,attr,optional"`
	ScrapeInterval                 time.Duration                  `alloy:"scrape_interval,attr,optional"`
	ScrapeNativeHistograms         bool                           `alloy:"scrape_native_histograms,attr,optional"`
	ScrapeProtocols                []string                       `alloy:"scrape_protocols,attr,optional"`
	ScrapeTimeout                  time.Duration                  `alloy:"scrape_timeout,attr,optional"`
	TargetLimit                    uint                           `alloy:"target_limit,attr,optional"`
	TrackTimestampsStaleness       bool                           `alloy:"track_timestamps_staleness,attr,optional"`
	Authorization                  *struct {
		CredentialsFile string            `alloy:"credentials_file,attr,optional"`
		Credentials     alloytypes.Secret `alloy:"credentials,attr,optional"`
		Type            string            `alloy:"type,attr,optional"`
	} `alloy:"authorization,block,optional"`
	BasicAuth *struct {
		PasswordFile string            `alloy:"password_file,attr,optional"`
		Password     alloytypes.Secret `alloy:"password,attr,optional"`
		Username     string            `alloy:"username,attr,optional"`
	} `alloy:"basic_auth,block,optional"`
	Clustering *struct {
		Enabled bool `alloy:"enabled,attr"`
	} `alloy:"clustering,block,optional"`
	OAuth2 *struct {
		ClientID             string                         `alloy:"client_id,attr,optional"`
		ClientSecretFile     string                         `alloy:"client_secret_file,attr,optional"`
		ClientSecret         alloytypes.Secret              `alloy:"client_secret,attr,optional"`
		EndpointParams       map[string]string              `alloy:"endpoint_params,attr,optional"`
		NoProxy              string                         `alloy:"no_proxy,attr,optional"`
		ProxyConnectHeader   map[string][]alloytypes.Secret `alloy:"proxy_connect_header,attr,optional"`
		ProxyFromEnvironment bool                           `alloy:"proxy_from_environment,attr,optional"`
		ProxyURL             string                         `alloy:"proxy_url,attr,optional"`
		Scopes               []string                       `alloy:"scopes,attr,optional"`
		TokenURL             string                         `alloy:"token_url,attr,optional"`
		TLSConfig            *alloyTLSConfig                `alloy:"tls_config,block,optional"`
	} `alloy:"oauth2,block,optional"`
	TLSConfig *alloyTLSConfig `alloy:"tls_config,block,optional"`
}

type alloyTLSConfig struct {
	CAPEM              string            `alloy:"ca_pem,attr,optional"`
	CAFile             string            `alloy:"ca_file,attr,optional"`
	CertPEM            string            `alloy:"cert_pem,attr,optional"`
	CertFile           string            `alloy:"cert_file,attr,optional"`
	InsecureSkipVerify bool              `alloy:"insecure_skip_verify,attr,optional"`
	KeyFile            string            `alloy:"key_file,attr,optional"`
	KeyPEM             alloytypes.Secret `alloy:"key_pem,attr,optional"`
	MinVersion         string            `alloy:"min_version,attr,optional"`
	ServerName         string            `alloy:"server_name,attr,optional"`
}

type alloyRelabelArgs struct {
	Targets []map[string]string `alloy:"targets,attr"`
	Rules   []struct {
		Action       string   `alloy:"action,attr,optional"`
		Modulus      uint     `alloy:"modulus,attr,optional"`
		Regex        string   `alloy:"regex,attr,optional"`
		Replacement  string   `alloy:"replacement,attr,optional"`
		Separator    string   `alloy:"separator,attr,optional"`
		SourceLabels []string `alloy:"source_labels,attr,optional"`
		TargetLabel  string   `alloy:"target_label,attr,optional"`
	} `alloy:"rule,block,optional"`
}

// decodeAlloyComponents evaluates every prometheus.scrape and discovery.relabel of a
// configuration (top level and inside declare blocks) into its documented arguments,
// as Alloy's loader evaluates a component's body (vm.New(block.Body)): references to other components'
// exports and to a module's arguments resolve to empty values of their types.
func decodeAlloyComponents(name, text string) (n int, errs []string) {
	f, err := parser.ParseFile(name, []byte(text))
	if err != nil {
		return 0, []string{err.Error()}
	}
	vars := map[string]any{}
	var blocks []*ast.BlockStmt
	var walk func(ast.Body)
	walk = func(body ast.Body) {
		for _, st := range body {
			b, ok := st.(*ast.BlockStmt)
			if !ok {
				continue
			}
			if strings.Join(b.Name, ".") == "declare" {
				walk(b.Body)
				continue
			}
			blocks = append(blocks, b)
			// Each component's exports (and a module argument's value) under its
			// name, as the loader's scope has them.
			path := append(append([]string{}, b.Name...), b.Label)
			m := vars
			for _, p := range path[:len(path)-1] {
				next, _ := m[p].(map[string]any)
				if next == nil {
					next = map[string]any{}
					m[p] = next
				}
				m = next
			}
			m[path[len(path)-1]] = map[string]any{
				"output": []map[string]string{}, "targets": []map[string]string{},
				"receiver": "receiver", "rules": []any{}, "value": []any{},
			}
		}
	}
	walk(f.Body)
	for _, b := range blocks {
		var into any
		switch strings.Join(b.Name, ".") {
		case "prometheus.scrape":
			into = &alloyScrapeArgs{}
		case "discovery.relabel":
			into = &alloyRelabelArgs{}
		default:
			continue
		}
		n++
		if err := vm.New(b.Body).Evaluate(vm.NewScope(vars), into); err != nil {
			errs = append(errs, strings.Join(b.Name, ".")+" \""+b.Label+"\": "+err.Error())
		}
	}
	return n, errs
}

// TestAlloyArgumentsDecode: every prometheus.scrape and discovery.relabel of every
// edited Alloy configuration of the golden cases (the user's, and the ones the
// function wrote) decodes with Alloy's evaluator into the arguments Alloy documents;
// controls show a misspelled attribute, a value of the wrong type and an unknown
// block refused.
func TestAlloyArgumentsDecode(t *testing.T) {
	t.Parallel()
	total := 0
	for _, c := range goldenCases(t) {
		if c.scraper() != "Alloy" || c.isError() {
			continue
		}
		for name, text := range alloyConfigs(t, c.name) {
			n, errs := decodeAlloyComponents(name, text)
			total += n
			for _, e := range errs {
				t.Errorf("%s: %s: %s", c.name, name, e)
			}
			if strings.Contains(text, `prometheus.scrape "istio_mtls_`) && n < 4 {
				t.Errorf("%s: %s: %d components decoded, fewer than the function writes", c.name, name, n)
			}
		}
	}
	if total == 0 {
		t.Fatal("no Alloy component decoded")
	}
	good := "prometheus.scrape \"x\" {\n\ttargets = discovery.relabel.y.output\n\tforward_to = [prometheus.remote_write.z.receiver]\n\tscheme = \"https\"\n\tscrape_interval = \"30s\"\n\ttls_config {\n\t\tca_file = \"/c\"\n\t\tinsecure_skip_verify = true\n\t}\n}\n" +
		"discovery.relabel \"y\" {\n\ttargets = []\n}\nprometheus.remote_write \"z\" {}\n"
	if _, errs := decodeAlloyComponents("good", good); len(errs) != 0 {
		t.Fatalf("a good configuration was refused: %v", errs)
	}
	for what, bad := range map[string]string{
		"misspelled attribute": strings.Replace(good, "insecure_skip_verify", "insecure_skip_verfy", 1),
		"wrong type":           strings.Replace(good, "insecure_skip_verify = true", `insecure_skip_verify = "yes"`, 1),
		"bad duration":         strings.Replace(good, `"30s"`, `"thirty"`, 1),
		"unknown block":        strings.Replace(good, "tls_config {", "tls {", 1),
	} {
		if _, errs := decodeAlloyComponents(what, bad); len(errs) == 0 {
			t.Errorf("%s: accepted: the check proves nothing", what)
		}
	}
}
