// Package ownership owns the record of what the function wrote: one annotation
// on the scraper's pod template, read once at the start of a run and written
// once at its end. Each feature keeps its own part: the pod template editor
// what it added by name, injection mode its undo record, an operator's
// resource the scrape class it wrote, the scrape-config edit the jobs it wrote
// (wherever they live: a ConfigMap or Secret key, an operator's additional
// scrape configs, a resource's own job list or config). A second run reads the
// record to update its own output and never to mistake a user's container,
// volume, mount or job for its own. Comments are for readers only: every YAML
// tool in a pipeline may drop them, and nothing is decided by one.
package ownership

import (
	"encoding/json"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/injection"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/meta"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/podtemplate"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Annotation holds the record on the pod template.
const Annotation = "istio-prometheus-mtls.dev/status"

var annotations = []string{"metadata", "annotations"}

// Record is the content of Annotation.
type Record struct {
	podtemplate.Owned
	// Injection undoes injection mode's metadata edits.
	Injection *injection.Record `json:"injection,omitempty"`
	// Ambient undoes ambient mode's enrolment label.
	Ambient *injection.Record `json:"ambient,omitempty"`
	// ScrapeClass names the prometheus-operator scrape class the function wrote.
	ScrapeClass string `json:"scrapeClass,omitempty"`
	// ScrapeClassUsersDefault: the class taken over was the user's default.
	ScrapeClassUsersDefault bool `json:"scrapeClassUsersDefault,omitempty"`
	// Jobs are the scrape jobs the function wrote into the scraper's
	// configuration, by job_name.
	Jobs []string `json:"jobs,omitempty"`
	// Created are the objects the function created for the scraper (an
	// operator's additional scrape configs Secret, a ScrapeConfig), as
	// Kind/namespace/name: deleted once it no longer needs them.
	Created []string `json:"created,omitempty"`
}

// Read returns what an earlier run recorded on the pod template.
func Read(template *yaml.RNode) (Record, error) {
	var r Record
	n, err := template.Pipe(yaml.Lookup("metadata", "annotations", Annotation))
	if err != nil || n == nil {
		return r, nil
	}
	if err := json.Unmarshal([]byte(yaml.GetValue(n)), &r); err != nil {
		return r, krmerr.Errorf("metadata.annotations."+Annotation, "is not the JSON this function writes: %v", err)
	}
	return r, nil
}

// Write stores r, as the last annotation (after everything the run added, so
// re-runs keep the order), or removes the annotation when r holds nothing to undo:
// no pod-template element, no injection or ambient record, no job, no object
// created (a scrape class alone is found again by its name).
func Write(template *yaml.RNode, r Record) error {
	if r.Owned.Empty() && r.Injection == nil && r.Ambient == nil && len(r.Jobs) == 0 && len(r.Created) == 0 {
		_, err := template.Pipe(yaml.Lookup(annotations...), yaml.Clear(Annotation))
		return err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := meta.Delete(template, annotations, Annotation); err != nil {
		return err
	}
	return meta.Set(template, annotations, Annotation, string(b))
}
