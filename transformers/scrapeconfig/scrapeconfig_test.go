package scrapeconfig

import (
	sigsyaml "sigs.k8s.io/yaml"
	"strings"
	"testing"
)

func opts() Options {
	return Options{JobName: "secure", CertsDir: "/etc/istio-certs"}
}

// owning is o for a re-run after a run that reported rep: the record names the
// jobs it wrote.
func owning(o Options, rep Report) Options {
	o.Owned = rep.Owned
	return o
}

const plain = `# keep me
scrape_configs:
- job_name: pods
  kubernetes_sd_configs: [{role: pod}]
  relabel_configs:
  - {source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape], action: keep, regex: "true"}
- job_name: endpoints
  kubernetes_sd_configs: [{role: endpoints}]
  relabel_configs:
  - {source_labels: [__meta_kubernetes_service_annotation_prometheus_io_scrape], action: keep, regex: "true"}
`

func TestEditIsIdempotent(t *testing.T) {
	once, rep, err := Edit(plain, opts())
	if err != nil {
		t.Fatal(err)
	}
	// The pod job and the job keeping the pods of annotated Services get rules.
	if len(rep.Jobs) != 1 || strings.Join(rep.Excluded, ",") != "pods,endpoints" {
		t.Errorf("report %+v", rep)
	}
	if !strings.HasPrefix(once, "# keep me\n") || strings.Count(once, "job_name: secure") != 1 {
		t.Errorf("output:\n%s", once)
	}
	if strings.Join(rep.Owned, ",") != "secure" {
		t.Errorf("the jobs to record: %v", rep.Owned)
	}
	// A re-run knows its job from the record, not from a comment.
	if _, _, err := Edit(once, opts()); err == nil {
		t.Error("a job the record does not name was taken as the function's")
	}
	twice, _, err := Edit(once, owning(opts(), rep))
	if err != nil {
		t.Fatal(err)
	}
	if once != twice {
		t.Errorf("second edit changed the config:\n%s\n---\n%s", once, twice)
	}
	// A changed option replaces our job and our rule in place.
	o := owning(opts(), rep)
	o.CertsDir = "/certs"
	third, _, err := Edit(once, o)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(third, "istio-prometheus-mtls: sidecar pods are scraped") != 1 || strings.Count(third, "istio-prometheus-mtls: sidecar pods annotated") != 1 || !strings.Contains(third, "ca_file: /certs/root-cert.pem") || strings.Contains(third, "/etc/istio-certs") {
		t.Errorf("after option change:\n%s", third)
	}
}

func TestExcludeFrom(t *testing.T) {
	o := opts()
	none := []string{}
	o.ExcludeFrom = &none
	out, rep, err := Edit(plain, o)
	if err != nil || len(rep.Excluded) != 0 || strings.Contains(out, "istio-prometheus-mtls: sidecar pods") {
		t.Errorf("excludeFrom []: %v %+v", err, rep)
	}
	names := []string{"endpoints"}
	o.ExcludeFrom = &names
	if _, rep, err = Edit(plain, o); err != nil || len(rep.Excluded) != 1 || rep.Excluded[0] != "endpoints" {
		t.Errorf("excludeFrom [endpoints]: %v %+v", err, rep)
	}
	names = []string{"nope"}
	if _, _, err = Edit(plain, o); err == nil || !strings.Contains(err.Error(), `names job "nope"`) {
		t.Errorf("unknown job: %v", err)
	}
}

func TestTakeOverAndSecurePortJobs(t *testing.T) {
	user := "scrape_configs:\n- job_name: secure\n  static_configs: [{targets: [a:1]}]\n"
	if _, _, err := Edit(user, opts()); err == nil {
		t.Error("a user job with our name must be refused")
	}
	o := opts()
	o.TakeOver = true
	o.SecurePortJob = true
	out, rep, err := Edit(user, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Jobs) != 3 || strings.Contains(out, "a:1") || !strings.Contains(out, "job_name: "+secureMergedJob) {
		t.Errorf("%+v\n%s", rep, out)
	}
	o.SecurePortJob = false
	out, _, err = Edit(out, owning(o, rep))
	if err != nil || strings.Contains(out, secureMergedJob) || strings.Contains(out, secureEnvoyJob) {
		t.Errorf("secure-port jobs not removed: %v\n%s", err, out)
	}
}

func TestEmptyAndBad(t *testing.T) {
	out, _, err := Edit("", opts())
	if err != nil || !strings.Contains(out, "job_name: secure") {
		t.Errorf("empty: %v\n%s", err, out)
	}
	for doc, want := range map[string]string{
		"[1, 2]":              "must be a YAML mapping, got a list",
		"scrape_configs: 3":   "must be a list of jobs, got a scalar",
		"scrape_configs: [3]": "scrape_configs[0]: must be a mapping",
		"scrape_configs: [{job_name: a}, {job_name: a}]": `job "a" is defined twice`,
		"a: b: c": "is not valid YAML",
	} {
		if _, _, err := Edit(doc, opts()); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", doc, err, want)
		}
	}
}

// TestDropRuleWithoutComment: drop rules whose comments were lost (a tool that
// drops comments) are still recognised as ours by their labels, and replaced
// rather than doubled; a user's drop rule on other labels stays.
func TestDropRuleWithoutComment(t *testing.T) {
	once, rep, err := Edit(plain, opts())
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, l := range strings.SplitAfter(once, "\n") {
		if !strings.Contains(l, "# istio-prometheus-mtls:") {
			kept = append(kept, l)
		}
	}
	bare := strings.Join(kept, "")
	if bare == once {
		t.Fatal("the drop rule's comment was not found")
	}
	user := "  - {source_labels: [" + lblStatus + ", " + lblPort + "], action: drop, regex: x}\n"
	bare = strings.Replace(bare, "regex: \"true\"}\n", "regex: \"true\"}\n"+user, 1)
	again, _, err := Edit(bare, owning(opts(), rep))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(again, lblMark); n != 6 {
		t.Errorf("%d uses of %s after the re-run, want the 3 of one set of rules in each of the two jobs:\n%s", n, lblMark, again)
	}
	if !strings.Contains(again, strings.TrimSpace(user)) {
		t.Errorf("the user's drop rule went:\n%s", again)
	}
}

// TestRemove: ambient mode's edit takes out exactly what earlier runs added (the
// jobs, with their secure-port siblings, and the drop rules) and gives back the
// user's text; a job of the user's reading Istio's certificate files is reported.
func TestRemove(t *testing.T) {
	o := opts()
	o.SecurePortJob = true
	added, rep, err := Edit(plain, o)
	if err != nil {
		t.Fatal(err)
	}
	r := owning(opts(), rep)
	r.Remove = true
	got, rep, err := Edit(added, r)
	if err != nil {
		t.Fatal(err)
	}
	if got != plain {
		t.Errorf("removing did not give back the user's text:\n%s", got)
	}
	if strings.Join(rep.Removed, ",") != "secure,"+secureMergedJob+","+secureEnvoyJob || strings.Join(rep.Restored, ",") != "pods,endpoints" || len(rep.Jobs)+len(rep.Excluded)+len(rep.Leftover) != 0 {
		t.Errorf("report %+v", rep)
	}
	if again, rep, _ := Edit(got, r); again != got || len(rep.Removed)+len(rep.Restored) != 0 {
		t.Errorf("a second removal changed %q, reported %+v", again, rep)
	}
	user := plain + "- job_name: mine\n  scheme: https\n  tls_config: {ca_file: /etc/certs/root-cert.pem, cert_file: /etc/certs/cert-chain.pem}\n"
	if _, rep, _ := Edit(user, r); strings.Join(rep.Leftover, ",") != "mine" {
		t.Errorf("the user's job reading Istio's files is not reported: %+v", rep)
	}
}

// TestEarlierDropRuleReplaced: the single drop rule earlier releases wrote (a
// hand-spelled "port is not 15020" regex), with or without its comment, is
// replaced by the current rules.
func TestEarlierDropRuleReplaced(t *testing.T) {
	const earlier = "  - source_labels:\n    - " + lblStatus + "\n    - " + lblMTLS + "\n    - " + lblPort + "\n" +
		"    regex: (?:[^;]+;[^;]*|[^;]*;true);(?:[^;]{0,4}|[^;]{6,}|[^1;][^;]{4}|1[^5;][^;]{3}|15[^0;][^;]{2}|150[^2;][^;]|1502[^0;])\n    action: drop\n"
	doc := strings.Replace(plain, "regex: \"true\"}\n", "regex: \"true\"}\n"+earlier, 1)
	if doc == plain {
		t.Fatal("the earlier rule was not put in")
	}
	got, _, err := Edit(doc, opts())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(got, "1502[^0;]") || strings.Count(got, lblMark) != 6 {
		t.Errorf("the earlier drop rule was not replaced:\n%s", got)
	}
}

// TestOwnedWithoutComments: the record, not the job_name comment, decides. A copy
// of the output that lost every comment (a YAML tool's round trip) is left as it
// is by a re-run, and ambient mode takes out every job the record names; an
// earlier release's output (the comment, no record) is recognised when migrating
// only.
func TestOwnedWithoutComments(t *testing.T) {
	o := opts()
	o.SecurePortJob = true
	once, rep, err := Edit(plain, o)
	if err != nil {
		t.Fatal(err)
	}
	bare, err := sigsyaml.JSONToYAML(mustJSON(t, once))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(bare), "#") {
		t.Fatalf("the round trip kept comments:\n%s", bare)
	}
	again, rep2, err := Edit(string(bare), owning(o, rep))
	if err != nil || again != string(bare) {
		t.Errorf("a re-run changed a copy without comments (%v):\n%s", err, again)
	}
	if strings.Join(rep2.Owned, ",") != strings.Join(rep.Owned, ",") {
		t.Errorf("owned %v, then %v", rep.Owned, rep2.Owned)
	}
	r := owning(opts(), rep)
	r.Remove = true
	gone, rep3, err := Edit(string(bare), r)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep3.Removed) != 3 || len(rep3.Leftover) != 0 || strings.Contains(gone, "istio-certs") || strings.Contains(gone, lblMark) {
		t.Errorf("ambient left jobs of the function's: %+v\n%s", rep3, gone)
	}
	if _, _, err := Edit(once, opts()); err == nil {
		t.Error("the comment alone made a job the function's")
	}
	m := opts()
	m.Migrate = true
	m.SecurePortJob = true
	if out, rep4, err := Edit(once, m); err != nil || out != once || len(rep4.Owned) != 3 {
		t.Errorf("an earlier release's output was not migrated: %v %+v", err, rep4)
	}
}

func mustJSON(t *testing.T, doc string) []byte {
	t.Helper()
	j, err := sigsyaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return j
}
