package check

import (
	"bytes"
	"strings"
	"testing"
)

func run(t *testing.T, root string) ([]Finding, string) {
	t.Helper()
	var progress bytes.Buffer
	findings, err := Run(root, &progress)
	if err != nil {
		t.Fatalf("Run(%s): %v", root, err)
	}
	return findings, progress.String()
}

func TestGoodTree(t *testing.T) {
	findings, progress := run(t, "testdata/good")
	for _, f := range findings {
		t.Errorf("unexpected finding: %s", f)
	}
	for _, want := range []string{
		"checked demo-sys/level-0: 2 services",
		"checked demo-sys/level-1: 3 objects",
		"checked demo-sys/level-2: 13 objects, 1 dashboard files",
	} {
		if !strings.Contains(progress, want) {
			t.Errorf("progress lacks %q:\n%s", want, progress)
		}
	}
}

// Each tree under testdata/bad is valid except for one defect, so it must
// produce exactly the findings listed, all in the file with the defect.
func TestBrokenTrees(t *testing.T) {
	tests := []struct {
		tree, file, field string
		count             int
	}{
		{"unknown-field", "bad-sys/level-1/deployment.yaml", "spec.replicass", 1},
		{"no-liveness", "bad-sys/level-1/deployment.yaml", "spec.template.spec.containers[0].livenessProbe", 1},
		{"selector-mismatch", "bad-sys/level-1/service.yaml", "spec.selector", 1},
		{"targetport-mismatch", "bad-sys/level-1/service.yaml", "spec.ports[0].targetPort", 1},
		{"latest-image", "bad-sys/level-1/deployment.yaml", "containers[0].image", 1},
		{"no-resources", "bad-sys/level-1/deployment.yaml", "containers[0].resources.", 2},
		{"runs-as-root", "bad-sys/level-1/deployment.yaml", "containers[0].securityContext.runAsNonRoot", 1},
		{"no-container-name", "bad-sys/level-1/deployment.yaml", "containers[0].name", 1},
		{"unknown-kind", "bad-sys/level-1/service.yaml", "apiVersion", 1},
		{"bad-promql-rule", "bad-sys/level-2/prometheusrule.yaml", "spec.groups[0].rules[0].expr", 1},
		{"bad-promql-dashboard", "bad-sys/level-2/dashboards/demo.json", "panels[0].targets[0].expr", 1},
		{"configmap-dashboard", "bad-sys/level-2/dashboard.yaml", "data[demo.json].panels[0].targets[0].expr", 1},
		{"dashboard-no-panels", "bad-sys/level-2/dashboards/demo.json", "panels", 1},
		{"istio-typo", "bad-sys/level-2/virtualservice.yaml", "spec.http[0].routee", 1},
		{"compose-unknown-key", "bad-sys/level-0/docker-compose.yml", "services.demo.portz", 1},
		{"compose-bad-port", "bad-sys/level-0/docker-compose.yml", "services.demo.ports[0]", 1},
		{"compose-no-context", "bad-sys/level-0/docker-compose.yml", "services.demo.build.context", 1},
		{"compose-no-dockerfile", "bad-sys/level-0/docker-compose.yml", "services.demo.build.dockerfile", 1},
		{"compose-unset-variable", "bad-sys/level-0/docker-compose.yml", "${LOG_LEVEL}", 1},
	}
	for _, tt := range tests {
		t.Run(tt.tree, func(t *testing.T) {
			findings, _ := run(t, "testdata/bad/"+tt.tree)
			if len(findings) != tt.count {
				t.Errorf("got %d findings, want %d", len(findings), tt.count)
			}
			for _, f := range findings {
				if f.File != tt.file || !strings.Contains(f.Field, tt.field) {
					t.Errorf("finding %q: want file %s and field containing %q", f, tt.file, tt.field)
				}
			}
		})
	}
}

func TestNothingToCheck(t *testing.T) {
	findings, progress := run(t, t.TempDir())
	if len(findings) != 0 || !strings.Contains(progress, "nothing to check yet") {
		t.Errorf("findings %v, progress %q", findings, progress)
	}
}

// TestRepository keeps every system in the repository deployable.
func TestRepository(t *testing.T) {
	root, err := FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	findings, progress := run(t, root)
	t.Log(progress)
	for _, f := range findings {
		t.Error(f)
	}
}

func TestImageProblem(t *testing.T) {
	for image, ok := range map[string]bool{
		"redis:7.4":                   true,
		"localhost:5000/app:1.2.3":    true,
		"ghcr.io/org/app@sha256:abcd": true,
		"redis":                       false,
		"redis:latest":                false,
		"localhost:5000/app":          false,
	} {
		if got := imageProblem(image) == ""; got != ok {
			t.Errorf("imageProblem(%q) = %q, want ok=%v", image, imageProblem(image), ok)
		}
	}
}

func TestGrafanaToPromQL(t *testing.T) {
	for _, expr := range []string{
		`rate(x_total{job="$job"}[$__rate_interval])`,
		`sum by ($label) (rate(x_total{route=~"${route:regex}"}[${__interval}]))`,
		`max_over_time(up[$window:$step])`,
		`increase(x_total[$__range]) / $__range_s`,
		`rate(x_total{job="[[job]]"}[5m])`,
	} {
		if err := parsePromQL(grafanaToPromQL(expr)); err != nil {
			t.Errorf("%s -> %s: %v", expr, grafanaToPromQL(expr), err)
		}
	}
}
