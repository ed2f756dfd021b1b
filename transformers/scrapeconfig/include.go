package scrapeconfig

// Files a configuration includes with scrape_config_files: their plain pod jobs
// get the drop rules too, or a sidecar pod they keep is scraped twice.

import (
	"fmt"
	"strings"

	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/krmerr"
	"github.com/istio-prometheus-mtls/istio-prometheus-mtls/transformers/yamlnode"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Included are the scrape_config_files patterns of the configuration doc (for the
// collector, of its receiver's config), in order.
func Included(doc string, o Options) ([]string, error) {
	root, err := parse(doc)
	if err != nil {
		return nil, err
	}
	path, err := configPath(root, o)
	if err != nil {
		return nil, err
	}
	files := yamlnode.Get(lookupPath(root.YNode(), path[:len(path)-1]), "scrape_config_files")
	if files == nil || files.ShortTag() == yaml.NodeTagNull {
		return nil, nil
	}
	if files.Kind != yaml.SequenceNode {
		return nil, krmerr.Errorf(strings.Join(append(path[:len(path)-1], "scrape_config_files"), "."), "must be a list of file patterns")
	}
	var out []string
	for _, f := range files.Content {
		out = append(out, yamlnode.Deref(f).Value)
	}
	return out, nil
}

// configPath is the path of the job list in root: scrape_configs, or the
// collector's receivers.NAME.config.scrape_configs.
func configPath(root *yaml.RNode, o Options) ([]string, error) {
	if !o.scraper().Receivers {
		return []string{"scrape_configs"}, nil
	}
	name, err := receiver(root, o.Receiver)
	if err != nil {
		return nil, err
	}
	return []string{"receivers", name, "config", "scrape_configs"}, nil
}

// lookupPath follows path from n (empty: n itself).
func lookupPath(n *yaml.Node, path []string) *yaml.Node {
	for _, p := range path {
		if n = yamlnode.Get(n, p); n == nil {
			return nil
		}
	}
	return yamlnode.Deref(n)
}

// EditIncluded gives the plain pod jobs of a file that the configuration main
// includes (its top level: scrape_configs) the drop rules, or takes them out
// (o.Remove); it adds no job. Its plain pod jobs must discover pods as main's do:
// the secure job in main stands in for them too.
func EditIncluded(doc, main string, o Options) (string, Report, error) {
	root, err := parse(doc)
	if err != nil {
		return "", Report{}, err
	}
	for i := 0; i+1 < len(root.YNode().Content); i += 2 {
		if k := root.YNode().Content[i].Value; k != "scrape_configs" {
			return "", Report{}, krmerr.Errorf(k, "a file included with scrape_config_files holds scrape_configs only")
		}
	}
	jobs, err := root.Pipe(yaml.LookupCreate(yaml.SequenceNode, "scrape_configs"))
	if err != nil || jobs.YNode().Kind != yaml.SequenceNode {
		return "", Report{}, krmerr.Errorf("scrape_configs", "must be a list of jobs")
	}
	if !o.Remove {
		if err := sameScope(jobs, main, o); err != nil {
			return "", Report{}, err
		}
	}
	o.included = true
	return editAndRender(doc, root, jobs, o, "scrape_configs")
}

// sameScope refuses plain pod jobs in jobs whose pod discovery is not that of
// the plain pod jobs of the configuration main.
func sameScope(jobs *yaml.RNode, main string, o Options) error {
	mroot, err := parse(main)
	if err != nil {
		return err
	}
	path, err := configPath(mroot, o)
	if err != nil {
		return err
	}
	at := func(i int) string { return fmt.Sprintf("scrape_configs[%d]", i) }
	mine, err := plainScope(jobs, o, at)
	if err != nil || len(plainJobs(jobs, o)) == 0 {
		return err
	}
	var theirs []*yaml.Node // none: the secure job discovers every pod
	if mjobs := lookupPath(mroot.YNode(), path); mjobs != nil && mjobs.Kind == yaml.SequenceNode {
		if theirs, err = plainScope(yaml.NewRNode(mjobs), o, at); err != nil {
			return err
		}
	}
	if !yamlnode.SameDecoded(&yaml.Node{Kind: yaml.SequenceNode, Content: mine}, &yaml.Node{Kind: yaml.SequenceNode, Content: theirs}) {
		return krmerr.Errorf("scrape_configs", "its plain pod jobs discover pods in another scope (kubernetes_sd_configs: namespaces, selectors or API server) than the plain pod jobs of the file that includes it, and the one secure job takes that file's scope; give them the same role: pod discovery")
	}
	return nil
}
