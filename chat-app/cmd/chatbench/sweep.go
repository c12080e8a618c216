package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// A rate sweep finds each system's saturation point: the highest offered rate at which the median
// run delivers ≥ 99 % of the deliveries owed with p99 < 50 ms. Each rate runs -runs times per
// system, ours and Centrifugo alternating (ours first on odd runs, Centrifugo first on even ones),
// so that a machine that gets busier or quieter during the sweep weighs on both alike; the
// medians are compared. Load averages are recorded around every run.

const sweepDelivered = 0.99 // share of owed deliveries a run must deliver to count as keeping up

type sweepRun struct {
	r                  *result
	loadBefore, loadAt string
}

type sweepPoint struct {
	rate float64
	runs map[string][]sweepRun // system → runs
}

type sweepResult struct {
	o      options
	points []sweepPoint
}

func runSweep(ctx context.Context, p progress, o options, bin, dir string) (*sweepResult, error) {
	sw := &sweepResult{o: o}
	systems := []string{nameOurs}
	if !o.skipCentrifugo {
		systems = append(systems, nameCentrifugo)
	}
	for _, rate := range o.sweep {
		pt := sweepPoint{rate: rate, runs: map[string][]sweepRun{}}
		ro := o
		ro.rate = rate
		for i := range o.repeat {
			order := slices.Clone(systems)
			if i%2 == 1 {
				slices.Reverse(order)
			}
			for _, sys := range order {
				before := loadAvg()
				var r *result
				var err error
				if sys == nameOurs {
					r, err = runOurs(ctx, p, ro, bin, dir)
				} else {
					r, err = runCentrifugo(ctx, p, ro, dir)
				}
				if err != nil {
					return nil, fmt.Errorf("sweep %s at %.0f/s: %w", sys, rate, err)
				}
				p.done(r)
				pt.runs[sys] = append(pt.runs[sys], sweepRun{r: r, loadBefore: before, loadAt: loadAvg()})
			}
		}
		sw.points = append(sw.points, pt)
	}
	return sw, nil
}

// median of the runs of one system at one point.
type sweepMedian struct {
	p99       time.Duration
	delivered float64 // share of owed deliveries
	rate      float64 // delivered msgs/s
	cpuPerMsg float64 // server CPU-µs per delivered message
	keepsUp   bool
	loads     []string
	runs      int
	p99s      []time.Duration
}

func (pt sweepPoint) median(sys string) (sweepMedian, bool) {
	runs := pt.runs[sys]
	if len(runs) == 0 {
		return sweepMedian{}, false
	}
	var m sweepMedian
	var p99s []time.Duration
	var dels, rates, cpus []float64
	for _, x := range runs {
		p99 := x.r.lat.p99
		if x.r.sentIn == 0 {
			p99 = time.Hour // delivered nothing: worst
		}
		p99s = append(p99s, p99)
		dels = append(dels, float64(x.r.sentIn)/float64(max(x.r.expected(), 1)))
		rates = append(rates, x.r.rate())
		cpus = append(cpus, x.r.cpuSeconds*1e6/float64(max(x.r.received, 1)))
		m.loads = append(m.loads, x.loadBefore)
	}
	m.p99s = p99s
	m.p99 = medianOf(p99s)
	m.delivered, m.rate, m.cpuPerMsg = medianOf(dels), medianOf(rates), medianOf(cpus)
	m.keepsUp = m.delivered >= sweepDelivered && m.p99 < targetP99
	m.runs = len(runs)
	return m, true
}

func medianOf[T int64 | float64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// saturation is the highest swept rate at which sys kept up, and whether every lower rate did too.
func (sw *sweepResult) saturation(sys string) float64 {
	best := 0.0
	for _, pt := range sw.points {
		if m, ok := pt.median(sys); ok && m.keepsUp {
			best = max(best, pt.rate)
		}
	}
	return best
}

func (sw *sweepResult) print(w io.Writer) {
	fmt.Fprintf(w, "\nrate sweep, scenario (b): %d receivers, ours sent over %s, Centrifugo over HTTP /api/publish, %d HTTP publisher connections, "+
		"%v warm-up + %v per run, %d runs per rate and system (alternating), medians; store %s\n\n",
		sw.o.receivers, sw.o.senders, sw.o.publishers, sw.o.warmup, sw.o.duration, sw.o.repeat, storeName(sw.o))
	fmt.Fprintln(w, "| rate/s | system | delivered msgs/s | delivered/owed | p99 (median) | p99 of each run | server CPU-µs per delivered msg | keeps up | load avg before each run |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---|---:|---|---|")
	for _, pt := range sw.points {
		for _, sys := range []string{nameOurs, nameCentrifugo} {
			m, ok := pt.median(sys)
			if !ok {
				continue
			}
			var each []string
			for _, d := range m.p99s {
				each = append(each, fmtDur(d))
			}
			fmt.Fprintf(w, "| %.0f | %s | %.0f | %.2f%% | %s | %s | %.1f | %v | %s |\n", pt.rate, sys, m.rate, 100*m.delivered,
				fmtDur(m.p99), strings.Join(each, " / "), m.cpuPerMsg, m.keepsUp, strings.Join(m.loads, "; "))
		}
	}
	fmt.Fprintln(w)
	for _, pt := range sw.points {
		o, ok1 := pt.median(nameOurs)
		c, ok2 := pt.median(nameCentrifugo)
		if ok1 && ok2 && c.p99 > 0 {
			fmt.Fprintf(w, "at %.0f/s: p99 ours/centrifugo = %.2f× (%s vs %s); target p99 ≤ Centrifugo's: %s\n", pt.rate,
				float64(o.p99)/float64(c.p99), fmtDur(o.p99), fmtDur(c.p99), verdict(o.p99 <= c.p99))
		}
	}
	so := sw.saturation(nameOurs)
	line := fmt.Sprintf("saturation (highest rate with ≥ %.0f %% delivered and p99 < %s): ours %.0f/s", 100*sweepDelivered, targetP99, so)
	if !sw.o.skipCentrifugo {
		sc := sw.saturation(nameCentrifugo)
		ratio := 0.0
		if sc > 0 {
			ratio = so / sc
		}
		line += fmt.Sprintf(", Centrifugo %.0f/s, ours/centrifugo = %.2f×; target saturation ≥ Centrifugo's: ", sc, ratio)
		if so == 0 && sc == 0 {
			line += "not decided (neither kept up at any swept rate: sweep lower rates, or on a quieter machine)"
		} else {
			line += verdict(so >= sc)
		}
	}
	fmt.Fprintln(w, line)
	fmt.Fprintln(w, "(a system that keeps up at the highest swept rate may saturate higher: sweep further to find it)")
}
