// Package check validates the deployment files of every system in the
// repository without a cluster or a Docker engine.
//
// It discovers systems by folder, so a new system is checked as soon as it
// has any of these:
//
//   - <sys>/level-0/docker-compose.yml: loads with compose-go, and every
//     build context and Dockerfile exists;
//   - <sys>/level-1 and <sys>/level-2 kustomizations: build with krusty, and
//     every object decodes strictly into its typed Kubernetes, Istio or
//     Prometheus-operator Go type, has its required fields, and passes the
//     workload and Service policy checks (probes, resources, non-root,
//     pinned images, selectors and target ports that match a workload);
//   - PromQL in PrometheusRules and Grafana dashboards parses.
//
// Every problem is reported as a Finding rather than an error, so one run
// lists them all.
package check

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Finding is one problem, printed as "FILE: OBJECT: FIELD: MESSAGE".
type Finding struct {
	File    string // slash path relative to the root
	Object  string // Kind/name, "service/name" for compose, "-" when none
	Field   string // field path, e.g. spec.template.spec.containers[0].image
	Message string
}

func (f Finding) String() string {
	return fmt.Sprintf("%s: %s: %s: %s", orDash(f.File), orDash(f.Object), orDash(f.Field), f.Message)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Run checks every system folder directly under root, writes one progress
// line per folder checked to progress, and returns the findings sorted and
// without duplicates (level-1 objects are checked again inside level-2).
// The error is only for problems with the run itself, such as an unreadable root.
func Run(root string, progress io.Writer) ([]Finding, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	systems, err := discover(root)
	if err != nil {
		return nil, err
	}
	if len(systems) == 0 {
		fmt.Fprintf(progress, "nothing to check yet: no */level-0, */level-1 or */level-2 folders under %s\n", root)
		return nil, nil
	}
	c := &checker{root: root, progress: progress, seenDashboards: map[string]bool{}}
	for _, sys := range systems {
		if err := c.system(sys); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(c.findings, func(a, b Finding) int { return strings.Compare(a.String(), b.String()) })
	return slices.CompactFunc(c.findings, func(a, b Finding) bool { return a == b }), nil
}

// discover returns the folders directly under root that have a level-N folder.
func discover(root string) ([]string, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var systems []string
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		for _, level := range []string{"level-0", "level-1", "level-2"} {
			if isDir(filepath.Join(root, e.Name(), level)) {
				systems = append(systems, filepath.Join(root, e.Name()))
				break
			}
		}
	}
	return systems, nil
}

type checker struct {
	root     string
	progress io.Writer
	findings []Finding
	// seenDashboards holds dashboard JSON already checked as a file, so the
	// ConfigMap generated from the same file is not reported twice.
	seenDashboards map[string]bool
}

func (c *checker) add(f Finding) { c.findings = append(c.findings, f) }

// rel turns an absolute path into the slash path printed in findings.
func (c *checker) rel(path string) string {
	r, err := filepath.Rel(c.root, path)
	if err != nil {
		return filepath.ToSlash(path)
	}
	return filepath.ToSlash(r)
}

func (c *checker) logf(format string, args ...any) {
	fmt.Fprintf(c.progress, format+"\n", args...)
}

func (c *checker) system(dir string) error {
	if f := filepath.Join(dir, "level-0", "docker-compose.yml"); isFile(f) {
		c.compose(f)
	}
	for _, level := range []string{"level-1", "level-2"} {
		ldir := filepath.Join(dir, level)
		if !isDir(ldir) {
			continue
		}
		dashboards := 0
		if level == "level-2" {
			n, err := c.dashboardFiles(ldir)
			if err != nil {
				return err
			}
			dashboards = n
		}
		objects := -1
		if kustomizationFile(ldir) != "" {
			objects = c.kustomization(ldir)
		}
		switch {
		case objects >= 0 && dashboards > 0:
			c.logf("checked %s: %d objects, %d dashboard files", c.rel(ldir), objects, dashboards)
		case objects >= 0:
			c.logf("checked %s: %d objects", c.rel(ldir), objects)
		case dashboards > 0:
			c.logf("checked %s: %d dashboard files (no kustomization)", c.rel(ldir), dashboards)
		}
	}
	return nil
}

// FindRoot walks up from start to the folder that holds go.work: the
// repository root.
func FindRoot(start string) (string, error) {
	dir, err := filepath.Abs(start)
	if err != nil {
		return "", err
	}
	for {
		if isFile(filepath.Join(dir, "go.work")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work found in " + start + " or any parent folder")
		}
		dir = parent
	}
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
