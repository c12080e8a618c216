package check

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"
)

var promql = parser.NewParser(parser.Options{})

func parsePromQL(expr string) error {
	_, err := promql.ParseExpr(expr)
	return err
}

// Grafana variables: $name, ${name}, ${name:format}, [[name]].
var grafanaVar = regexp.MustCompile(`\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::\w+)?\]\]`)

// grafanaToPromQL replaces Grafana variables with values that keep the
// query valid PromQL: durations for the interval variables and inside range
// brackets, a plain identifier elsewhere (valid as a label value, label name
// or metric name).
func grafanaToPromQL(expr string) string {
	out := grafanaVar.ReplaceAllStringFunc(expr, func(v string) string {
		m := grafanaVar.FindStringSubmatch(v)
		name := m[1] + m[2] + m[3]
		switch name {
		case "__rate_interval", "__interval", "__range", "__auto":
			return "5m"
		case "__interval_ms", "__range_ms", "__range_s":
			return "300"
		}
		return "grafana_var"
	})
	// A user variable used as a range or subquery duration: [$window], [$w:$step].
	out = strings.ReplaceAll(out, "[grafana_var", "[5m")
	return strings.ReplaceAll(out, ":grafana_var]", ":1m]")
}

// dashboardFiles checks every *.json file under a level-2 folder as a
// Grafana dashboard, and returns how many it checked.
func (c *checker) dashboardFiles(dir string) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		c.dashboard(c.rel(path), "", "", data)
		n++
		return nil
	})
	return n, err
}

// dashboard checks one Grafana dashboard: a JSON object with title, panels
// and schemaVersion, whose panels have titles and PromQL that parses.
// objID is the ConfigMap holding it, or "" for a file; prefix is put in front
// of field paths (the ConfigMap key).
func (c *checker) dashboard(file, objID, prefix string, data []byte) {
	if c.seenDashboards[string(data)] {
		return
	}
	c.seenDashboards[string(data)] = true
	add := func(field, format string, args ...any) {
		c.add(Finding{File: file, Object: objID, Field: prefix + field, Message: fmt.Sprintf(format, args...)})
	}
	var d map[string]any
	if err := json.Unmarshal(data, &d); err != nil {
		add("", "not a JSON object: %v", err)
		return
	}
	if objID == "" {
		title, _ := d["title"].(string)
		objID = "Dashboard/" + title
	}
	for _, key := range []string{"title", "panels", "schemaVersion"} {
		if _, ok := d[key]; !ok {
			add(key, "missing (a Grafana dashboard needs title, panels and schemaVersion)")
		}
	}
	if _, ok := d["panels"].([]any); !ok && d["panels"] != nil {
		add("panels", "must be a list")
	}
	c.panels(add, "panels", d["panels"])
}

// panels checks a list of panels, and recursively the panels of collapsed rows.
func (c *checker) panels(add func(field, format string, args ...any), path string, v any) {
	list, _ := v.([]any)
	for i, p := range list {
		panel, ok := p.(map[string]any)
		ppath := fmt.Sprintf("%s[%d]", path, i)
		if !ok {
			add(ppath, "panel must be an object")
			continue
		}
		if t, _ := panel["title"].(string); t == "" {
			add(ppath+".title", "missing")
		}
		targets, _ := panel["targets"].([]any)
		for j, t := range targets {
			target, _ := t.(map[string]any)
			expr, _ := target["expr"].(string)
			if expr == "" || !isPrometheus(target["datasource"]) || !isPrometheus(panel["datasource"]) {
				continue
			}
			if err := parsePromQL(grafanaToPromQL(expr)); err != nil {
				add(fmt.Sprintf("%s.targets[%d].expr", ppath, j), "PromQL does not parse: %v", err)
			}
		}
		c.panels(add, ppath+".panels", panel["panels"])
	}
}

// isPrometheus is false only for a datasource that names another type
// (Loki's expr is LogQL, not PromQL).
func isPrometheus(ds any) bool {
	m, _ := ds.(map[string]any)
	t, _ := m["type"].(string)
	return t == "" || t == "prometheus" || strings.HasPrefix(t, "$") // a variable: assume Prometheus
}
