package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/config"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/injection"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/operator"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/podtemplate"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/profiles"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/scrapeconfig"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/selection"
	"github.com/kptdev/krm-functions-sdk/go/fn"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// process is the ResourceListProcessor. It edits copies of the workload and its
// scrape config and puts them into the list only when every step succeeded, so an
// error leaves every item as it came in.
func process(rl *fn.ResourceList) (bool, error) {
	var cfgNode *yaml.RNode
	if rl.FunctionConfig != nil && !rl.FunctionConfig.IsEmpty() {
		cfgNode = rl.FunctionConfig.CopyToResourceNode()
	}
	cfg, err := config.Parse(cfgNode)
	if err != nil {
		for _, e := range krmerr.Split(krmerr.At(cfgNode, err)) {
			rl.Results = append(rl.Results, errorResult(e))
		}
		return false, nil
	}
	istio, err := chooseIstio(cfg)
	if err != nil {
		rl.Results = append(rl.Results, errorResult(krmerr.At(cfgNode, err)))
		return false, nil
	}
	if istio.newer {
		n := profiles.Newest()
		rl.Results = append(rl.Results, &fn.Result{Severity: fn.Warning, ResourceRef: refOf(cfgNode), Field: &fn.Field{Path: "spec.istio.version"},
			Message: fmt.Sprintf("Istio %s is newer than the newest profile: using profile %s (1.%d–1.%d), so the sidecar follows Istio 1.%d's injector; compare it with `istioctl kube-inject` of %s",
				cfg.Spec.Istio.Version, n.Name, n.MinMinor, n.MaxMinor, n.MaxMinor, cfg.Spec.Istio.Version)})
	}
	if err := fn.CheckResourceDuplication(rl); err != nil {
		rl.Results = append(rl.Results, errorResult(fmt.Errorf("the ResourceList is invalid: %w", err)))
		return false, nil
	}

	// Hand the item nodes to the transformers without copying them, and back.
	nodes := make([]*yaml.RNode, len(rl.Items))
	for i, it := range rl.Items {
		nodes[i] = it.MoveToResourceNode()
	}
	out, results, err := transform(nodes, cfg, istio)
	if err != nil {
		out = nodes
	}
	rl.Items = rl.Items[:0]
	for _, n := range out {
		rl.Items = append(rl.Items, fn.MoveToKubeObject(n))
	}
	if err != nil {
		// An error about the config names the config (when there is one).
		var e *krmerr.Error
		if errors.As(err, &e) && e.Config && cfgNode != nil {
			err = krmerr.At(cfgNode, err)
		}
		rl.Results = append(rl.Results, errorResult(err))
		return false, nil
	}
	rl.Results = append(rl.Results, results...)
	return true, nil
}

// transform runs the transformers on nodes. On success it returns nodes with the
// edited items replaced (and any item it creates appended); on error nodes are
// untouched.
func transform(nodes []*yaml.RNode, cfg *config.PrometheusMTLS, istio istioChoice) ([]*yaml.RNode, fn.Results, error) {
	ix, err := selection.NewIndex(nodes)
	if err != nil {
		return nil, nil, err
	}
	sel, err := ix.SelectWorkload(cfg.Spec.Target)
	if err != nil {
		return nil, nil, err
	}
	j := &job{cfg: cfg, istio: istio, ix: ix, original: nodes[sel.Item], nodes: nodes}
	j.workload = j.original.Copy()
	if sel.Operator {
		err = j.operatorResource()
	} else {
		err = j.podController(sel)
	}
	if err != nil {
		return nil, nil, err
	}
	out := append([]*yaml.RNode{}, nodes...)
	out[sel.Item] = j.workload
	for _, e := range j.edits {
		if e.index >= 0 {
			out[e.index] = e.node
		} else {
			out = append(out, e.node)
		}
	}
	return out, j.results, nil
}

// job is one run of the function on one selected workload.
type job struct {
	cfg      *config.PrometheusMTLS
	istio    istioChoice // the profile, and the sidecar's form
	ix       *selection.Index
	nodes    []*yaml.RNode
	original *yaml.RNode // as it came in
	workload *yaml.RNode // the copy being edited
	edits    []edit      // other items edited (index >= 0) or created (index -1)
	results  fn.Results
}

// istioChoice is what the config's Istio version and nativeSidecar come to.
type istioChoice struct {
	profile profiles.Profile
	newer   bool // the version is newer than the table: the newest profile is used
	// native: istio-proxy as a native sidecar (sidecar mode); nativeWhy says why.
	native    bool
	nativeWhy string
	// inject is the nativeSidecar annotation for injection mode (nil: the injector decides).
	inject *bool
}

func chooseIstio(cfg *config.PrometheusMTLS) (istioChoice, error) {
	is := cfg.Spec.Istio
	minor, _ := config.ParseVersion(is.Version)
	profile, newer, ok := profiles.Resolve(minor)
	if !ok {
		return istioChoice{}, krmerr.ConfigErrorf("spec.istio.version", "Istio %s is not supported (supported: %s, and newer releases with the newest profile)", is.Version, profiles.Supported())
	}
	c := istioChoice{profile: profile, newer: newer, inject: is.NativeSidecar}
	switch {
	case is.NativeSidecar != nil && *is.NativeSidecar:
		c.native, c.nativeWhy = true, "native sidecar, as spec.istio.nativeSidecar asks"
	case is.NativeSidecar != nil:
		c.nativeWhy = "classic sidecar, as spec.istio.nativeSidecar asks"
	case minor >= profiles.NativeSidecarsSince:
		c.native, c.nativeWhy = true, fmt.Sprintf("native sidecar, as Istio's injector makes it since 1.%d where every node runs kubelet 1.33 or newer; set spec.istio.nativeSidecar false if a node runs a kubelet older than 1.29", profiles.NativeSidecarsSince)
	default:
		c.nativeWhy = fmt.Sprintf("classic sidecar, as Istio's injector makes it before 1.%d", profiles.NativeSidecarsSince)
	}
	return c, nil
}

type edit struct {
	index int
	node  *yaml.RNode
}

func (j *job) scrapeOptions() scrapeconfig.Options {
	return scrapeconfig.Options{
		JobName:       j.cfg.Spec.ScrapeJob.Name,
		CertDir:       j.cfg.Spec.Certificates.MountPath,
		ExcludeFrom:   j.cfg.Spec.ScrapeJob.ExcludeFrom,
		TakeOver:      j.cfg.Spec.ScrapeJob.TakeOver,
		SecurePortJob: j.cfg.Spec.ScrapeJob.SecurePortJob,
	}
}

// podController handles a Deployment, StatefulSet or DaemonSet and its prometheus.yml.
func (j *job) podController(sel selection.Workload) error {
	tpl, tplField, err := podtemplate.Template(j.workload)
	if err != nil {
		return krmerr.At(j.original, err)
	}
	at := func(err error) error { return j.at(tplField, "metadata", err) }
	src, err := j.ix.ScrapeConfig(j.original, tpl, sel.ContainerSpec, j.cfg.Spec.ScrapeConfig)
	if err != nil {
		return at(err)
	}
	w := j.original
	sidecar, err := j.istio.profile.Build(sidecarParams(j.cfg, j.istio.native, w.GetApiVersion(), w.GetKind(), w.GetName()))
	if err != nil {
		return krmerr.ConfigErrorf("spec.istio.envoy", "%v", err)
	}
	if err := checkMountPath(sel.ContainerSpec, j.cfg.Spec.Certificates); err != nil {
		return at(krmerr.Prefix(fmt.Sprintf("spec.containers[%d]", sel.Container), err))
	}
	if err := applyMode(tpl, j.cfg, j.istio, certMount(j.cfg, sel.ContainerSpec.Name), sidecar, ""); err != nil {
		return at(err)
	}
	j.reportWorkload(tplField, fmt.Sprintf("container %q", sel.ContainerSpec.Name), "")

	cm := j.nodes[src.Item].Copy()
	text, form, err := scrapeconfig.ReadValue(cm, src.Kind, src.Key)
	if err != nil {
		return krmerr.At(cm, err)
	}
	edited, rep, err := scrapeconfig.Edit(text, j.scrapeOptions())
	if err != nil {
		return valueError(cm, src.Kind, src.Key, form, err, "the Prometheus config; "+src.Via)
	}
	if err := scrapeconfig.WriteValue(cm, src.Kind, src.Key, edited, form); err != nil {
		return krmerr.At(cm, err)
	}
	if text != edited {
		j.reportJobs(cm, src.Key, rep, "")
	}
	j.edits = append(j.edits, edit{src.Item, cm})
	return nil
}

// operatorResource handles a prometheus-operator Prometheus or PrometheusAgent.
func (j *job) operatorResource() error {
	cr := j.workload
	tpl, err := operator.Template(cr)
	if err != nil {
		return krmerr.At(j.original, err)
	}
	// The pod-template view's metadata is the resource's spec.podMetadata.
	at := func(err error) error { return j.at("", "spec.podMetadata", err) }
	old, err := podtemplate.ReadStatus(tpl)
	if err != nil {
		return at(err)
	}
	// The pods are the operator's StatefulSet's.
	sidecar, err := j.istio.profile.Build(sidecarParams(j.cfg, j.istio.native, "apps/v1", "StatefulSet", operator.StatefulSetName(cr)))
	if err != nil {
		return krmerr.ConfigErrorf("spec.istio.envoy", "%v", err)
	}
	if err := applyMode(tpl, j.cfg, j.istio, certMount(j.cfg, ""), sidecar, operator.ScrapeClassName); err != nil {
		return at(err)
	}
	sj := j.cfg.Spec.ScrapeJob
	if err := operator.EnsureScrapeClass(cr, j.cfg.Spec.Certificates.MountPath, sj.DefaultScrapeClass, old.ScrapeClass != "", sj.TakeOver); err != nil {
		return at(err)
	}
	j.reportWorkload("spec", "the operator's prometheus container (spec.volumeMounts)", fmt.Sprintf("; scrape class %q in spec.scrapeClasses", operator.ScrapeClassName))

	name, key, err := operator.AdditionalScrapeConfigs(cr)
	if err != nil {
		return at(err)
	}
	var secret *yaml.RNode
	index, text, form := -1, "", scrapeconfig.FormBase64
	if name == "" {
		if secret, err = operator.NewScrapeSecret(cr); err != nil {
			return krmerr.At(j.original, err) // about the resource's own metadata.name
		}
		key = operator.AdditionalKey
	} else {
		i, err := j.ix.Lookup("Secret", cr.GetNamespace(), name)
		if err != nil {
			return at(krmerr.Errorf("spec.additionalScrapeConfigs", "%v", err))
		}
		if i < 0 {
			return at(krmerr.Errorf("spec.additionalScrapeConfigs", "references Secret %q (key %q), which is not in the list of resources: the function cannot edit what it cannot see; include the Secret, or remove the reference and the function creates one", name, key))
		}
		index, secret = i, j.nodes[i].Copy()
		if text, form, err = scrapeconfig.ReadValue(secret, "Secret", key); err != nil {
			return krmerr.At(secret, err)
		}
	}
	edited, rep, err := scrapeconfig.EditJobList(text, j.scrapeOptions())
	if err != nil {
		return valueError(secret, "Secret", key, form, err, fmt.Sprintf("the additional scrape configs of %s %s", cr.GetKind(), cr.GetName()))
	}
	if err := scrapeconfig.WriteValue(secret, "Secret", key, edited, form); err != nil {
		return krmerr.At(secret, err)
	}
	created := ""
	if index < 0 {
		created = "created, referenced by spec.additionalScrapeConfigs; "
	}
	if text != edited {
		j.reportJobs(secret, key, rep, created)
	}
	j.edits = append(j.edits, edit{index, secret})

	if mons := operator.SelectedMonitors(cr, j.nodes); len(mons) > 0 {
		j.results = append(j.results, infoResult(cr, "spec.scrapeClasses", fmt.Sprintf(
			"%s select(s) %s: their own tlsConfig cannot reference certificate files; to scrape sidecar pods over mTLS set scrapeClass: %s on them",
			cr.GetName(), strings.Join(mons, ", "), operator.ScrapeClassName)))
	}
	return nil
}

// at names the workload in err, unless err is about another resource already:
// field paths get prefix, and the view's "metadata" becomes metadata.
func (j *job) at(prefix, metadata string, err error) error {
	var e *krmerr.Error
	if !errors.As(err, &e) {
		return krmerr.At(j.original, err)
	}
	if e.Ref != nil || e.Config {
		return err // about another resource, or about the config
	}
	c := *e
	if rest, ok := strings.CutPrefix(c.Field, "metadata"); ok && metadata != "metadata" {
		c.Field = metadata + rest
	} else if prefix != "" {
		return krmerr.At(j.original, krmerr.Prefix(prefix, &c))
	}
	return krmerr.At(j.original, &c)
}

func valueError(obj *yaml.RNode, kind, key string, form scrapeconfig.Form, err error, what string) error {
	msg := err.Error()
	field := "data." + key
	if kind == "Secret" && form == scrapeconfig.FormData {
		field = "stringData." + key
	}
	return &krmerr.Error{Ref: krmerr.RefOf(obj), Field: field, Message: fmt.Sprintf("%s (%s)", msg, what)}
}

func certMount(cfg *config.PrometheusMTLS, container string) podtemplate.Mount {
	return podtemplate.Mount{Container: container, VolumeMount: corev1.VolumeMount{
		Name: cfg.Spec.Certificates.VolumeName, MountPath: cfg.Spec.Certificates.MountPath, ReadOnly: true}}
}

func (j *job) reportWorkload(field, into, suffix string) {
	if !changed(j.original, j.workload) {
		return
	}
	cfg := j.cfg
	what, form := "istio-proxy sidecar in spec.containers", j.istio.nativeWhy
	switch {
	case cfg.Spec.Mode == config.ModeInjection && j.istio.inject == nil:
		what, form = "Istio injection annotations (the injector adds istio-proxy)", "native or classic sidecar as the injector decides"
	case cfg.Spec.Mode == config.ModeInjection:
		what = "Istio injection annotations (the injector adds istio-proxy)"
	case j.istio.native:
		what = "istio-proxy sidecar in spec.initContainers"
	}
	j.results = append(j.results, infoResult(j.workload, field, fmt.Sprintf(
		"%s (Istio %s, profile %s; %s), certificate volume %q mounted into %s at %s%s",
		what, cfg.Spec.Istio.Version, j.istio.profile.Name, form, cfg.Spec.Certificates.VolumeName, into, cfg.Spec.Certificates.MountPath, suffix)))
}

func (j *job) reportJobs(obj *yaml.RNode, key string, rep scrapeconfig.Report, prefix string) {
	msg := fmt.Sprintf("%skey %q: job %s", prefix, key, strings.Join(quoteAll(rep.Jobs), ", "))
	if len(rep.Excluded) > 0 {
		msg += fmt.Sprintf("; drop rule for sidecar pods in %s", strings.Join(quoteAll(rep.Excluded), ", "))
	}
	j.results = append(j.results, infoResult(obj, "data."+key, msg))
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = fmt.Sprintf("%q", x)
	}
	return out
}

// applyMode gives the pod template what the mode needs, first undoing what the
// other mode did in an earlier run (so users can switch and re-run).
func applyMode(tpl *yaml.RNode, cfg *config.PrometheusMTLS, istio istioChoice, mount podtemplate.Mount, sidecar profiles.Sidecar, scrapeClass string) error {
	old, err := podtemplate.ReadStatus(tpl)
	if err != nil {
		return err
	}
	if err := injection.Disable(tpl, old.Injection); err != nil {
		return err
	}
	if cfg.Spec.Mode == config.ModeInjection {
		rec, err := injection.Enable(tpl, injection.Options{
			Revision: cfg.Spec.Istio.Revision, OutputCertsDir: sidecar.OutputCertsDir,
			CertVolume: cfg.Spec.Certificates.VolumeName, Native: istio.inject,
		})
		if err != nil {
			return err
		}
		// The volume is declared in the pod itself: one only named in the
		// annotation is rejected by the API server (istio/istio#29919).
		return podtemplate.Apply(tpl, podtemplate.Desired{
			Volumes:     sidecar.Volumes[len(sidecar.Volumes)-1:],
			Mounts:      []podtemplate.Mount{mount},
			Injection:   rec,
			ScrapeClass: scrapeClass,
			TakeOver:    cfg.Spec.TakeOver,
			Forbid:      []string{profiles.ContainerName},
		})
	}
	d := podtemplate.Desired{
		Volumes:     sidecar.Volumes,
		Mounts:      []podtemplate.Mount{mount},
		ScrapeClass: scrapeClass,
		TakeOver:    cfg.Spec.TakeOver,
		Labels:      map[string]string{injection.LabelInject: "false"},
		Annotations: map[string]string{injection.LabelInject: "false"},
	}
	if istio.native {
		d.InitContainers = []corev1.Container{sidecar.Container}
	} else {
		d.Containers = []corev1.Container{sidecar.Container}
	}
	return podtemplate.Apply(tpl, d)
}

func sidecarParams(cfg *config.PrometheusMTLS, native bool, apiVersion, kind, name string) profiles.Params {
	is := cfg.Spec.Istio
	// Injection mode builds the sidecar only for its volume and directory.
	needEnvoyChoice := cfg.Spec.Mode == config.ModeSidecar
	return profiles.Params{
		Image: is.ProxyImage, PullPolicy: is.ImagePullPolicy,
		Namespace: is.ControlPlaneNamespace, Revision: is.Revision, DiscoveryAddress: is.DiscoveryAddress,
		TrustDomain: is.TrustDomain, MeshID: is.MeshID, ClusterID: is.ClusterID, Network: is.Network,
		Envoy: is.EnvoyEnabled() || !needEnvoyChoice, Native: native, Resources: *is.Resources,
		CertVolume:         cfg.Spec.Certificates.VolumeName,
		WorkloadAPIVersion: apiVersion, WorkloadKind: kind, WorkloadName: name,
	}
}

// checkMountPath refuses a mount path the Prometheus container already uses for
// another volume (or one nested with it).
func checkMountPath(c corev1.Container, certs config.Certificates) error {
	for i, m := range c.VolumeMounts {
		if m.Name == certs.VolumeName {
			continue
		}
		p := strings.TrimSuffix(m.MountPath, "/")
		if p == certs.MountPath || strings.HasPrefix(p, certs.MountPath+"/") {
			return krmerr.Errorf(fmt.Sprintf("volumeMounts[%d]", i), "container %q already mounts volume %q at %s, which collides with the certificate mount path %s; set spec.certificates.mountPath to another directory", c.Name, m.Name, m.MountPath, certs.MountPath)
		}
	}
	return nil
}

// changed tells whether b differs from a anywhere a reader of the YAML would see:
// content, tags, styles or comments. Aliases are compared by the anchor they name
// (Value), not followed.
func changed(a, b *yaml.RNode) bool {
	return !identical(a.YNode(), b.YNode())
}

func identical(a, b *yaml.Node) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil || a.Kind != b.Kind || a.Style != b.Style || a.Tag != b.Tag || a.Value != b.Value ||
		a.Anchor != b.Anchor || a.HeadComment != b.HeadComment || a.LineComment != b.LineComment ||
		a.FootComment != b.FootComment || len(a.Content) != len(b.Content) {
		return false
	}
	for i := range a.Content {
		if !identical(a.Content[i], b.Content[i]) {
			return false
		}
	}
	return true
}

func refOf(n *yaml.RNode) *fn.ResourceRef {
	if n == nil {
		return nil
	}
	return &fn.ResourceRef{APIVersion: n.GetApiVersion(), Kind: n.GetKind(), Name: n.GetName(), Namespace: n.GetNamespace()}
}

func infoResult(n *yaml.RNode, field, msg string) *fn.Result {
	return &fn.Result{Severity: fn.Info, Message: msg, ResourceRef: refOf(n), Field: &fn.Field{Path: field}}
}

func errorResult(err error) *fn.Result {
	r := &fn.Result{Severity: fn.Error, Message: err.Error()}
	var e *krmerr.Error
	if errors.As(err, &e) {
		r.Message = e.Message
		if e.Ref != nil {
			r.ResourceRef = &fn.ResourceRef{APIVersion: e.Ref.APIVersion, Kind: e.Ref.Kind, Name: e.Ref.Name, Namespace: e.Ref.Namespace}
		}
		if e.Field != "" {
			r.Field = &fn.Field{Path: e.Field}
		}
	}
	return r
}
