// Package kinds is the one home of the workload kinds the function knows: where
// each keeps its pod template, which ones a config may select, and which are
// operators' resources (the operator makes their pods; the scraper table says
// which operator, and of which scraper).
package kinds

import (
	"slices"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/scrapers"
)

// entry is one workload kind.
type entry struct {
	Name string
	// Template is the path of the pod template; none for an operator kind.
	Template []string
	// Selectable: a Prometheus workload of this kind can be the function's target.
	Selectable bool
	// Operator: an operator's resource, of API group Group.
	Operator bool
	Group    string
}

var podTemplate = []string{"spec", "template"}

// all lists every kind, the selectable ones in the order messages name them.
var all = func() []entry {
	out := []entry{
		{Name: "Deployment", Template: podTemplate, Selectable: true},
		{Name: "StatefulSet", Template: podTemplate, Selectable: true},
		{Name: "DaemonSet", Template: podTemplate, Selectable: true},
	}
	for _, s := range scrapers.Table {
		for _, r := range s.Resources {
			for _, k := range r.Kinds {
				out = append(out, entry{Name: k, Selectable: true, Operator: true, Group: r.Group})
			}
		}
	}
	return out
}()

func lookup(kind string) (entry, bool) {
	i := slices.IndexFunc(all, func(k entry) bool { return k.Name == kind })
	if i < 0 {
		return entry{}, false
	}
	return all[i], true
}

// Selectable names the kinds a config may select, in table order.
func Selectable() []string {
	var out []string
	for _, k := range all {
		if k.Selectable {
			out = append(out, k.Name)
		}
	}
	return out
}

// IsSelectable tells whether kind can be the function's target.
func IsSelectable(kind string) bool {
	k, ok := lookup(kind)
	return ok && k.Selectable
}

// TemplatePath returns the path of kind's pod template.
func TemplatePath(kind string) ([]string, bool) {
	k, ok := lookup(kind)
	if !ok || k.Template == nil {
		return nil, false
	}
	return slices.Clone(k.Template), true
}

// IsOperator tells the operators' kinds, whatever their group.
func IsOperator(kind string) bool {
	k, ok := lookup(kind)
	return ok && k.Operator
}

// IsOperatorResource tells an operator's kind of its own API group.
func IsOperatorResource(apiVersion, kind string) bool {
	k, ok := lookup(kind)
	return ok && k.Operator && strings.HasPrefix(apiVersion, k.Group+"/")
}

// Operators names the operators' kinds with their groups, for messages:
// "monitoring.coreos.com Prometheus or PrometheusAgent, …".
func Operators() string {
	var parts []string
	for _, s := range scrapers.Table {
		for _, r := range s.Resources {
			parts = append(parts, r.Group+" "+strings.Join(r.Kinds, " or "))
		}
	}
	return strings.Join(parts, ", ")
}
