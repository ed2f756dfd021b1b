package selection

import (
	"fmt"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// maxExpanded bounds a value after $(VAR) expansion. The kubelet sets no bound,
// but a config file path is at most PATH_MAX (4 KiB) long, and variables that
// name earlier ones twice double at each step: past this, the value is refused
// rather than built.
const maxExpanded = 64 << 10

// environ is the environment the kubelet gives container c before it starts
// it (pkg/kubelet's makeEnvironmentVariables): envFrom first, each source
// overriding the ones before it, then env in order, each value expanded
// against the variables defined before it (an env value is expanded once, when
// it is defined, and never again). Values are worked out only when asked for,
// and each once.
type environ struct {
	ix    *Index
	ns    string
	field string // the container's field, for errors
	what  string // what is expanded, for errors ("--config.file=$(CFG)")
	c     corev1.Container
	memo  map[int]envValue
}

// envValue is one variable's value, or why the manifests cannot tell it.
type envValue struct {
	value string
	known bool
	err   error
}

// expandVars expands $(VAR) in an argument of container c as the kubelet does
// (its forked expansion package, k8s.io/kubernetes/third_party/forked/golang/
// expansion): $$ is a literal $, $(VAR) the value of the container's variable
// VAR, and a $(VAR) it has no variable for stays as written, as does a $( that
// is never closed. A variable whose value the manifests do not hold (valueFrom,
// a Secret, an object not in the list) is an error that says to name the
// config with spec.scrapeConfig; field names the container in it, and what the
// argument.
func (ix *Index) expandVars(arg, ns, field, what string, c corev1.Container) (string, error) {
	e := &environ{ix: ix, ns: ns, field: field, what: what, c: c, memo: map[int]envValue{}}
	return e.expand(arg, len(c.Env))
}

// expand is the kubelet's Expand of s, its variables those env[:before]
// and envFrom define.
func (e *environ) expand(s string, before int) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var out strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			out.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			out.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				out.WriteString("$(")
				i++
				break
			}
			name := s[i+2 : i+2+end]
			v := e.lookup(name, before)
			if v.err != nil {
				return "", v.err
			}
			if v.known {
				out.WriteString(v.value)
			} else {
				out.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			out.WriteByte('$')
			out.WriteByte(s[i+1])
			i++
		}
		if out.Len() > maxExpanded {
			return "", krmerr.Errorf(e.field, "container %q passes %s, which expands to more than %d KiB once the kubelet expands its $(VAR)s (%s does); no config file path is that long: set spec.scrapeConfig to name the object and key holding the scrape config", e.c.Name, krmerr.Clip(e.what), maxExpanded>>10, krmerr.Clip(s))
		}
	}
	return out.String(), nil
}

// lookup is the value of variable name as env[:before] and envFrom define it: the
// last of those env entries of that name, else the last envFrom source that
// has it.
func (e *environ) lookup(name string, before int) envValue {
	for i := before - 1; i >= 0; i-- {
		if e.c.Env[i].Name == name {
			return e.env(i)
		}
	}
	return e.fromEnvFrom(name)
}

// env is the value of env[i], expanded against the variables before it.
func (e *environ) env(i int) envValue {
	if v, ok := e.memo[i]; ok {
		return v
	}
	ev := e.c.Env[i]
	var v envValue
	if ev.ValueFrom != nil {
		v.err = krmerr.Errorf(e.field, "container %q names its config file with $(%s), whose value comes from env[%d].valueFrom, which the manifests do not hold; set spec.scrapeConfig to name the object and key holding the scrape config", e.c.Name, krmerr.Clip(ev.Name), i)
	} else {
		v.value, v.err = e.expand(ev.Value, i)
		v.known = v.err == nil
	}
	e.memo[i] = v
	return v
}

// fromEnvFrom is the value envFrom gives name: the last source defining it
// wins. Its values are not expanded (the kubelet takes them as they are).
func (e *environ) fromEnvFrom(name string) envValue {
	c := e.c
	for i := len(c.EnvFrom) - 1; i >= 0; i-- {
		src := c.EnvFrom[i]
		key, ok := strings.CutPrefix(name, src.Prefix)
		if !ok {
			continue
		}
		if src.ConfigMapRef == nil {
			return envValue{err: krmerr.Errorf(e.field, "container %q names its config file with $(%s), which envFrom[%d] may define from a Secret the function does not read; set spec.scrapeConfig to name the object and key holding the scrape config", c.Name, krmerr.Clip(name), i)}
		}
		j, err := e.ix.Lookup("ConfigMap", e.ns, src.ConfigMapRef.Name)
		if err != nil {
			return envValue{err: err}
		}
		if j < 0 {
			return envValue{err: krmerr.Errorf(e.field, "container %q names its config file with $(%s), which envFrom[%d] may define from ConfigMap %q; it is not in the list of resources (include it, or set spec.scrapeConfig)", c.Name, krmerr.Clip(name), i, src.ConfigMapRef.Name)}
		}
		if v, err := e.ix.Items[j].Pipe(yaml.Lookup("data", key)); err == nil && v != nil {
			return envValue{value: yaml.GetValue(v), known: true}
		}
	}
	return envValue{}
}

// unexpanded says what is left of a $(VAR) the container does not define.
func unexpanded(p string) string {
	if i := strings.Index(p, "$("); i >= 0 {
		if j := strings.IndexByte(p[i:], ')'); j >= 0 {
			return fmt.Sprintf(" (the kubelet leaves %s as written: the container defines no such variable)", krmerr.Clip(p[i:i+j+1]))
		}
	}
	return ""
}
