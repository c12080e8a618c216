package check

import (
	"path/filepath"
	"slices"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// kustomizationFile returns the kustomization file in dir, or "".
func kustomizationFile(dir string) string {
	for _, n := range kustomizationNames {
		if p := filepath.Join(dir, n); isFile(p) {
			return p
		}
	}
	return ""
}

// kustomization builds dir in-process, as `kubectl kustomize dir` would, and
// checks every object it renders. It returns the number of objects.
func (c *checker) kustomization(dir string) int {
	kfile := kustomizationFile(dir)
	// The default options (LoadRestrictionsRootOnly) still allow bases in
	// other folders such as ../level-1; only single files must be inside dir.
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(originFS{FileSystem: filesys.MakeFsOnDisk(), kustomization: kfile}, dir)
	if err != nil {
		c.add(Finding{File: c.rel(kfile), Object: "Kustomization", Field: "build", Message: err.Error()})
		return 0
	}
	var objs []*object
	for _, res := range resMap.Resources() {
		raw, err := res.MarshalJSON()
		if err != nil {
			c.add(Finding{File: c.rel(kfile), Object: res.GetKind() + "/" + res.GetName(), Message: err.Error()})
			continue
		}
		o := c.decode(c.sourceFile(res, dir, kfile), raw)
		if o != nil {
			objs = append(objs, o)
		}
	}
	c.policy(objs)
	return len(resMap.Resources())
}

// sourceFile names the manifest an object came from, using the origin
// annotation kustomize adds when buildMetadata has originAnnotations.
func (c *checker) sourceFile(res *resource.Resource, dir, kfile string) string {
	o, err := res.GetOrigin()
	if err != nil || o == nil {
		return c.rel(kfile)
	}
	p := o.Path
	if p == "" {
		p = o.ConfiguredIn // generated objects: the kustomization that made them
	}
	if p == "" || o.Repo != "" {
		return c.rel(kfile)
	}
	return c.rel(filepath.Join(dir, p))
}

// originFS turns on origin tracking for the top kustomization without
// changing the file on disk: ReadFile adds originAnnotations to its
// buildMetadata (kustomize passes that on to every base).
type originFS struct {
	filesys.FileSystem
	kustomization string
}

func (fs originFS) ReadFile(path string) ([]byte, error) {
	data, err := fs.FileSystem.ReadFile(path)
	if err != nil || filepath.Clean(path) != fs.kustomization {
		return data, err
	}
	var k map[string]any
	if yaml.Unmarshal(data, &k) != nil || k == nil {
		return data, nil // let kustomize report the broken file
	}
	meta, _ := k["buildMetadata"].([]any)
	if !slices.Contains(meta, any("originAnnotations")) {
		k["buildMetadata"] = append(meta, "originAnnotations")
	}
	return yaml.Marshal(k)
}
