package selection

import (
	"fmt"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// expandVars expands $(VAR) in an argument of container c as the kubelet does
// before it starts the container (its forked expansion package): $$ is a literal
// $, $(VAR) the value of the container's variable VAR, and a $(VAR) it has no
// variable for stays as written. The values come from c's env (a literal value)
// or from a ConfigMap of its envFrom that is in the list; a variable whose value
// the manifests do not hold (valueFrom, a Secret, an object not in the list) is an
// error that says to name the config with spec.scrapeConfig.
func (ix *Index) expandVars(arg, ns string, c corev1.Container) (string, error) {
	if !strings.Contains(arg, "$") {
		return arg, nil
	}
	var out strings.Builder
	for i := 0; i < len(arg); i++ {
		if arg[i] != '$' || i+1 >= len(arg) {
			out.WriteByte(arg[i])
			continue
		}
		switch arg[i+1] {
		case '$':
			out.WriteByte('$')
			i++
			continue
		case '(':
			end := strings.IndexByte(arg[i+2:], ')')
			if end < 0 {
				out.WriteByte('$')
				continue
			}
			name := arg[i+2 : i+2+end]
			v, known, err := ix.envValue(name, ns, c)
			if err != nil {
				return "", err
			}
			if known {
				out.WriteString(v)
			} else {
				out.WriteString(arg[i : i+3+end])
			}
			i += 2 + end
			continue
		}
		out.WriteByte('$')
	}
	return out.String(), nil
}

// envValue is the value container c gives variable name, as the kubelet builds
// the environment: envFrom first, then env (a later definition wins).
func (ix *Index) envValue(name, ns string, c corev1.Container) (string, bool, error) {
	for i := len(c.Env) - 1; i >= 0; i-- {
		e := c.Env[i]
		if e.Name != name {
			continue
		}
		if e.ValueFrom != nil {
			return "", false, krmerr.Errorf("spec.containers", "container %q names its config file with $(%s), whose value comes from env[%d].valueFrom, which the manifests do not hold; set spec.scrapeConfig to name the object and key holding the scrape config", c.Name, name, i)
		}
		return e.Value, true, nil
	}
	for i := len(c.EnvFrom) - 1; i >= 0; i-- {
		src := c.EnvFrom[i]
		key, ok := strings.CutPrefix(name, src.Prefix)
		if !ok {
			continue
		}
		if src.ConfigMapRef == nil {
			return "", false, krmerr.Errorf("spec.containers", "container %q names its config file with $(%s), which envFrom[%d] may define from a Secret the function does not read; set spec.scrapeConfig to name the object and key holding the scrape config", c.Name, name, i)
		}
		j, err := ix.Lookup("ConfigMap", ns, src.ConfigMapRef.Name)
		if err != nil {
			return "", false, err
		}
		if j < 0 {
			return "", false, krmerr.Errorf("spec.containers", "container %q names its config file with $(%s), which envFrom[%d] may define from ConfigMap %q; it is not in the list of resources (include it, or set spec.scrapeConfig)", c.Name, name, i, src.ConfigMapRef.Name)
		}
		if v, err := ix.Items[j].Pipe(yaml.Lookup("data", key)); err == nil && v != nil {
			return yaml.GetValue(v), true, nil
		}
	}
	return "", false, nil
}

// unexpanded says what is left of a $(VAR) the container does not define.
func unexpanded(p string) string {
	if i := strings.Index(p, "$("); i >= 0 {
		return fmt.Sprintf(" (the kubelet leaves %s as written: the container defines no such variable)", p[i:i+strings.IndexByte(p[i:], ')')+1])
	}
	return ""
}
