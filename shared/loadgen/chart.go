package loadgen

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

const (
	chartWidth  = 7 * vg.Inch
	chartHeight = 3.2 * vg.Inch
	// pointsUpTo: below this many seconds the timeline also marks each point,
	// so a short run (even a single second) is still visible.
	pointsUpTo = 30
	// stepsPerDecade is the resolution of the percentile curve: 20 points
	// between 90% and 99%, between 99% and 99.9%, and so on.
	stepsPerDecade = 20
	maxNines       = 6
)

// timelinePlot plots p50, p99 and max per second, by scheduled time.
func timelinePlot(r *Result) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = r.Name + ": latency per second (by scheduled time)"
	p.X.Label.Text = "seconds since start"
	p.Y.Label.Text = "latency (ms)"
	p.Y.Min = 0
	p.Legend.Top = true

	series := []struct {
		name string
		val  func(Second) float64
	}{
		{"max", func(s Second) float64 { return ms(s.Max) }},
		{"p99", func(s Second) float64 { return ms(s.P99) }},
		{"p50", func(s Second) float64 { return ms(s.P50) }},
	}
	for i, s := range series {
		var xys plotter.XYs
		for _, sec := range r.Timeline {
			if sec.OK > 0 {
				xys = append(xys, plotter.XY{X: sec.At.Seconds(), Y: s.val(sec)})
			}
		}
		if err := addLine(p, s.name, plotutil.Color(i), xys, len(r.Timeline) <= pointsUpTo); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// percentilePlot is HdrHistogram's percentile spectrum: the x axis is
// 1/(1-q) on a log scale, so 90%, 99%, 99.9%... are equally spaced and the
// tail, where coordinated omission hides, gets as much room as the median.
func percentilePlot(r *Result) (*plot.Plot, error) {
	h := r.Histogram
	total := float64(h.TotalCount())
	maxX := min(total, math.Pow(10, maxNines))

	var xys plotter.XYs
	for k := 0; ; k++ {
		x := math.Pow(10, float64(k)/stepsPerDecade)
		if x > maxX {
			break
		}
		q := 100 * (1 - 1/x)
		xys = append(xys, plotter.XY{X: x, Y: ms(micros(h.ValueAtQuantile(q)))})
	}
	xys = append(xys, plotter.XY{X: max(maxX, 1), Y: ms(micros(h.Max()))})

	p := plot.New()
	p.Title.Text = r.Name + ": latency by percentile"
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "latency (ms)"
	p.Y.Min = 0
	p.X.Scale = plot.LogScale{}
	p.X.Min, p.X.Max = 1, max(maxX, 10)

	ticks := plot.ConstantTicks{{Value: 1, Label: "0%"}, {Value: 2, Label: "50%"}}
	for d, label := range []string{"90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"} {
		if x := math.Pow(10, float64(d+1)); x <= p.X.Max {
			ticks = append(ticks, plot.Tick{Value: x, Label: label})
		}
	}
	p.X.Tick.Marker = ticks

	if err := addLine(p, "", plotutil.Color(0), xys, false); err != nil {
		return nil, err
	}
	return p, nil
}

func addLine(p *plot.Plot, name string, c color.Color, xys plotter.XYs, points bool) error {
	if len(xys) == 0 {
		return nil
	}
	line, err := plotter.NewLine(xys)
	if err != nil {
		return fmt.Errorf("chart line %s: %w", name, err)
	}
	line.LineStyle.Color = c
	line.LineStyle.Width = vg.Points(1.5)
	p.Add(line)
	if name != "" { // a single unnamed series needs no legend
		p.Legend.Add(name, line)
	}
	if points {
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return fmt.Errorf("chart points %s: %w", name, err)
		}
		sc.GlyphStyle.Color = c
		sc.GlyphStyle.Shape = draw.CircleGlyph{}
		sc.GlyphStyle.Radius = vg.Points(2)
		p.Add(sc)
	}
	return nil
}

// renderSVG draws p as an SVG element ready to inline in HTML. Fonts are
// referenced by family name only (not embedded, not linked), so the page
// stays small and makes no request; the browser substitutes a local font.
func renderSVG(p *plot.Plot) (string, error) {
	// Sans rather than gonum's default serif, to match the page; set per plot
	// because plot.DefaultFont is a global.
	for _, st := range []*text.Style{&p.Title.TextStyle, &p.X.Label.TextStyle, &p.Y.Label.TextStyle,
		&p.X.Tick.Label, &p.Y.Tick.Label, &p.Legend.TextStyle} {
		st.Font.Typeface, st.Font.Variant = "Liberation", "Sans"
	}
	c := vgsvg.New(chartWidth, chartHeight)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", fmt.Errorf("render svg: %w", err)
	}
	// Drop the XML prolog and comment: inside HTML only the <svg> element is valid.
	s := buf.String()
	i := strings.Index(s, "<svg")
	if i < 0 {
		return "", fmt.Errorf("render svg: no <svg> element in output")
	}
	return s[i:], nil
}

func ms(d time.Duration) float64 { return d.Seconds() * 1000 }
