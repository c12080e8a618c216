package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// The targets this benchmark checks, from the rate limiter's brief.
const targetRatio = 1.5 // ours/envoy decisions per second

// runEnv is the machine and the run, for the report's header.
type runEnv struct {
	Command      string
	Date         time.Time
	GoVersion    string
	NumCPU       int
	GOMAXPROCS   int
	LoadStart    float64
	LoadEnd      float64
	EnvoyVersion string
}

func captureEnv() *runEnv {
	return &runEnv{
		Command:    strings.TrimSpace("go run ./rate-limiter/cmd/rlbench " + strings.Join(os.Args[1:], " ")),
		Date:       time.Now(),
		GoVersion:  runtime.Version(),
		NumCPU:     runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		LoadStart:  loadAvg(),
	}
}

// results collects every phase of the run.
type results struct {
	env         *runEnv
	opts        options
	rules       string
	rows        []*row
	oursMetrics oursMetrics
}

// row is one service in one round.
type row struct {
	round int
	name  string
	tp    *phase
	ex    *exactResult
}

func (r *results) row(round int, name string) *row {
	for _, x := range r.rows {
		if x.round == round && x.name == name {
			return x
		}
	}
	x := &row{round: round, name: name}
	r.rows = append(r.rows, x)
	return x
}

func (r *results) add(round int, name string, tp *phase) { r.row(round, name).tp = tp }

func (r *results) addExact(round int, name string, ex exactResult) { r.row(round, name).ex = &ex }

// total is one service over all rounds: decisions per second over the summed windows,
// percentiles over every call of every round.
type total struct {
	name      string
	rate      float64
	cpu       time.Duration // service CPU over the measured windows
	decisions int64
	without   int64 // ours: decisions its failure_mode made without Redis
	lat       latency
	errors    int64
	overLimit int64
	admitted  []exactResult
	load      []float64
}

func (r *results) totals() []*total {
	var out []*total
	for _, name := range []string{nameOurs, nameEnvoy} {
		t := &total{name: name}
		var window time.Duration
		var decisions int64
		var all []time.Duration
		for _, x := range r.rows {
			if x.name != name {
				continue
			}
			if x.tp != nil {
				window += x.tp.window
				decisions += x.tp.ok + x.tp.overLimit
				t.cpu += x.tp.svcCPU
				if x.tp.store != nil {
					t.without += int64(x.tp.store.FailureMode)
				}
				t.errors += x.tp.errors
				t.overLimit += x.tp.overLimit
				all = append(all, x.tp.samples...)
				t.load = append(t.load, x.tp.load)
			}
			if x.ex != nil {
				t.admitted = append(t.admitted, *x.ex)
			}
		}
		if window == 0 {
			continue
		}
		slices.Sort(all)
		t.decisions = decisions
		t.rate = float64(decisions) / window.Seconds()
		t.lat = summarize(all)
		out = append(out, t)
	}
	return out
}

// exactOK reports whether every exact-admission phase admitted exactly the limit, validly.
func (r *results) exactOK(t *total) bool {
	if len(t.admitted) == 0 {
		return false
	}
	for _, e := range t.admitted {
		if e.ok != int64(r.opts.exactLimit) || e.crossed || e.errors > 0 || e.wrongLimit > 0 {
			return false
		}
	}
	return true
}

func (r *results) admittedText(t *total) string {
	var parts []string
	for _, e := range t.admitted {
		s := fmt.Sprint(e.ok)
		switch {
		case e.crossed:
			s += " (crossed a window: invalid)"
		case e.errors > 0:
			s += fmt.Sprintf(" (%d errors)", e.errors)
		case e.wrongLimit > 0:
			s += fmt.Sprintf(" (%d wrong-rule answers)", e.wrongLimit)
		case e.store != nil && e.store.FailureMode > 0:
			s += fmt.Sprintf(" (%.0f by failure_mode)", e.store.FailureMode)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// verdicts are the comparison lines and the targets, reached or not.
func (r *results) verdicts() []string {
	tots := r.totals()
	var ours, peer *total
	for _, t := range tots {
		switch t.name {
		case nameOurs:
			ours = t
		case nameEnvoy:
			peer = t
		}
	}
	mark := func(ok bool) string {
		if ok {
			return "reached"
		}
		return "NOT reached"
	}
	var v []string
	if ours != nil && peer != nil && peer.rate > 0 && peer.lat.p99 > 0 {
		// Decisions a failure mode made without Redis are not rate limiting: the target is
		// judged on the Redis-backed ones, as the median of the rounds' ratios (each round runs
		// both services back to back, so a drifting load on this shared machine hits both).
		all, perRound := r.roundRatios()
		ratio, backed := median(all), median(perRound)
		v = append(v, fmt.Sprintf("ours/envoy decisions/s = %.2f× (median of %d rounds: %s)", ratio, len(all), fmtRatios(all)))
		if ours.without > 0 {
			v = append(v, fmt.Sprintf("ours/envoy Redis-backed decisions/s = %.2f× (%d of ours' %d measured decisions, %.1f%%, were made by failure_mode without Redis: store deadline missed or breaker open)",
				backed, ours.without, ours.decisions, 100*float64(ours.without)/float64(max(ours.decisions, 1))))
		}
		v = append(v,
			fmt.Sprintf("p99 ours vs envoy = %s vs %s (%.2f×)", fmtDur(ours.lat.p99), fmtDur(peer.lat.p99), float64(ours.lat.p99)/float64(peer.lat.p99)),
			fmt.Sprintf("service CPU per decision ours vs envoy = %s vs %s (steadier than decisions/s on a busy machine)",
				perDecision(ours.cpu, ours.decisions), perDecision(peer.cpu, peer.decisions)),
			fmt.Sprintf("target Redis-backed decisions/s ≥ %.1f× envoy (median of rounds): %s (%.2f×; rounds %s)", targetRatio, mark(backed >= targetRatio), backed, fmtRatios(perRound)),
			fmt.Sprintf("target p99 lower than envoy's: %s", mark(ours.lat.p99 < peer.lat.p99)),
		)
	} else {
		v = append(v, "no comparison: envoy ratelimit was not run (-skip-envoy)")
	}
	for _, t := range tots {
		v = append(v, fmt.Sprintf("target exactly %d admitted of %d (%s): %s (%s)", r.opts.exactLimit, r.opts.exactCalls, t.name, mark(r.exactOK(t)), r.admittedText(t)))
	}
	return v
}

// roundRatios are ours/envoy decisions per second in each round that measured both: all of
// ours, and only ours that came from Redis (not from a failure mode).
func (r *results) roundRatios() (all, backed []float64) {
	for _, o := range r.rows {
		if o.name != nameOurs || o.tp == nil || o.tp.window <= 0 {
			continue
		}
		i := slices.IndexFunc(r.rows, func(x *row) bool { return x.round == o.round && x.name == nameEnvoy })
		if i < 0 || r.rows[i].tp == nil || r.rows[i].tp.rate() <= 0 {
			continue
		}
		p := r.rows[i]
		without := 0.0
		if o.tp.store != nil {
			without = o.tp.store.FailureMode
		}
		all = append(all, o.tp.rate()/p.tp.rate())
		backed = append(backed, (float64(o.tp.ok+o.tp.overLimit)-without)/o.tp.window.Seconds()/p.tp.rate())
	}
	return all, backed
}

// median of xs (0 when empty).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

func fmtRatios(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.2f×", x)
	}
	return strings.Join(parts, ", ")
}

func (r *results) header() []string {
	return []string{"round", "service", "decisions/s", "p50", "p99", "p99.9", "max", "errors", "over-limit", "without Redis",
		"service CPU", "CPU/decision", "rlbench CPU", "Redis CPU", "load", fmt.Sprintf("admitted of %d", r.opts.exactLimit)}
}

func (r *results) cells(x *row) []string {
	c := []string{fmt.Sprint(x.round + 1), x.name}
	if ph := x.tp; ph != nil {
		dec := ph.ok + ph.overLimit
		without := "n/a"
		if ph.store != nil {
			without = fmt.Sprintf("%.0f", ph.store.FailureMode)
		}
		c = append(c, fmt.Sprintf("%.0f", ph.rate()), fmtDur(ph.lat.p50), fmtDur(ph.lat.p99), fmtDur(ph.lat.p999), fmtDur(ph.lat.max),
			fmt.Sprint(ph.errors), fmt.Sprint(ph.overLimit), without,
			percent(ph.svcCPU, ph.window), perDecision(ph.svcCPU, dec), percent(ph.selfCPU, ph.window), percent(ph.redisCPU, ph.window),
			fmt.Sprintf("%.2f", ph.load))
	} else {
		c = append(c, "", "", "", "", "", "", "", "", "", "", "", "", "")
	}
	if x.ex != nil {
		c = append(c, r.admittedText(&total{admitted: []exactResult{*x.ex}}))
	} else {
		c = append(c, "")
	}
	return c
}

func (r *results) totalHeader() []string {
	return []string{"service", "decisions/s", "p50", "p99", "p99.9", "errors", "CPU/decision", fmt.Sprintf("admitted of %d", r.opts.exactLimit)}
}

func (r *results) totalCells(t *total) []string {
	return []string{t.name, fmt.Sprintf("%.0f", t.rate), fmtDur(t.lat.p50), fmtDur(t.lat.p99), fmtDur(t.lat.p999),
		fmt.Sprint(t.errors), perDecision(t.cpu, t.decisions), r.admittedText(t)}
}

// errorLines lists error kinds, when there were any.
func (r *results) errorLines() []string {
	var out []string
	for _, x := range r.rows {
		if x.tp == nil {
			continue
		}
		for k, n := range x.tp.errKinds {
			out = append(out, fmt.Sprintf("round %d %s: %d × %s", x.round+1, x.name, n, k))
		}
	}
	slices.Sort(out)
	return out
}

func (r *results) metricsLine() string {
	m := r.oursMetrics
	if !m.Scraped {
		return "ours: /metrics not scraped"
	}
	return fmt.Sprintf("ours, whole run (its /metrics): %.0f store errors, %.0f failure-mode decisions (both 0 when every decision came from Redis), %.0f checks refused by the full queue to Redis (errors, never admitted), %.0f over-limit-cache hits (the exact phases' denials)",
		m.StoreErrors, m.FailureMode, m.QueueRejected, m.CacheHits)
}

func (r *results) loadLine() string {
	var during []string
	for _, x := range r.rows {
		if x.tp != nil {
			during = append(during, fmt.Sprintf("%.2f", x.tp.load))
		}
	}
	return fmt.Sprintf("load average (1 min): %.2f at start, %s at the end of each throughput phase, %.2f at the end; %d CPUs",
		r.env.LoadStart, strings.Join(during, " / "), r.env.LoadEnd, r.env.NumCPU)
}

// print writes the tables and verdicts as aligned text.
func (r *results) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(r.header(), "\t"))
	for _, x := range r.rows {
		fmt.Fprintln(tw, strings.Join(r.cells(x), "\t"))
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(r.totalHeader(), "\t"))
	for _, t := range r.totals() {
		fmt.Fprintln(tw, strings.Join(r.totalCells(t), "\t"))
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	for _, l := range r.verdicts() {
		fmt.Fprintln(w, l)
	}
	for _, l := range r.errorLines() {
		fmt.Fprintln(w, "errors: "+l)
	}
	fmt.Fprintln(w, r.metricsLine())
	fmt.Fprintln(w, r.loadLine())
}

// writeMarkdown writes the same as a Markdown report, with the run's settings.
func (r *results) writeMarkdown(path string) error {
	var b bytes.Buffer
	o := r.opts
	fmt.Fprintf(&b, "# rate-limiter: gRPC ShouldRateLimit, ours vs envoyproxy/ratelimit\n\n")
	fmt.Fprintf(&b, "- command: `%s`\n", r.env.Command)
	fmt.Fprintf(&b, "- date: %s\n", r.env.Date.Format(time.RFC3339))
	fmt.Fprintf(&b, "- Go %s, NumCPU %d, GOMAXPROCS %d (callers, both services and Redis share these CPUs)\n", r.env.GoVersion, r.env.NumCPU, r.env.GOMAXPROCS)
	fmt.Fprintf(&b, "- %s\n", r.loadLine())
	if r.env.EnvoyVersion != "" {
		fmt.Fprintf(&b, "- peer: %s\n", r.env.EnvoyVersion)
	}
	fmt.Fprintf(&b, "- Redis: %s (shared by both services)\n", o.redisURL)
	fmt.Fprintf(&b, "- settings beyond ports, rules and Redis: ours `LOG_LEVEL=warn`, otherwise its defaults (which include GOGC=400)%s; envoy `DISABLE_STATS=true` (without it the peer logs one line per request), `LOG_LEVEL=warn`, otherwise its defaults (Go's GOGC=100; `-envoy-env GOGC=400` gives it ours)%s\n",
		settingsText(o.oursEnv), settingsText(o.envoyEnv))
	fmt.Fprintf(&b, "- throughput: %d callers (closed loops) over %d gRPC connections per service, a random user of %d per call, %v warm-up + %v measured, per-call deadline %v; %d rounds, the order alternating\n",
		o.callers, o.conns, o.users, o.warmup, o.duration, o.timeout, o.rounds)
	fmt.Fprintf(&b, "- exact admission: %d calls from %d callers at a fresh key limited to %d per minute, inside one minute window\n\n", o.exactCalls, o.callers, o.exactLimit)

	b.WriteString("## Per round\n\n")
	mdTable(&b, r.header(), func(add func([]string)) {
		for _, x := range r.rows {
			add(r.cells(x))
		}
	})
	b.WriteString("\n## Over all rounds\n\n")
	mdTable(&b, r.totalHeader(), func(add func([]string)) {
		for _, t := range r.totals() {
			add(r.totalCells(t))
		}
	})
	b.WriteString("\n")
	for _, l := range r.verdicts() {
		fmt.Fprintf(&b, "- %s\n", l)
	}
	for _, l := range r.errorLines() {
		fmt.Fprintf(&b, "- errors: %s\n", l)
	}
	fmt.Fprintf(&b, "- %s\n", r.metricsLine())
	b.WriteString("\nDecisions are answered calls (OK or OVER_LIMIT); latency is per call as the caller saw it. " +
		"CPU is read from /proc for each process over the measured window (100% = one core); Redis is shared with other clients, so its CPU is context, not attributable. " +
		"\"without Redis\" counts ours' decisions made by a rule's failure_mode (its /metrics); envoy ratelimit has no such path (it waits up to REDIS_TIMEOUT, 10 s, and errors). " +
		"On a small shared machine the numbers are noisy: compare within one run.\n")
	fmt.Fprintf(&b, "\n## Rules (one file, read by both)\n\n```yaml\n%s```\n", r.rules)

	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("report dir: %w", err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func mdTable(b *bytes.Buffer, header []string, rows func(add func([]string))) {
	line := func(cells []string) { fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | ")) }
	line(header)
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = "---"
	}
	line(sep)
	rows(line)
}

// fmtDur prints latencies in µs below a millisecond and in ms with two decimals above.
func fmtDur(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%d µs", d.Microseconds())
	}
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

func percent(cpu, window time.Duration) string {
	if cpu <= 0 || window <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f%%", 100*cpu.Seconds()/window.Seconds())
}

func perDecision(cpu time.Duration, decisions int64) string {
	if cpu <= 0 || decisions <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f µs", float64(cpu.Microseconds())/float64(decisions))
}

func settingsText(e envList) string {
	if len(e) == 0 {
		return ""
	}
	return ", plus `" + e.String() + "`"
}
