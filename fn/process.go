package main

import (
	"errors"
	"fmt"
	"slices"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/config"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/plan"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/selection"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/workload"
	"github.com/kptdev/krm-functions-sdk/go/fn"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// process is the ResourceListProcessor. It only wires: the config is parsed, the
// workload selected, a plan made for it, and the workload's adapter carries the plan
// out on copies; the copies go into the list only when every step succeeded, so
// an error leaves every item as it came in.
func process(rl *fn.ResourceList) (bool, error) {
	// The results are this run's: a list that comes back through the function
	// (a re-run on its own output) does not carry the earlier run's along.
	rl.Results = nil
	var cfgNode *yaml.RNode
	if rl.FunctionConfig != nil && !rl.FunctionConfig.IsEmpty() {
		cfgNode = rl.FunctionConfig.CopyToResourceNode()
	}
	fail := func(err error) (bool, error) {
		errs := krmerr.Split(err)
		for i, e := range errs {
			if i == maxErrors {
				rl.Results = append(rl.Results, &fn.Result{Severity: fn.Error, Message: fmt.Sprintf("and %d more errors like these, not listed", len(errs)-i)})
				break
			}
			rl.Results = append(rl.Results, errorResult(e, cfgNode))
		}
		return false, nil
	}
	cfg, assumed, err := config.Parse(cfgNode)
	if err != nil {
		return fail(err)
	}
	if err := fn.CheckResourceDuplication(rl); err != nil {
		return fail(fmt.Errorf("the ResourceList is invalid: %w", err))
	}

	// Hand the item nodes to the transformers without copying them, and back.
	nodes := make([]*yaml.RNode, len(rl.Items))
	for i, it := range rl.Items {
		nodes[i] = it.MoveToResourceNode()
	}
	out, notes, warning, err := transform(nodes, cfg)
	if err != nil {
		out = nodes
	}
	rl.Items = rl.Items[:0]
	for _, n := range out {
		rl.Items = append(rl.Items, fn.MoveToKubeObject(n))
	}
	if err != nil {
		return fail(err)
	}
	// Said when something was written with it: an error run wrote nothing.
	if warning != "" {
		rl.Results = append(rl.Results, &fn.Result{Severity: fn.Warning, ResourceRef: resultRef(krmerr.RefOf(cfgNode)),
			Field: &fn.Field{Path: "spec.istio.version"}, Message: warning})
	}
	if assumed.Version {
		rl.Results = append(rl.Results, &fn.Result{Severity: fn.Info, ResourceRef: resultRef(krmerr.RefOf(cfgNode)),
			Field: &fn.Field{Path: "spec.istio.version"}, Message: assumedVersion(cfg.Spec.Istio.Version)})
	}
	for _, n := range notes {
		severity := fn.Info
		if n.Warn {
			severity = fn.Warning
		}
		r := &fn.Result{Severity: severity, Message: clipResult(n.Message), ResourceRef: resultRef(n.Ref)}
		if n.Field != "" {
			r.Field = &fn.Field{Path: n.Field}
		}
		rl.Results = append(rl.Results, r)
	}
	return true, nil
}

// transform selects the workload, plans and applies. On success it returns nodes
// with the edited items replaced (and any item created appended, any deleted
// left out), the notes, and the plan's warning about the Istio version; on error
// nodes are untouched.
func transform(nodes []*yaml.RNode, cfg *config.PrometheusMTLS) ([]*yaml.RNode, []workload.Note, string, error) {
	ix, err := selection.NewIndex(nodes)
	if err != nil {
		return nil, nil, "", err
	}
	sel, err := ix.SelectWorkload(cfg.Spec.Target)
	if err != nil {
		return nil, nil, "", err
	}
	a, err := workload.For(ix, sel, cfg.Spec.ScrapeConfig)
	if err != nil {
		return nil, nil, "", err
	}
	p, err := plan.New(cfg, a.Target())
	if err != nil {
		return nil, nil, "", err
	}
	done, err := a.Apply(p)
	if err != nil {
		return nil, nil, "", err
	}
	out := append([]*yaml.RNode{}, nodes...)
	for _, e := range done.Edits {
		if e.Index >= 0 {
			out[e.Index] = e.Node // nil: deleted
		} else {
			out = append(out, e.Node)
		}
	}
	return slices.DeleteFunc(out, func(n *yaml.RNode) bool { return n == nil }), done.Notes, p.Istio.Warning(), nil
}

// maxErrors bounds the error results of one kind that a run reports.
const maxErrors = 10

// assumedVersion is the info result for a config that sets no Istio version.
func assumedVersion(v string) string {
	return fmt.Sprintf("istio.version not set: assuming %s, the newest this release knows; set it to your control plane's version", v)
}

// errorResult reports err; an error about the function config names the config
// (when there is one) as its resource.
func errorResult(err error, cfgNode *yaml.RNode) *fn.Result {
	r := &fn.Result{Severity: fn.Error, Message: clipResult(err.Error())}
	var e *krmerr.Error
	if !errors.As(err, &e) {
		return r
	}
	r.Message = clipResult(e.Message)
	ref := e.Ref
	if ref == nil && e.Config {
		ref = krmerr.RefOf(cfgNode)
	}
	r.ResourceRef = resultRef(ref)
	if e.Field != "" {
		r.Field = &fn.Field{Path: e.Field}
	}
	return r
}

// maxResultMessage bounds one result's message: each quotes the user's values
// clipped (krmerr.Clip), and this is the net under them.
const maxResultMessage = 4 << 10

func clipResult(m string) string { return krmerr.ClipTo(m, maxResultMessage) }

func resultRef(r *krmerr.Ref) *fn.ResourceRef {
	if r == nil {
		return nil
	}
	return &fn.ResourceRef{APIVersion: r.APIVersion, Kind: r.Kind, Name: r.Name, Namespace: r.Namespace}
}
