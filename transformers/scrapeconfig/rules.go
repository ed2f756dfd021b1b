package scrapeconfig

// The relabel rules as data, for the scrapers whose configuration is not a
// Prometheus scrape_configs list (Grafana Alloy's rule blocks).

// Rule is one relabel rule: the fields of Prometheus's relabel.Config this
// function writes (empty ones are left out; a Replacement pointing at "" is
// written).
type Rule struct {
	SourceLabels []string
	Regex        string
	TargetLabel  string
	Replacement  *string
	Action       string
}

// PlainRules are the rules that hand sidecar pods to the secure pipeline: a
// pipeline that ends with them scrapes every pod but those.
func PlainRules(o Options) []Rule {
	rules := []Rule{
		{SourceLabels: []string{lblStatus, lblMTLS}, Regex: sidecarPod, TargetLabel: lblMark, Replacement: ptr("true"), Action: "replace"},
		{SourceLabels: []string{lblPort}, Regex: "15020", TargetLabel: lblMark, Replacement: ptr(""), Action: "replace"},
	}
	if o.SecurePortJob {
		rules = append(rules, Rule{SourceLabels: []string{lblSecurePort}, Regex: ".+", TargetLabel: lblMark, Replacement: ptr("true"), Action: "replace"})
	}
	return append(rules, Rule{SourceLabels: []string{lblMark}, Regex: "true", Action: "drop"})
}

// SidecarRules keep, of targets a pod pipeline already chose, the sidecar pods
// (or those opting in with istio.mtls), except metrics-merged ones and Istio's
// own plaintext ports, and scrape them over https.
func SidecarRules() []Rule {
	return []Rule{
		{SourceLabels: []string{lblStatus, lblMTLS}, Regex: sidecarPod, Action: "keep"},
		{SourceLabels: []string{lblPort}, Regex: "15020", Action: "drop"},
		{SourceLabels: []string{"__address__"}, Regex: `.+:(15020|15021|15090)`, Action: "drop"},
		{TargetLabel: "__scheme__", Replacement: ptr("https"), Action: "replace"},
	}
}

// IsMark tells whether a rule reads or writes the temporary label the plain
// rules mark sidecar pods with (reserved to this function).
func IsMark(r Rule) bool {
	return r.TargetLabel == lblMark || (len(r.SourceLabels) == 1 && r.SourceLabels[0] == lblMark)
}

// Carried are the settings of a plain scrape the secure one takes.
func Carried() []string { return carried }
