// Package kinds is the one home of the workload kinds the function knows: where
// each keeps its pod template, which ones a config may select, and which are
// prometheus-operator resources (the operator makes their pods).
package kinds

import (
	"slices"
	"strings"
)

// OperatorGroup is prometheus-operator's API group.
const OperatorGroup = "monitoring.coreos.com"

// entry is one workload kind.
type entry struct {
	Name string
	// Template is the path of the pod template; none for an operator kind.
	Template []string
	// Selectable: a Prometheus workload of this kind can be the function's target.
	Selectable bool
	// Operator: a prometheus-operator resource (OperatorGroup).
	Operator bool
}

var podTemplate = []string{"spec", "template"}

// all lists every kind, the selectable ones in the order messages name them.
var all = []entry{
	{Name: "Deployment", Template: podTemplate, Selectable: true},
	{Name: "StatefulSet", Template: podTemplate, Selectable: true},
	{Name: "DaemonSet", Template: podTemplate, Selectable: true},
	{Name: "Prometheus", Selectable: true, Operator: true},
	{Name: "PrometheusAgent", Selectable: true, Operator: true},
}

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

// IsOperator tells the prometheus-operator kinds, whatever their group.
func IsOperator(kind string) bool {
	k, ok := lookup(kind)
	return ok && k.Operator
}

// IsOperatorResource tells a Prometheus or PrometheusAgent of OperatorGroup.
func IsOperatorResource(apiVersion, kind string) bool {
	return IsOperator(kind) && strings.HasPrefix(apiVersion, OperatorGroup+"/")
}
