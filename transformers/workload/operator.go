package workload

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/certs"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/datakey"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/operator"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/ownership"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/plan"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/profiles"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/scrapeconfig"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/scrapers"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/selection"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/yamlnode"
	"sigs.k8s.io/kustomize/kyaml/kio/kioutil"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// operatorResource is an operator's resource (a Prometheus or
// PrometheusAgent, a VMAgent, an OpenTelemetryCollector) and what holds its
// scrape jobs: the Secret of its additionalScrapeConfigs (created when a
// Prometheus has none), its own job list, or its own collector config.
type operatorResource struct {
	ix           *selection.Index
	item         int
	original, cr *yaml.RNode // as it came in; the copy being edited
	view         *operator.View
	tpl          *yaml.RNode // the copy's pod-template view
	row          scrapers.Scraper
	res          scrapers.Resource
	owner        profiles.Owner
	// serviceAccount is the pods' (the operator's default when unset).
	serviceAccount string
}

func newOperatorResource(ix *selection.Index, sel selection.Workload) (*operatorResource, error) {
	o := &operatorResource{ix: ix, item: sel.Item, original: ix.Items[sel.Item]}
	group, _, _ := strings.Cut(o.original.GetApiVersion(), "/")
	var ok bool
	if o.row, o.res, ok = scrapers.ResourceOf(group, o.original.GetKind()); !ok {
		return nil, krmerr.About(o.original, "apiVersion", "%s of %s is no operator's resource the function knows", o.original.GetKind(), group)
	}
	o.cr = o.original.Copy()
	var err error
	if o.view, err = operator.Template(o.cr, o.res); err != nil {
		return nil, krmerr.At(o.original, err)
	}
	o.tpl = o.view.Node
	kind, name, err := operator.Workload(o.cr)
	if err != nil {
		return nil, krmerr.At(o.original, err)
	}
	o.owner = profiles.Owner{APIVersion: "apps/v1", Kind: kind, Name: name}
	if o.serviceAccount = serviceAccount(o.cr, o.res.ServiceAccount...); o.serviceAccount == "" {
		o.serviceAccount = operator.DefaultServiceAccount(o.cr, name)
	}
	return o, nil
}

// blame names the resource in err, with the view's fields mapped to the
// resource's.
func (o *operatorResource) blame(err error) error {
	return blame(o.original, err, o.view.Field)
}

// Target: the pods are the operator's workload's, and the certificates go into
// spec.volumeMounts, which the operator gives its scraper container.
func (o *operatorResource) Target() plan.Target {
	return plan.Target{
		Owner:          o.owner,
		Scraper:        o.row.Called,
		Operator:       o.res.Operator,
		Namespace:      o.cr.GetNamespace(),
		ServiceAccount: o.serviceAccount,
	}
}

// scrapeClass, as editTemplate's own part: the resource's istio-mtls scrape
// class, written or (ambient mode) removed, recorded in rec.
func (o *operatorResource) scrapeClass(p plan.Plan) func(rec *ownership.Record) error {
	if !o.res.ScrapeClasses {
		return nil
	}
	class := p.Class
	class.Scraper = o.row
	return func(rec *ownership.Record) error {
		if rec.ScrapeClass != "" && !class.Ours(o.cr) {
			// The record names a class that is not of the function's
			// making: not believed, so neither replaced nor removed unasked.
			rec.ScrapeClass, rec.ScrapeClassUsersDefault = "", false
		}
		if class.Remove {
			err := class.RemoveFrom(o.cr, rec.ScrapeClass != "")
			rec.ScrapeClass, rec.ScrapeClassUsersDefault = "", false
			return err
		}
		owned, err := class.Ensure(o.cr, operator.Owned{Name: rec.ScrapeClass, UsersDefault: rec.ScrapeClassUsersDefault})
		if err != nil {
			return err
		}
		rec.ScrapeClass, rec.ScrapeClassUsersDefault = owned.Name, owned.UsersDefault
		return nil
	}
}

func (o *operatorResource) Apply(p plan.Plan) (Outcome, error) {
	old, rec, doubts, err := editTemplate(o.tpl, p, o.scrapeClass(p))
	if err == nil {
		err = o.view.Sync()
	}
	if err != nil {
		return Outcome{}, o.blame(err)
	}
	// The workload note is about the pod template: it is taken before the
	// scrape edit, which may write into the resource too, and before the
	// record is stored.
	into := fmt.Sprintf("the operator's %s container (%s)", o.res.Container, o.view.Field("spec.volumeMounts"))
	if o.row.Qualifier != "" {
		into = fmt.Sprintf("the operator's %s (%s)", o.row.Into(o.res.Container), o.view.Field("spec.volumeMounts"))
	}
	suffix := ""
	if o.res.ScrapeClasses {
		suffix = fmt.Sprintf("; scrape class %q in spec.scrapeClasses", operator.ScrapeClassName)
	}
	out := Outcome{Notes: append(doubtNote(krmerr.RefOf(o.original), o.view.Field("metadata.annotations."+ownership.Annotation), doubts),
		workloadNote(o.original, o.cr, p, old, "spec", o.view.Field("metadata.labels"), into, suffix)...)}
	out.Edits = []Edit{{o.item, o.cr}}
	opts := p.Scrape
	opts.Scraper = o.row
	var edits []Edit
	var notes []Note
	if o.res.Config != nil {
		edits, notes, err = o.editConfig(opts, old, &rec)
	} else {
		edits, notes, err = o.editJobs(p, opts, old, &rec)
	}
	if err == nil {
		err = o.store(rec)
	}
	if err != nil {
		return Outcome{}, err
	}
	out.Edits, out.Notes = append(out.Edits, edits...), append(out.Notes, notes...)
	out.Notes = append(out.Notes, o.monitorNotes(p)...)
	return out, nil
}

// store writes rec into the view and the view into the resource.
func (o *operatorResource) store(rec ownership.Record) error {
	err := writeRecord(o.tpl, rec)
	if err == nil {
		err = o.view.Sync()
	}
	if err != nil {
		return o.blame(err)
	}
	return nil
}

// editJobs puts the jobs where the resource takes bare job lists: the
// additionalScrapeConfigs Secret of the list; when none is, the resource's
// own job list (VMAgent) or, for a Prometheus, a Secret it creates or a
// ScrapeConfig.
func (o *operatorResource) editJobs(p plan.Plan, opts scrapeconfig.Options, old ownership.Record, rec *ownership.Record) ([]Edit, []Note, error) {
	v, index, err := o.scrapeValue(opts.Remove)
	if err != nil {
		return nil, nil, err
	}
	var edits []Edit
	var notes []Note
	switch {
	case v.own:
		notes, err = o.editOwnJobs(v, opts, old, rec)
	case v.external != "":
		edits, notes, err = o.scrapeConfigResource(p, v.external, old, rec)
	case v.obj != nil: // none: ambient mode with no Secret referenced, nothing to take out
		edits, notes, err = o.editScrapeValue(v, index, opts, old, rec)
	}
	if err != nil {
		return nil, nil, err
	}
	if opts.Remove {
		e, n := o.dropScrapeConfig(old)
		edits, notes = append(edits, e...), append(notes, n...)
	}
	return edits, notes, nil
}

// monitorNotes are about the monitors the resource selects: how to opt them
// in to the scrape class, or, in ambient mode, which of them still name the
// class it removed; and about tlsConfig files that nothing writes.
func (o *operatorResource) monitorNotes(p plan.Plan) []Note {
	if !o.res.ScrapeClasses {
		return nil
	}
	if p.Ambient != nil {
		mons := operator.SelectedMonitors(o.cr, o.ix.Items, true)
		if len(mons) == 0 {
			return nil
		}
		return []Note{{Ref: krmerr.RefOf(o.cr), Field: "spec.scrapeClasses", Warn: true, Message: fmt.Sprintf(
			"%s select(s) %s, which name scrape class %q: ambient mode removed it, so the operator rejects them; take scrapeClass out of them (ztunnel carries their plain scrapes over mTLS)",
			o.cr.GetName(), strings.Join(mons, ", "), operator.ScrapeClassName)}}
	}
	notes := o.unwrittenFiles(p)
	mons := operator.SelectedMonitors(o.cr, o.ix.Items, false)
	if len(mons) == 0 {
		return notes
	}
	why := "their own tlsConfig cannot reference certificate files; "
	if o.res.MonitorFiles {
		why = ""
	}
	return append(notes, Note{Ref: krmerr.RefOf(o.cr), Field: "spec.scrapeClasses", Message: fmt.Sprintf(
		"%s select(s) %s: %sto scrape sidecar pods over mTLS set scrapeClass: %s on those whose targets have an Istio sidecar (not on others: a pod without one answers https with plaintext)",
		o.cr.GetName(), strings.Join(mons, ", "), why, operator.ScrapeClassName)})
}

// unwrittenFiles warns of endpoints whose tlsConfig names a file in no
// directory the scraper container mounts (VictoriaMetrics' Istio example
// names its keyFile so): their scrapes fail to load the key or certificate.
func (o *operatorResource) unwrittenFiles(p plan.Plan) []Note {
	var mounted []string
	if list, _ := o.cr.Pipe(yaml.Lookup("spec", "volumeMounts")); list != nil {
		for _, m := range list.YNode().Content {
			mounted = append(mounted, yamlnode.Value(m, "mountPath"))
		}
	}
	// Kubernetes mounts the token directory (its ca.crt is the API server's CA)
	// into every container, unless the resource turns automounting off.
	if v, _ := o.cr.Pipe(yaml.Lookup(o.res.NoToken...)); o.res.NoToken == nil || v == nil || yaml.GetValue(v) != "false" {
		mounted = append(mounted, scrapers.TokenDir)
	}
	var notes []Note
	for _, f := range operator.UnwrittenTLSFiles(o.cr, o.ix.Items, mounted) {
		advice := fmt.Sprintf("mount the directory that holds it into the %s container (spec.volumes and spec.volumeMounts), or name the Secret or ConfigMap holding it in the tlsConfig's own fields", o.res.Container)
		if slices.Contains([]string{certs.CA, certs.Chain, certs.Key}, path.Base(f.Path)) {
			// A file named as Istio's agent names them: the user meant Istio's.
			advice = fmt.Sprintf("Istio's agent writes %s: take the tlsConfig out and set scrapeClass: %s instead, which reads them",
				strings.Join(certFiles(p), ", "), operator.ScrapeClassName)
		}
		notes = append(notes, Note{Ref: f.Ref, Field: f.Field, Warn: true, Message: fmt.Sprintf(
			"%s is in no directory the %s container mounts, so nothing writes it and these scrapes fail; %s", f.Path, o.res.Container, advice)})
	}
	return notes
}

// certFiles are the CA, chain and key files where the plan puts them.
func certFiles(p plan.Plan) []string {
	ca, chain, key := certs.Paths(p.Class.CertsDir)
	return []string{ca, chain, key}
}

// placeBeside puts an object the function creates into the file of the resource
// it is for, after that file's last item (kpt's path and index annotations), so
// it has the same place in the output on every run: kpt writes it there, and
// the next run reads it from there. Without a path (kustomize, a Helm stream) it
// stays where the list appends it.
func placeBeside(obj, owner *yaml.RNode, items []*yaml.RNode) error {
	for _, keys := range [][2]string{{kioutil.PathAnnotation, kioutil.IndexAnnotation}, {kioutil.LegacyPathAnnotation, kioutil.LegacyIndexAnnotation}} {
		file := owner.GetAnnotations()[keys[0]]
		if file == "" {
			continue
		}
		next := 0
		for _, it := range items {
			if a := it.GetAnnotations(); a[keys[0]] == file {
				if i, err := strconv.Atoi(a[keys[1]]); err == nil && i >= next {
					next = i + 1
				}
			}
		}
		for k, v := range map[string]string{keys[0]: file, keys[1]: strconv.Itoa(next)} {
			if err := obj.PipeE(yaml.SetAnnotation(k, v)); err != nil {
				return err
			}
		}
	}
	return nil
}

// createdRef names obj in the ownership record's Created.
func createdRef(obj *yaml.RNode) string {
	return obj.GetKind() + "/" + obj.GetNamespace() + "/" + obj.GetName()
}

// created tells whether obj is an object an earlier run created: it has the
// name and label the function gives what it creates (shaped), and the record
// names it. An earlier release's output, whose record names no created
// object, is recognised by the name and label alone, once. A record naming an
// object of another shape (a user's Secret) is not believed.
func created(old ownership.Record, obj *yaml.RNode, shaped bool) bool {
	if old.Created != nil {
		return shaped && slices.Contains(old.Created, createdRef(obj))
	}
	return shaped
}

// scrapeConfig is the index of the ScrapeConfig named as the function names its
// own, in the resource's namespace; -1 when there is none.
func (o *operatorResource) scrapeConfig() int {
	for i, n := range o.ix.Items {
		if n.GetKind() == "ScrapeConfig" && strings.HasPrefix(n.GetApiVersion(), o.res.Group+"/") &&
			n.GetName() == operator.ScrapeConfigName(o.cr) && n.GetNamespace() == o.cr.GetNamespace() {
			return i
		}
	}
	return -1
}

// scrapeConfigResource delivers the secure job where prometheus-operator loads it
// when the additionalScrapeConfigs Secret (secret) is managed outside the list: a
// ScrapeConfig the resource's scrapeConfigSelector selects, with the istio-mtls
// scrape class. The Secret and the reference stay as they are.
func (o *operatorResource) scrapeConfigResource(p plan.Plan, secret string, old ownership.Record, rec *ownership.Record) ([]Edit, []Note, error) {
	sc, err := operator.NewScrapeConfig(o.cr, scrapeconfig.OperatorScrapeConfig(p.Scrape, operator.ScrapeClassName))
	if err != nil {
		return nil, nil, o.blame(err)
	}
	rec.Created = append(rec.Created, createdRef(sc))
	index, verb := o.scrapeConfig(), "created"
	if index < 0 {
		if err := placeBeside(sc, o.original, o.ix.Items); err != nil {
			return nil, nil, err
		}
	}
	if index >= 0 {
		existing := o.ix.Items[index]
		if !created(old, existing, operator.IsCreatedScrapeConfig(existing, o.cr)) && !p.Scrape.TakeOver {
			return nil, nil, krmerr.About(existing, "metadata.name", "a ScrapeConfig named %q exists that this function did not write; rename it, or set spec.scrapeJob.takeOver: true to replace it", existing.GetName())
		}
		verb = "replaced"
		if yamlnode.SameContent(existing.YNode(), sc.YNode()) {
			return []Edit{{index, sc}}, nil, nil
		}
	}
	return []Edit{{index, sc}}, []Note{
		{Ref: krmerr.RefOf(sc), Field: "spec", Message: fmt.Sprintf(
			"%s: the https job for sidecar pods, selected by spec.scrapeConfigSelector of %s %s, TLS from scrape class %q; spec.additionalScrapeConfigs names Secret %q, which is not in the list and stays as it is",
			verb, o.cr.GetKind(), o.cr.GetName(), operator.ScrapeClassName, secret)},
		{Ref: krmerr.RefOf(o.cr), Field: "spec.additionalScrapeConfigs", Warn: true, Message: fmt.Sprintf(
			"the plain pod jobs in Secret %q are not edited (it is not in the list): a sidecar pod they keep is also scraped in plaintext, and fails under STRICT; give them the rules this function puts into plain pod jobs (docs/scrape-config.md)", secret)},
	}, nil
}

// dropScrapeConfig deletes the ScrapeConfig an earlier run created (ambient mode)
// and says so.
func (o *operatorResource) dropScrapeConfig(old ownership.Record) ([]Edit, []Note) {
	i := o.scrapeConfig()
	if i < 0 || !created(old, o.ix.Items[i], operator.IsCreatedScrapeConfig(o.ix.Items[i], o.cr)) {
		return nil, nil
	}
	return []Edit{{Index: i}}, []Note{{Ref: krmerr.RefOf(o.ix.Items[i]), Field: "metadata.name", Message: fmt.Sprintf(
		"deleted: the function had created it for %s %s", o.cr.GetKind(), o.cr.GetName())}}
}

// editScrapeValue edits the additional scrape configs v (item index, -1: created)
// and, when removing, deletes the Secret an earlier run created.
func (o *operatorResource) editScrapeValue(v scrapeValue, index int, opts scrapeconfig.Options, old ownership.Record, rec *ownership.Record) ([]Edit, []Note, error) {
	notes, err := editScrape(v, opts, old, rec, scrapeconfig.EditJobList)
	if err != nil {
		return nil, nil, err
	}
	ours := v.created != "" || created(old, v.obj, operator.IsCreatedSecret(v.obj, o.cr))
	gone, err := o.dropCreatedSecret(v, ours && opts.Remove)
	if err != nil {
		return nil, nil, err
	}
	if !gone {
		if ours {
			rec.Created = append(rec.Created, createdRef(v.obj))
		}
		if index < 0 {
			if err := placeBeside(v.obj, o.original, o.ix.Items); err != nil {
				return nil, nil, err
			}
		}
		return []Edit{{index, v.obj}}, notes, nil
	}
	return []Edit{{Index: index}}, append(notes, Note{Ref: krmerr.RefOf(v.obj), Field: "metadata.name", Message: fmt.Sprintf(
		"deleted: the function had created it for spec.additionalScrapeConfigs of %s %s, which no longer references it", o.cr.GetKind(), o.cr.GetName())}), nil
}

// dropCreatedSecret, when removing the Secret an earlier run created, deletes
// it once it holds no job any more, and takes the resource's reference to it
// out.
func (o *operatorResource) dropCreatedSecret(v scrapeValue, removing bool) (bool, error) {
	if !removing {
		return false, nil
	}
	_, text, err := datakey.Read(v.obj, "Secret", v.key.Name)
	if err != nil {
		return false, krmerr.At(v.obj, err)
	}
	if t := strings.TrimSpace(text); t != "" && t != "[]" {
		return false, nil // the user put jobs of their own into it
	}
	return true, operator.Unreference(o.cr)
}

// scrapeValue is the additional scrape configs: the Secret the resource
// references (index in the list), or a new one it is pointed at (index -1) —
// except when removing, where a resource that references none has nothing to
// take out (the zero scrapeValue).
func (o *operatorResource) scrapeValue(removing bool) (scrapeValue, int, error) {
	cr := o.cr
	v := scrapeValue{what: fmt.Sprintf("the additional scrape configs of %s %s", cr.GetKind(), cr.GetName())}
	name, key, err := operator.AdditionalScrapeConfigs(cr)
	if err != nil {
		return v, 0, o.blame(err)
	}
	i := -1
	if name != "" {
		if i, err = o.ix.Lookup("Secret", cr.GetNamespace(), name); err != nil {
			return v, 0, o.blame(krmerr.Errorf("spec.additionalScrapeConfigs", "%v", err))
		}
	}
	if o.res.Jobs != nil && i < 0 {
		// No Secret of the list: the resource's own job list.
		v = scrapeValue{obj: cr, own: true, external: name, what: fmt.Sprintf("the inline scrape configs of %s %s", cr.GetKind(), cr.GetName())}
		if v.key, v.text, err = datakey.ReadField(cr, o.res.Jobs...); err != nil {
			return v, 0, o.blame(err)
		}
		return v, o.item, nil
	}
	if name == "" && removing {
		return scrapeValue{}, 0, nil
	}
	if name == "" {
		if v.obj, err = operator.NewScrapeSecret(cr); err != nil {
			return v, 0, krmerr.At(o.original, err) // about the resource's own metadata.name
		}
		v.key = datakey.Key{Kind: "Secret", Name: operator.AdditionalKey, Form: datakey.Base64}
		v.created = "created, referenced by spec.additionalScrapeConfigs; "
		return v, -1, nil
	}
	if i < 0 && removing {
		return scrapeValue{}, 0, nil // not in the list: no earlier run can have written into it
	}
	if i < 0 {
		v.external = name // managed outside this render: the job goes into a ScrapeConfig
		return v, -1, nil
	}
	v.obj = o.ix.Items[i].Copy()
	if v.key, v.text, err = datakey.Read(v.obj, "Secret", key); err != nil {
		return v, 0, krmerr.At(v.obj, err)
	}
	return v, i, nil
}

// editOwnJobs edits the resource's own job list (VMAgent's
// spec.inlineScrapeConfig): the field goes when nothing is left in it. A
// referenced Secret outside the list keeps its plain jobs unedited: a warning
// says so.
func (o *operatorResource) editOwnJobs(v scrapeValue, opts scrapeconfig.Options, old ownership.Record, rec *ownership.Record) ([]Note, error) {
	if opts.Remove && strings.TrimSpace(v.text) == "" {
		return nil, nil // ambient mode, and no job list: nothing to take out
	}
	notes, err := editScrape(v, opts, old, rec, scrapeconfig.EditJobList)
	if err != nil {
		return nil, err
	}
	if _, text, _ := datakey.ReadField(o.cr, o.res.Jobs...); v.text != "" || opts.Remove {
		if t := strings.TrimSpace(text); t == "" || t == "[]" {
			parent := o.res.Jobs[:len(o.res.Jobs)-1]
			if _, err := o.cr.Pipe(yaml.Lookup(parent...), yaml.Clear(o.res.Jobs[len(o.res.Jobs)-1])); err != nil {
				return nil, err
			}
		}
	}
	if v.external != "" && !opts.Remove {
		notes = append(notes, Note{Ref: krmerr.RefOf(o.cr), Field: "spec.additionalScrapeConfigs", Warn: true, Message: fmt.Sprintf(
			"the plain pod jobs in Secret %q are not edited (it is not in the list): a sidecar pod they keep is also scraped in plaintext, and fails under STRICT; give them the rules this function puts into plain pod jobs (docs/scrape-config.md)", v.external)})
	}
	return notes, nil
}

// editConfig edits the collector config the resource holds (the
// OpenTelemetryCollector's spec.config: a mapping in v1beta1, a string in
// v1alpha1). With the target allocator enabled the operator hands the jobs
// of the receiver named prometheus to the allocator, which gives them back to
// the collector pods: the job must go into that receiver.
func (o *operatorResource) editConfig(opts scrapeconfig.Options, old ownership.Record, rec *ownership.Record) ([]Edit, []Note, error) {
	v := scrapeValue{obj: o.cr, what: fmt.Sprintf("the %s config of %s %s", o.row.Name, o.cr.GetKind(), o.cr.GetName())}
	var err error
	if v.key, v.text, err = datakey.ReadField(o.cr, o.res.Config...); err != nil {
		return nil, nil, o.blame(err)
	}
	if v.text == "" && o.res.ConfigMapKey != nil {
		return o.editConfigMap(opts, old, rec)
	}
	if v.text == "" {
		return nil, nil, o.blame(krmerr.Errorf(v.key.Field(), "missing: the %s has no config to put the scrape job in", o.row.Name))
	}
	if o.row.Syntax != "" {
		notes, err := editScrape(v, opts, old, rec, editors[o.row.Syntax])
		return nil, notes, err
	}
	if ta, _ := o.cr.Pipe(yaml.Lookup("spec", "targetAllocator", "enabled")); ta != nil && yaml.GetValue(ta) == "true" {
		name, err := scrapeconfig.ReceiverOf(v.text, opts.Receiver)
		if err != nil {
			return nil, nil, krmerr.About(o.cr, v.key.Field(), "%v (%s)", err, v.what)
		}
		if name != "prometheus" {
			return nil, nil, krmerr.About(o.cr, v.key.Field()+".receivers."+name, "spec.targetAllocator.enabled: the operator gives the target allocator the jobs of the receiver named prometheus only, and the job would go into %q: name the receiver prometheus (and, with several, set spec.scrapeConfig.receiver: prometheus)", name)
		}
	}
	if files, err := scrapeconfig.Included(v.text, opts); err != nil || len(files) > 0 {
		if err == nil {
			err = krmerr.Errorf("scrape_config_files", "names %s, files the function cannot see in the collector's pods: their plain pod jobs cannot get the rules that hand sidecar pods to the secure job, so those pods would be scraped twice (in plaintext too, which fails under STRICT); move their jobs into the receiver's scrape_configs", strings.Join(files, ", "))
		}
		return nil, nil, krmerr.About(o.cr, v.key.Field(), "%v (%s)", err, v.what)
	}
	notes, err := editScrape(v, opts, old, rec, scrapeconfig.Edit)
	return nil, notes, err
}

// editConfigMap edits the config the resource keeps in a ConfigMap (the Alloy
// resource's: of the resource's name unless a field names another).
func (o *operatorResource) editConfigMap(opts scrapeconfig.Options, old ownership.Record, rec *ownership.Record) ([]Edit, []Note, error) {
	field := func(path []string) string {
		n, _ := o.cr.Pipe(yaml.Lookup(path...))
		if n == nil {
			return ""
		}
		return yaml.GetValue(n)
	}
	name, key := field(o.res.ConfigMapName), field(o.res.ConfigMapKey)
	if name == "" {
		name = o.cr.GetName()
	}
	if key == "" && len(o.row.DefaultKeys) > 0 {
		key = o.row.DefaultKeys[0]
	}
	i, err := o.ix.Lookup("ConfigMap", o.cr.GetNamespace(), name)
	if err != nil {
		return nil, nil, o.blame(err)
	}
	if i < 0 {
		return nil, nil, o.blame(krmerr.Errorf(strings.Join(o.res.ConfigMapName, "."), "the %s config is ConfigMap %q (%s), which is not in the list of resources; include it", o.row.Name, name, strings.Join(o.res.ConfigMapName, ".")+" or the resource's name"))
	}
	cm := o.ix.Items[i].Copy()
	k, text, err := datakey.Read(cm, "ConfigMap", key)
	if err != nil {
		return nil, nil, krmerr.At(cm, err)
	}
	what := fmt.Sprintf("the %s config of %s %s", o.row.Name, o.cr.GetKind(), o.cr.GetName())
	notes, err := editScrape(scrapeValue{obj: cm, key: k, text: text, what: what}, opts, old, rec, editors[o.row.Syntax])
	if err != nil {
		return nil, nil, err
	}
	return []Edit{{i, cm}}, notes, nil
}
