package loadgen

import (
	"bytes"
	"cmp"
	"fmt"
	"html/template"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
)

// WriteReport writes <dir>/<slug(title)>.md and .html, creating dir if needed.
// Both hold the summary table, errors by kind and the run environment; the HTML
// adds, per scenario, a latency-over-time chart and a percentile chart as
// inline SVG. The HTML is self-contained (no script, stylesheet, font or image
// is fetched) so that it can be archived as a CI artifact and opened offline.
func WriteReport(dir, title string, results ...*Result) (mdPath, htmlPath string, err error) {
	rep := newReport(title, results)
	md := rep.markdown()
	page, err := rep.html()
	if err != nil {
		return "", "", fmt.Errorf("report %q: %w", title, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("report %q: %w", title, err)
	}
	base := filepath.Join(dir, slug(title))
	mdPath, htmlPath = base+".md", base+".html"
	if err := os.WriteFile(mdPath, md, 0o644); err != nil {
		return "", "", fmt.Errorf("report %q: %w", title, err)
	}
	if err := os.WriteFile(htmlPath, page, 0o644); err != nil {
		return "", "", fmt.Errorf("report %q: %w", title, err)
	}
	return mdPath, htmlPath, nil
}

// report is the content shared by both formats, computed once.
type report struct {
	Title     string
	Intro     string
	Header    []string
	Rows      [][]string
	Errors    [][]string // scenario, kind, count
	Details   []string   // header of the details table
	DRows     [][]string // its rows
	Env       [][2]string
	Scenarios []*Result
}

func newReport(title string, results []*Result) *report {
	rep := &report{
		Title: title,
		Intro: "Open-loop load: requests arrive at a fixed rate whatever the server does, and each latency " +
			"is measured from the request's scheduled time, so stalls are not hidden (no coordinated omission). " +
			"Latency percentiles are of successful requests; failures are counted by kind.",
		Header:  []string{"scenario", "target rate", "achieved", "sent", "ok", "failed", "dropped", "p50", "p90", "p99", "p99.9", "max"},
		Details: []string{"scenario", "duration", "min", "mean", "generator max lag"},
		Env: [][2]string{
			{"Go", runtime.Version()},
			{"GOOS/GOARCH", runtime.GOOS + "/" + runtime.GOARCH},
			{"NumCPU", fmt.Sprint(runtime.NumCPU())},
			{"Date", time.Now().UTC().Format(time.RFC3339)},
		},
	}
	for _, r := range results {
		if r == nil {
			continue
		}
		rep.Scenarios = append(rep.Scenarios, r)
		l := r.Latency
		rep.Rows = append(rep.Rows, []string{
			r.Name, fmtRate(r.Rate), fmtRate(r.Achieved),
			fmt.Sprint(r.Sent), fmt.Sprint(r.OK), fmt.Sprint(r.Failed), fmt.Sprint(r.Dropped),
			fmtDuration(l.P50), fmtDuration(l.P90), fmtDuration(l.P99), fmtDuration(l.P999), fmtDuration(l.Max),
		})
		rep.DRows = append(rep.DRows, []string{
			r.Name, r.Duration.String(), fmtDuration(l.Min), fmtDuration(l.Mean), fmtDuration(r.MaxLag),
		})
		kinds := make([]string, 0, len(r.Errors))
		for k := range r.Errors {
			kinds = append(kinds, k)
		}
		// Most frequent first; ties by name so the report is stable.
		slices.SortFunc(kinds, func(a, b string) int {
			if c := cmp.Compare(r.Errors[b], r.Errors[a]); c != 0 {
				return c
			}
			return strings.Compare(a, b)
		})
		for _, k := range kinds {
			rep.Errors = append(rep.Errors, []string{r.Name, k, fmt.Sprint(r.Errors[k])})
		}
	}
	return rep
}

func (rep *report) markdown() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s\n\n%s\n\n", mdEscape(rep.Title), rep.Intro)
	mdTable(&b, 1, rep.Header, rep.Rows)
	b.WriteString("\n## Errors by kind\n\n")
	if len(rep.Errors) == 0 {
		b.WriteString("No failed requests.\n")
	} else {
		mdTable(&b, 2, []string{"scenario", "kind", "count"}, rep.Errors)
	}
	b.WriteString("\n## Details\n\n")
	mdTable(&b, 1, rep.Details, rep.DRows)
	b.WriteString("\nA large generator lag means the load generator itself fell behind its schedule; " +
		"that delay is counted as latency.\n\n## Environment\n\n")
	for _, kv := range rep.Env {
		fmt.Fprintf(&b, "- %s: %s\n", kv[0], kv[1])
	}
	return b.Bytes()
}

// mdEscape keeps caller text (scenario names, error kinds) from being read as
// HTML tags or breaking a table row.
func mdEscape(s string) string {
	return strings.NewReplacer("<", `\<`, ">", `\>`, "|", `\|`, "\n", " ", "\r", " ").Replace(s)
}

// mdTable writes a table whose first textCols columns are text (left-aligned)
// and the rest numbers (right-aligned).
func mdTable(b *bytes.Buffer, textCols int, header []string, rows [][]string) {
	b.WriteString("|")
	for _, h := range header {
		b.WriteString(" " + h + " |")
	}
	b.WriteString("\n|")
	for i := range header {
		if i < textCols {
			b.WriteString("---|")
		} else {
			b.WriteString("---:|")
		}
	}
	b.WriteString("\n")
	for _, row := range rows {
		b.WriteString("|")
		for _, c := range row {
			b.WriteString(" " + mdEscape(c) + " |")
		}
		b.WriteString("\n")
	}
}

type chartPair struct {
	Name                  string
	Timeline, Percentiles template.HTML
	Note                  string
}

func (rep *report) html() ([]byte, error) {
	var charts []chartPair
	for _, r := range rep.Scenarios {
		c := chartPair{Name: r.Name}
		if r.Histogram == nil || r.Histogram.TotalCount() == 0 {
			c.Note = "No successful requests, so no latency to chart."
			charts = append(charts, c)
			continue
		}
		var svgs [2]string
		for i, build := range []func(*Result) (*plot.Plot, error){timelinePlot, percentilePlot} {
			p, err := build(r)
			if err != nil {
				return nil, err
			}
			if svgs[i], err = renderSVG(p); err != nil {
				return nil, err
			}
		}
		// The SVG comes from gonum/plot, which escapes the text it draws.
		c.Timeline, c.Percentiles = template.HTML(svgs[0]), template.HTML(svgs[1])
		charts = append(charts, c)
	}
	// html/template escapes every field; only the SVGs are trusted as HTML.
	tmpl, err := template.New("report").Parse(pageTemplate)
	if err != nil {
		return nil, fmt.Errorf("parse html template: %w", err)
	}
	var b bytes.Buffer
	err = tmpl.Execute(&b, struct {
		*report
		Charts []chartPair
	}{rep, charts})
	if err != nil {
		return nil, fmt.Errorf("render html: %w", err)
	}
	return b.Bytes(), nil
}

const pageTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
figure { margin: 1rem 0; }
svg { max-width: 100%; height: auto; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p>{{.Intro}}</p>
<table>
<tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
<h2>Errors by kind</h2>
{{if .Errors}}<table>
<tr><th>scenario</th><th>kind</th><th>count</th></tr>
{{range .Errors}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>{{else}}<p>No failed requests.</p>{{end}}
{{range .Charts}}<section>
<h2>{{.Name}}</h2>
{{if .Note}}<p>{{.Note}}</p>{{else}}<figure>{{.Timeline}}</figure>
<figure>{{.Percentiles}}</figure>{{end}}
</section>
{{end}}<h2>Details</h2>
<table>
<tr>{{range .Details}}<th>{{.}}</th>{{end}}</tr>
{{range .DRows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
<p>A large generator lag means the load generator itself fell behind its schedule; that delay is counted as latency.</p>
<h2>Environment</h2>
<ul>
{{range .Env}}<li>{{index . 0}}: {{index . 1}}</li>
{{end}}</ul>
</body>
</html>
`

// slug turns a title into a file name: lower-case ASCII letters and digits,
// runs of anything else collapsed into one dash.
func slug(title string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(title) {
		if ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(c)
			dash = false
		} else {
			dash = true
		}
	}
	if b.Len() == 0 {
		return "report"
	}
	return b.String()
}

func fmtRate(perSecond float64) string {
	if perSecond == math.Trunc(perSecond) {
		return fmt.Sprintf("%.0f/s", perSecond)
	}
	return fmt.Sprintf("%.1f/s", perSecond)
}

// fmtDuration prints latencies at a precision that suits their size, instead
// of time.Duration's 1.234567ms.
func fmtDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}
