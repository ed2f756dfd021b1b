// Package injection steers Istio's own sidecar injector with pod template labels and
// annotations (the route istio.io documents for Prometheus with mTLS): injection on,
// no traffic captured, certificates written to a volume the pod declares. Every edit
// is recorded so Disable can undo it exactly when the mode changes back.
package injection

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/meta"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Keys Istio reads.
const (
	LabelInject         = "sidecar.istio.io/inject"
	labelRevision       = "istio.io/rev"
	annInboundPorts     = "traffic.sidecar.istio.io/includeInboundPorts"
	annOutboundIPRanges = "traffic.sidecar.istio.io/includeOutboundIPRanges"
	annProxyConfig      = "proxy.istio.io/config"
	annUserVolumeMount  = "sidecar.istio.io/userVolumeMount"
	annNativeSidecar    = "sidecar.istio.io/nativeSidecar"
	// LabelDataplaneMode enrols a pod (or namespace) in ambient mode when it is
	// DataplaneAmbient.
	LabelDataplaneMode = "istio.io/dataplane-mode"
	DataplaneAmbient   = "ambient"
)

var (
	labelsPath      = []string{"metadata", "labels"}
	annotationsPath = []string{"metadata", "annotations"}
)

// Options say what to ask the injector for.
type Options struct {
	Revision string
	// OutputCertsDir is where istio-proxy writes the certificates (OUTPUT_CERTS).
	OutputCertsDir string
	CertVolume     string
	// Native, when set, is written to sidecar.istio.io/nativeSidecar; nil leaves
	// the choice to the injector (ENABLE_NATIVE_SIDECARS).
	Native *bool
}

// Record is what Enable changed in the pod template's metadata, for Disable to
// undo it.
type Record struct {
	// Created lists "labels/KEY" and "annotations/KEY" entries the function added.
	Created []string `json:"created,omitempty"`
	// Replaced holds the earlier values of entries it changed or removed.
	Replaced map[string]string `json:"replaced,omitempty"`
	// Merged lists annotations it merged an entry into (proxy config, user mounts).
	Merged []string `json:"merged,omitempty"`
	// Volume and Dir are the certificate volume and OUTPUT_CERTS directory merged in.
	Volume string `json:"volume,omitempty"`
	Dir    string `json:"dir,omitempty"`
}

type change struct {
	path []string
	key  string
	// value to set; remove deletes the key instead.
	value  string
	remove bool
}

func (c change) id() string { return c.path[1] + "/" + c.key }

// Enable edits the pod template's metadata and returns the record that undoes it.
// Call Disable with the previous record first.
func Enable(tpl *yaml.RNode, o Options) (*Record, error) {
	rec := &Record{Replaced: map[string]string{}, Volume: o.CertVolume, Dir: o.OutputCertsDir}
	changes := []change{}
	if o.Revision != "" {
		// Istio expects the revision label and no inject label/annotation then.
		changes = append(changes,
			change{path: labelsPath, key: labelRevision, value: o.Revision},
			change{path: labelsPath, key: LabelInject, remove: true},
			change{path: annotationsPath, key: LabelInject, remove: true})
	} else {
		changes = append(changes,
			change{path: labelsPath, key: LabelInject, value: "true"},
			change{path: annotationsPath, key: LabelInject, value: "true"})
	}
	// The proxy captures nothing: Prometheus's scrapes go out with its own TLS.
	changes = append(changes,
		change{path: annotationsPath, key: annInboundPorts, value: ""},
		change{path: annotationsPath, key: annOutboundIPRanges, value: ""})
	if o.Native != nil {
		changes = append(changes, change{path: annotationsPath, key: annNativeSidecar, value: strconv.FormatBool(*o.Native)})
	}
	if err := applyChanges(tpl, changes, rec); err != nil {
		return nil, err
	}
	for _, m := range []struct {
		key   string
		merge func(string, Options) (string, error)
	}{{annProxyConfig, mergeProxyConfig}, {annUserVolumeMount, mergeUserVolumeMount}} {
		prev, had := meta.Get(tpl, annotationsPath, m.key)
		next, err := m.merge(prev, o)
		if err != nil {
			return nil, krmerr.Errorf("metadata.annotations."+m.key, "%v", err)
		}
		if had {
			rec.Merged = append(rec.Merged, m.key)
		} else {
			rec.Created = append(rec.Created, "annotations/"+m.key)
		}
		if !had || next != prev {
			if err := meta.Set(tpl, annotationsPath, m.key, next); err != nil {
				return nil, err
			}
		}
	}
	sort.Strings(rec.Created)
	if len(rec.Replaced) == 0 {
		rec.Replaced = nil
	}
	return rec, nil
}

// TakeOverSteering removes what steered Istio's injector to write the workload
// certificates into certVolume, in a hand-written injection-route setup (Istio's
// secure-metrics sample, for one) that sidecar mode takes over: the volume's entry
// in sidecar.istio.io/userVolumeMount and OUTPUT_CERTS in proxy.istio.io/config,
// which would name a directory the function's sidecar does not write. An
// annotation left empty goes; the rest of each stays.
func TakeOverSteering(tpl *yaml.RNode, certVolume string) error {
	for key, edit := range map[string]func(string) (string, error){
		annUserVolumeMount: func(v string) (string, error) { return editUserMounts(v, Options{CertVolume: certVolume}, false) },
		annProxyConfig:     withoutOutputCerts,
	} {
		prev, had := meta.Get(tpl, annotationsPath, key)
		if !had {
			continue
		}
		next, err := edit(prev)
		if err != nil {
			return krmerr.Errorf("metadata.annotations."+key, "%v", err)
		}
		switch {
		case next == prev:
		case strings.TrimSpace(next) == "":
			err = meta.Delete(tpl, annotationsPath, key)
		default:
			err = meta.Set(tpl, annotationsPath, key, next)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// withoutOutputCerts removes proxyMetadata.OUTPUT_CERTS, whatever its value,
// from a proxy.istio.io/config value.
func withoutOutputCerts(value string) (string, error) {
	root, err := proxyConfig(value)
	if err != nil {
		return "", err
	}
	v, _ := root.Pipe(yaml.Lookup("proxyMetadata", "OUTPUT_CERTS"))
	if v == nil {
		return value, nil
	}
	return unmergeProxyConfig(value, Options{OutputCertsDir: yaml.GetValue(v)})
}

// applyChanges makes each change and records in rec how to undo it.
func applyChanges(tpl *yaml.RNode, changes []change, rec *Record) error {
	for _, c := range changes {
		prev, had := meta.Get(tpl, c.path, c.key)
		switch {
		case c.remove && had:
			rec.Replaced[c.id()] = prev
			if err := meta.Delete(tpl, c.path, c.key); err != nil {
				return err
			}
		case c.remove:
		case had && prev == c.value:
			// Already so; nothing to undo.
		default:
			if had {
				rec.Replaced[c.id()] = prev
			} else {
				rec.Created = append(rec.Created, c.id())
			}
			if err := meta.Set(tpl, c.path, c.key, c.value); err != nil {
				return err
			}
		}
	}
	return nil
}

// EnrollAmbient labels the pod template for Istio's ambient mode
// (istio.io/dataplane-mode: ambient, istio.io "Add workloads to the mesh") and
// returns the record that undoes it with Disable; nil when the pod already had it.
func EnrollAmbient(tpl *yaml.RNode) (*Record, error) {
	rec := &Record{Replaced: map[string]string{}}
	if err := applyChanges(tpl, []change{{path: labelsPath, key: LabelDataplaneMode, value: DataplaneAmbient}}, rec); err != nil {
		return nil, err
	}
	if len(rec.Created) == 0 && len(rec.Replaced) == 0 {
		return nil, nil
	}
	if len(rec.Replaced) == 0 {
		rec.Replaced = nil
	}
	return rec, nil
}

// Disable undoes what Enable recorded in rec.
func Disable(tpl *yaml.RNode, rec *Record) error {
	if rec == nil {
		return nil
	}
	o := Options{CertVolume: rec.Volume, OutputCertsDir: rec.Dir}
	for _, id := range rec.Created {
		where, key, _ := strings.Cut(id, "/")
		if err := meta.Delete(tpl, []string{"metadata", where}, key); err != nil {
			return err
		}
	}
	for _, id := range slices.Sorted(maps.Keys(rec.Replaced)) {
		where, key, _ := strings.Cut(id, "/")
		if err := meta.Set(tpl, []string{"metadata", where}, key, rec.Replaced[id]); err != nil {
			return err
		}
	}
	for _, key := range rec.Merged {
		prev, had := meta.Get(tpl, annotationsPath, key)
		if !had {
			continue
		}
		undo := unmergeProxyConfig
		if key == annUserVolumeMount {
			undo = unmergeUserVolumeMount
		}
		next, err := undo(prev, o)
		if err != nil {
			return krmerr.Errorf("metadata.annotations."+key, "%v", err)
		}
		if next != prev {
			if err := meta.Set(tpl, annotationsPath, key, next); err != nil {
				return err
			}
		}
	}
	// Maps left empty were created by Enable: an empty map and none mean the same.
	for _, p := range [][]string{labelsPath, annotationsPath} {
		if m, _ := tpl.Pipe(yaml.Lookup(p...)); m != nil && m.YNode().Kind == yaml.MappingNode && len(m.YNode().Content) == 0 {
			if _, err := tpl.Pipe(yaml.Lookup("metadata"), yaml.Clear(p[1])); err != nil {
				return err
			}
		}
	}
	return nil
}

// mergeProxyConfig sets proxyMetadata.OUTPUT_CERTS in a proxy.istio.io/config value
// (ProxyConfig YAML), keeping everything else in it.
func mergeProxyConfig(value string, o Options) (string, error) {
	root, err := proxyConfig(value)
	if err != nil {
		return "", err
	}
	md, err := root.Pipe(yaml.LookupCreate(yaml.MappingNode, "proxyMetadata"))
	if err != nil || md.YNode().Kind != yaml.MappingNode {
		return "", fmt.Errorf("proxyMetadata must be a mapping")
	}
	// First in proxyMetadata, so that a re-run (which undoes the merge first)
	// puts it back where it was: the annotation's text stays byte for byte.
	if _, err := md.Pipe(yaml.Clear("OUTPUT_CERTS")); err != nil {
		return "", err
	}
	md.YNode().Content = append([]*yaml.Node{{Kind: yaml.ScalarNode, Value: "OUTPUT_CERTS"}, yaml.NewStringRNode(o.OutputCertsDir).YNode()}, md.YNode().Content...)
	return root.MustString(), nil
}

// unmergeProxyConfig removes our OUTPUT_CERTS (and what becomes empty).
func unmergeProxyConfig(value string, o Options) (string, error) {
	root, err := proxyConfig(value)
	if err != nil {
		return "", err
	}
	md, _ := root.Pipe(yaml.Lookup("proxyMetadata"))
	if md == nil {
		return value, nil
	}
	if v, _ := md.Pipe(yaml.Lookup("OUTPUT_CERTS")); v != nil && yaml.GetValue(v) == o.OutputCertsDir {
		md.Pipe(yaml.Clear("OUTPUT_CERTS"))
	}
	if len(md.YNode().Content) == 0 {
		root.Pipe(yaml.Clear("proxyMetadata"))
	}
	if len(root.YNode().Content) == 0 {
		return "", nil
	}
	return root.MustString(), nil
}

func proxyConfig(value string) (*yaml.RNode, error) {
	if strings.TrimSpace(value) == "" {
		return yaml.NewRNode(&yaml.Node{Kind: yaml.MappingNode}), nil
	}
	root, err := yaml.Parse(value)
	if err != nil {
		return nil, fmt.Errorf("is not ProxyConfig YAML: %v", err)
	}
	if root.YNode().Kind != yaml.MappingNode {
		return nil, fmt.Errorf("is not ProxyConfig YAML: not a mapping")
	}
	return root, nil
}

// userMount is one entry of sidecar.istio.io/userVolumeMount.
type userMount struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
}

// mergeUserVolumeMount adds our mount to the JSON list (or Istio's older map form,
// {"volume": {"mountPath": ...}}) of sidecar.istio.io/userVolumeMount.
func mergeUserVolumeMount(value string, o Options) (string, error) {
	return editUserMounts(value, o, true)
}

// unmergeUserVolumeMount removes our mount.
func unmergeUserVolumeMount(value string, o Options) (string, error) {
	return editUserMounts(value, o, false)
}

func editUserMounts(value string, o Options, add bool) (string, error) {
	ours := userMount{Name: o.CertVolume, MountPath: o.OutputCertsDir}
	v := strings.TrimSpace(value)
	if strings.HasPrefix(v, "{") {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(v), &m); err != nil {
			return "", fmt.Errorf("is not JSON: %v", err)
		}
		delete(m, o.CertVolume)
		if add {
			b, _ := json.Marshal(map[string]string{"mountPath": o.OutputCertsDir})
			m[o.CertVolume] = b
		}
		if len(m) == 0 {
			return "", nil
		}
		b, err := json.Marshal(m)
		return string(b), err
	}
	var list []json.RawMessage
	if v != "" {
		if err := json.Unmarshal([]byte(v), &list); err != nil {
			return "", fmt.Errorf("is not a JSON list of volume mounts: %v", err)
		}
	}
	out := list[:0]
	for _, raw := range list {
		var um userMount
		if json.Unmarshal(raw, &um) == nil && um.Name == o.CertVolume {
			continue
		}
		out = append(out, raw)
	}
	if add {
		b, _ := json.Marshal(ours)
		out = append(out, b)
	}
	if len(out) == 0 {
		return "", nil
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// written are the labels and annotations Enable and EnrollAmbient write, as a
// Record names them ("labels/KEY", "annotations/KEY"): the only ones an undo
// record may name.
var written = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range []string{LabelInject, labelRevision, LabelDataplaneMode} {
		m["labels/"+k] = true
	}
	for _, k := range []string{LabelInject, annInboundPorts, annOutboundIPRanges, annProxyConfig, annUserVolumeMount, annNativeSidecar} {
		m["annotations/"+k] = true
	}
	return m
}()

// Verify keeps of rec the entries about labels and annotations this package
// writes, and returns the others, described: a record naming the user's own
// label (copied from another workload, edited by hand) must not make Disable
// delete or rewrite it.
func Verify(rec *Record) (*Record, []string) {
	if rec == nil {
		return nil, nil
	}
	var doubts []string
	doubt := func(id string) {
		where, key, _ := strings.Cut(id, "/")
		doubts = append(doubts, fmt.Sprintf("%s %q of the pod template (not one this function writes)", strings.TrimSuffix(where, "s"), krmerr.Clip(key)))
	}
	c := *rec
	c.Created = slices.DeleteFunc(slices.Clone(rec.Created), func(id string) bool {
		if !written[id] {
			doubt(id)
			return true
		}
		return false
	})
	if rec.Replaced != nil {
		c.Replaced = map[string]string{}
		for _, id := range slices.Sorted(maps.Keys(rec.Replaced)) {
			if written[id] {
				c.Replaced[id] = rec.Replaced[id]
			} else {
				doubt(id)
			}
		}
	}
	c.Merged = slices.DeleteFunc(slices.Clone(rec.Merged), func(key string) bool {
		if key != annProxyConfig && key != annUserVolumeMount {
			doubt("annotations/" + key)
			return true
		}
		return false
	})
	return &c, doubts
}
