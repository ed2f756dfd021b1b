package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/config"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/injection"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
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
		rl.Results = append(rl.Results, errorResult(krmerr.At(cfgNode, err)))
		return false, nil
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
	results, err := transform(nodes, cfg)
	for i := range nodes {
		rl.Items[i] = fn.MoveToKubeObject(nodes[i])
	}
	if err != nil {
		// Errors about a spec.* field without a resource are about the config.
		var e *krmerr.Error
		if errors.As(err, &e) && e.Ref == nil && strings.HasPrefix(e.Field, "spec.") && cfgNode != nil {
			err = krmerr.At(cfgNode, err)
		}
		rl.Results = append(rl.Results, errorResult(err))
		return false, nil
	}
	rl.Results = append(rl.Results, results...)
	return true, nil
}

// transform runs the transformers on nodes. On success it replaces the edited
// items in nodes; on error nodes are untouched.
func transform(nodes []*yaml.RNode, cfg *config.PrometheusMTLS) (fn.Results, error) {
	minor, _ := config.ParseVersion(cfg.Spec.Istio.Version)
	profile, ok := profiles.Lookup(minor)
	if !ok {
		return nil, &krmerr.Error{Field: "spec.istio.version", Message: fmt.Sprintf("Istio %s is not supported (supported: %s)", cfg.Spec.Istio.Version, profiles.Supported())}
	}
	ix := selection.NewIndex(nodes)
	sel, err := ix.SelectWorkload(cfg.Spec.Target)
	if err != nil {
		return nil, err
	}
	original := nodes[sel.Item]
	workload := original.Copy()
	tpl, tplField, err := podtemplate.Template(workload)
	if err != nil {
		return nil, krmerr.At(original, err)
	}
	// at names the workload and its pod template path, unless err is about
	// another resource already.
	at := func(err error) error {
		var e *krmerr.Error
		if errors.As(err, &e) && e.Ref != nil {
			return err
		}
		return krmerr.At(original, krmerr.Prefix(tplField, err))
	}

	src, err := ix.ScrapeConfig(original, tpl, sel.ContainerSpec, cfg.Spec.ScrapeConfig)
	if err != nil {
		return nil, at(err)
	}

	sidecar, err := profile.Build(sidecarParams(cfg, original, cfg.Spec.Mode == config.ModeSidecar))
	if err != nil {
		return nil, &krmerr.Error{Field: "spec.istio.envoy", Message: err.Error()}
	}
	if err := checkMountPath(sel.ContainerSpec, cfg.Spec.Certificates); err != nil {
		return nil, at(krmerr.Prefix(fmt.Sprintf("spec.containers[%d]", sel.Container), err))
	}
	if err := applyMode(tpl, cfg, sel, sidecar); err != nil {
		return nil, at(err)
	}

	cm := nodes[src.Item].Copy()
	text, form, err := scrapeconfig.ReadValue(cm, src.Kind, src.Key)
	if err != nil {
		return nil, krmerr.At(cm, err)
	}
	edited, rep, err := scrapeconfig.Edit(text, scrapeconfig.Options{
		JobName:       cfg.Spec.ScrapeJob.Name,
		CertDir:       cfg.Spec.Certificates.MountPath,
		ExcludeFrom:   cfg.Spec.ScrapeJob.ExcludeFrom,
		TakeOver:      cfg.Spec.ScrapeJob.TakeOver,
		SecurePortJob: cfg.Spec.ScrapeJob.SecurePortJob,
	})
	if err != nil {
		var e *krmerr.Error
		msg := err.Error()
		if errors.As(err, &e) {
			msg = e.Error()
		}
		field := "data." + src.Key
		if src.Kind == "Secret" && form == scrapeconfig.FormData {
			field = "stringData." + src.Key
		}
		return nil, &krmerr.Error{Ref: krmerr.RefOf(cm), Field: field, Message: fmt.Sprintf("%s (the Prometheus config; %s)", msg, src.Via)}
	}
	if err := scrapeconfig.WriteValue(cm, src.Kind, src.Key, edited, form); err != nil {
		return nil, krmerr.At(cm, err)
	}

	var results fn.Results
	if changed(original, workload) {
		what := "istio-proxy sidecar in spec.containers"
		switch {
		case cfg.Spec.Mode == config.ModeInjection:
			what = "Istio injection annotations (the injector adds istio-proxy)"
		case cfg.Spec.Istio.NativeSidecar:
			what = "istio-proxy sidecar in spec.initContainers (native sidecar)"
		}
		results = append(results, infoResult(workload, tplField, fmt.Sprintf(
			"%s (Istio %s, profile %s), certificate volume %q mounted into container %q at %s",
			what, cfg.Spec.Istio.Version, profile.Name, cfg.Spec.Certificates.VolumeName, sel.ContainerSpec.Name, cfg.Spec.Certificates.MountPath)))
	}
	if text != edited {
		msg := fmt.Sprintf("key %q: job %s", src.Key, strings.Join(quoteAll(rep.Jobs), ", "))
		if len(rep.Excluded) > 0 {
			msg += fmt.Sprintf("; drop rule for sidecar pods in %s", strings.Join(quoteAll(rep.Excluded), ", "))
		}
		results = append(results, infoResult(cm, "data."+src.Key, msg))
	}
	nodes[sel.Item] = workload
	nodes[src.Item] = cm
	return results, nil
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
func applyMode(tpl *yaml.RNode, cfg *config.PrometheusMTLS, sel selection.Workload, sidecar profiles.Sidecar) error {
	old, err := podtemplate.ReadStatus(tpl)
	if err != nil {
		return err
	}
	if err := injection.Disable(tpl, old.Injection); err != nil {
		return err
	}
	certMount := podtemplate.Mount{Container: sel.ContainerSpec.Name, VolumeMount: corev1.VolumeMount{
		Name: cfg.Spec.Certificates.VolumeName, MountPath: cfg.Spec.Certificates.MountPath, ReadOnly: true}}
	if cfg.Spec.Mode == config.ModeInjection {
		rec, err := injection.Enable(tpl, injection.Options{
			Revision: cfg.Spec.Istio.Revision, OutputCertsDir: sidecar.OutputCertsDir,
			CertVolume: cfg.Spec.Certificates.VolumeName, Native: cfg.Spec.Istio.NativeSidecar,
		})
		if err != nil {
			return err
		}
		// The volume is declared in the pod itself: one only named in the
		// annotation is rejected by the API server (istio/istio#29919).
		return podtemplate.Apply(tpl, podtemplate.Desired{
			Volumes:   sidecar.Volumes[len(sidecar.Volumes)-1:],
			Mounts:    []podtemplate.Mount{certMount},
			Injection: rec,
		})
	}
	d := podtemplate.Desired{
		Volumes:     sidecar.Volumes,
		Mounts:      []podtemplate.Mount{certMount},
		Labels:      map[string]string{injection.LabelInject: "false"},
		Annotations: map[string]string{injection.LabelInject: "false"},
	}
	if cfg.Spec.Istio.NativeSidecar {
		d.InitContainers = []corev1.Container{sidecar.Container}
	} else {
		d.Containers = []corev1.Container{sidecar.Container}
	}
	return podtemplate.Apply(tpl, d)
}

func sidecarParams(cfg *config.PrometheusMTLS, w *yaml.RNode, needEnvoyChoice bool) profiles.Params {
	is := cfg.Spec.Istio
	return profiles.Params{
		Image: is.ProxyImage, PullPolicy: is.ImagePullPolicy,
		Namespace: is.ControlPlaneNamespace, Revision: is.Revision, DiscoveryAddress: is.DiscoveryAddress,
		TrustDomain: is.TrustDomain, MeshID: is.MeshID, ClusterID: is.ClusterID, Network: is.Network,
		Envoy: is.EnvoyEnabled() || !needEnvoyChoice, Native: is.NativeSidecar, Resources: *is.Resources,
		CertVolume:         cfg.Spec.Certificates.VolumeName,
		WorkloadAPIVersion: w.GetApiVersion(), WorkloadKind: w.GetKind(), WorkloadName: w.GetName(),
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

func changed(a, b *yaml.RNode) bool {
	x, _ := a.String()
	y, _ := b.String()
	return x != y
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
