package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// The targets.
const (
	TargetRatio       = 0.5     // ours / Pebble, on every row
	TargetDurableKeys = 100_000 // keys/s, fillsync-batch
	TargetGets        = 100_000 // gets/s, readrandom
)

// Report is the outcome of a run.
type Report struct {
	Config  Config
	Machine Machine
	Started time.Time
	Results []Result
}

// Machine records what the numbers were measured on.
type Machine struct {
	CPU        string // model name from /proc/cpuinfo
	NumCPU     int
	GOMAXPROCS int
	Go         string
	OSArch     string
	Kernel     string
	Dir        string
}

// MachineFacts describes this machine and the data directory.
func MachineFacts(dir string) Machine {
	m := Machine{
		CPU:        "unknown",
		NumCPU:     runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		Go:         runtime.Version(),
		OSArch:     runtime.GOOS + "/" + runtime.GOARCH,
		Kernel:     "unknown",
		Dir:        dir,
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// Result returns the result of engine on workload, if measured.
func (rep *Report) Result(engine, workload string) (Result, bool) {
	i := slices.IndexFunc(rep.Results, func(r Result) bool { return r.Engine == engine && r.Workload == workload })
	if i < 0 {
		return Result{}, false
	}
	return rep.Results[i], true
}

func (rep *Report) engineNames() []string {
	names := make([]string, len(rep.Config.Engines))
	for i, e := range rep.Config.Engines {
		names[i] = e.Name
	}
	return names
}

// workloads returns the selected workloads in report order.
func (rep *Report) workloads() []string {
	return slices.DeleteFunc(Workloads(), func(w string) bool { return !slices.Contains(rep.Config.Workloads, w) })
}

// ratio is ours / Pebble on workload; ok is false unless both ran without error.
func (rep *Report) ratio(workload string) (float64, bool) {
	o, ok1 := rep.Result(Ours, workload)
	p, ok2 := rep.Result(Baseline, workload)
	if !ok1 || !ok2 || o.Err != nil || p.Err != nil || p.OpsPerSec() == 0 {
		return 0, false
	}
	return o.OpsPerSec() / p.OpsPerSec(), true
}

// Verdict is one target's outcome.
type Verdict struct {
	Target string
	Status string // "reached", "NOT reached" or "not measured"
	Detail string
}

// Verdicts judges the three targets from the results, saying "not measured" rather than
// guessing when a number is missing.
func (rep *Report) Verdicts() []Verdict {
	return []Verdict{rep.ratioVerdict(), rep.rateVerdict(FillSyncBatch, "≥ 100k durable keys/s, batched (fillsync-batch)", TargetDurableKeys),
		rep.rateVerdict(ReadRandom, "≥ 100k random gets/s (readrandom)", TargetGets)}
}

func (rep *Report) ratioVerdict() Verdict {
	v := Verdict{Target: fmt.Sprintf("≥ %.1f× Pebble on every row", TargetRatio)}
	var below, missing []string
	lowest, lowestRow := 0.0, ""
	for _, w := range rep.workloads() {
		x, ok := rep.ratio(w)
		switch {
		case !ok:
			missing = append(missing, w)
		case x < TargetRatio:
			below = append(below, fmt.Sprintf("%s %.2f×", w, x))
		}
		if ok && (lowestRow == "" || x < lowest) {
			lowest, lowestRow = x, w
		}
	}
	switch {
	case len(below) > 0:
		v.Status, v.Detail = "NOT reached", "below on "+strings.Join(below, ", ")
		if len(missing) > 0 {
			v.Detail += "; no ratio for " + strings.Join(missing, ", ")
		}
	case len(missing) > 0:
		v.Status, v.Detail = "not measured", "no ratio for "+strings.Join(missing, ", ")+rep.whyMissing()
	default:
		v.Status, v.Detail = "reached", fmt.Sprintf("lowest: %s %.2f×", lowestRow, lowest)
	}
	return v
}

func (rep *Report) rateVerdict(workload, target string, want float64) Verdict {
	v := Verdict{Target: target}
	r, ok := rep.Result(Ours, workload)
	switch {
	case !ok && !slices.Contains(rep.Config.Workloads, workload):
		v.Status, v.Detail = "not measured", workload+" not in -workloads"
	case !ok:
		v.Status, v.Detail = "not measured", Ours+" not in -engines"
	case r.Err != nil:
		v.Status, v.Detail = "not measured", fmt.Sprintf("%s failed: %v", Ours, r.Err)
	case r.OpsPerSec() >= want:
		v.Status, v.Detail = "reached", fmtRate(r.OpsPerSec())+"/s"
	default:
		v.Status, v.Detail = "NOT reached", fmtRate(r.OpsPerSec())+"/s"
	}
	return v
}

// whyMissing says why ratios are missing: an engine not selected, or failing (see Errors).
func (rep *Report) whyMissing() string {
	names := rep.engineNames()
	var why []string
	for _, e := range []string{Ours, Baseline} {
		switch {
		case !slices.Contains(names, e):
			why = append(why, e+" not in -engines")
		case slices.ContainsFunc(rep.Results, func(r Result) bool { return r.Engine == e && r.Err != nil }):
			why = append(why, e+" failed, see Errors")
		}
	}
	if len(why) == 0 {
		return ""
	}
	return " (" + strings.Join(why, ", ") + ")"
}

// units of each workload's throughput column.
var units = map[string]string{
	FillSeq: "keys/s", FillRandom: "keys/s", FillSyncBatch: "keys/s",
	ReadRandom: "gets/s", ScanRandom: "scans/s", Mixed: "ops/s",
}

// Markdown renders the report: facts, the throughput table with the ratio column, the latency
// table, the verdicts, then what each row and each engine means.
func (rep *Report) Markdown() string {
	var b strings.Builder
	c, m := rep.Config, rep.Machine
	names := rep.engineNames()
	fmt.Fprintf(&b, "## kvdb storage engine benchmark: %s vs %s\n\n", Ours, strings.Join(slices.DeleteFunc(slices.Clone(names), func(s string) bool { return s == Ours }), ", "))
	fmt.Fprintf(&b, "Run %s on %s (%d logical CPUs, GOMAXPROCS %d), %s, kernel %s, %s; data under %s.  \n",
		rep.Started.UTC().Format("2006-01-02 15:04 MST"), m.CPU, m.NumCPU, m.GOMAXPROCS, m.OSArch, m.Kernel, m.Go, m.Dir)
	fmt.Fprintf(&b, "%d B keys, %d B values (half random, half a repeat: ~50%% compressible); %s keys per data set, "+
		"%s for fillsync-batch; fills in batches of %d; %d reader goroutines; %s scans of %d keys; "+
		"mixed: %s ops from %d goroutines.\n\n",
		KeySize, ValueSize, fmtCount(c.N), fmtCount(c.SyncN), c.Batch, c.Readers, fmtCount(c.Scans), c.ScanLen,
		fmtCount(c.MixedOps), c.MixedWorkers)

	header := append(append([]string{"workload", "unit"}, names...), "ours/pebble")
	var rows [][]string
	for _, w := range rep.workloads() {
		row := []string{w, units[w]}
		for _, e := range names {
			row = append(row, rep.cell(e, w, func(r Result) string { return fmtRate(r.OpsPerSec()) }))
		}
		ratio := "–"
		if x, ok := rep.ratio(w); ok {
			ratio = fmt.Sprintf("%.2f×", x)
			if x < TargetRatio {
				ratio = "**" + ratio + "**"
			}
		}
		rows = append(rows, append(row, ratio))
	}
	mdTable(&b, 2, header, rows)
	if line := rep.settleLine(); line != "" {
		b.WriteString("\n" + line + "\n")
	}

	b.WriteString("\nLatency per operation, p50 / p99:\n\n")
	header = append([]string{"workload", "operation"}, names...)
	rows = nil
	for _, w := range rep.workloads() {
		op := map[string]string{FillSeq: "batch write", FillRandom: "batch write", FillSyncBatch: "durable batch write",
			ReadRandom: "get", ScanRandom: "scan", Mixed: "get"}[w]
		row := []string{w, op}
		for _, e := range names {
			row = append(row, rep.cell(e, w, func(r Result) string { return fmtLatency(r.Latency) }))
		}
		rows = append(rows, row)
		if w == Mixed {
			row := []string{w, "put"}
			for _, e := range names {
				row = append(row, rep.cell(e, w, func(r Result) string { return fmtLatency(r.WriteLatency) }))
			}
			rows = append(rows, row)
		}
	}
	mdTable(&b, 2, header, rows)

	b.WriteString("\nTargets (ours = " + Ours + "):\n\n")
	for _, v := range rep.Verdicts() {
		detail := ""
		if v.Detail != "" {
			detail = " — " + v.Detail
		}
		fmt.Fprintf(&b, "- %s: **%s**%s\n", v.Target, v.Status, detail)
	}

	b.WriteString("\nWorkloads (each engine alone, one after the other, on a fresh directory):\n\n")
	for _, w := range rep.workloads() {
		fmt.Fprintf(&b, "- %s: %s\n", w, workloadDoc(w, c))
	}
	b.WriteString("\nEngines:\n\n")
	for _, e := range c.Engines {
		fmt.Fprintf(&b, "- %s: %s\n", e.Name, e.Config)
	}
	if errs := rep.errorLines(); len(errs) > 0 {
		b.WriteString("\nErrors:\n\n" + strings.Join(errs, "\n") + "\n")
	}
	return b.String()
}

// errorLines lists the failures, one line per engine and distinct error, naming its workloads.
func (rep *Report) errorLines() []string {
	type key struct{ engine, err string }
	var order []key
	rows := map[key][]string{}
	for _, r := range rep.Results {
		if r.Err == nil {
			continue
		}
		k := key{r.Engine, r.Err.Error()}
		if _, ok := rows[k]; !ok {
			order = append(order, k)
		}
		rows[k] = append(rows[k], r.Workload)
	}
	lines := make([]string, len(order))
	for i, k := range order {
		lines[i] = fmt.Sprintf("- %s %s: %s", k.engine, strings.Join(rows[k], ", "), k.err)
	}
	return lines
}

// settleLine says how long each engine kept working after fillrandom returned.
func (rep *Report) settleLine() string {
	var parts []string
	for _, e := range rep.engineNames() {
		r, ok := rep.Result(e, FillRandom)
		if !ok || r.Err != nil || r.Settle == 0 {
			continue
		}
		p := fmt.Sprintf("%s %.1fs", e, r.Settle.Seconds())
		if r.SettleCapped {
			p = fmt.Sprintf("%s still busy after %.0fs", e, r.Settle.Seconds())
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("Background work left by fillrandom (time until the process was idle, in steps of %s; "+
		"not in the fill's rate, done before the reads): %s.", settleWindow, strings.Join(parts, ", "))
}

func workloadDoc(w string, c Config) string {
	switch w {
	case FillSeq:
		return fmt.Sprintf("%s keys in ascending order, batches of %d, non-durable (the OS flushes); timed until the last batch returns, so background flushes and compactions still running are not counted, as in db_bench.", fmtCount(c.N), c.Batch)
	case FillRandom:
		wait := "right after it (no wait for the engine's background work)"
		if c.SettleMax > 0 {
			wait = fmt.Sprintf("once the engine's background work has stopped (process CPU under %.0f%% of a core for %s, at most %s)",
				settleIdleCPU*100, settleWindow, c.SettleMax)
		}
		return fmt.Sprintf("the same %s keys in a fixed random permutation (every key once), batches of %d, non-durable. The read rows run on the data set it leaves, %s.",
			fmtCount(c.N), c.Batch, wait)
	case FillSyncBatch:
		return fmt.Sprintf("%s keys in random order, batches of %d, each batch durable (fsync) before the next starts, one goroutine: fewer keys than the other rows because every batch waits for the disk.", fmtCount(c.SyncN), c.Batch)
	case ReadRandom:
		return fmt.Sprintf("every key once, in another random permutation, from %d goroutines, after an unmeasured full scan that checks every value and warms the caches; each value is checked byte for byte.", c.Readers)
	case ScanRandom:
		return fmt.Sprintf("%s range scans of %d keys from uniformly random start keys, %d goroutines; keys checked to be consecutive.", fmtCount(c.Scans), c.ScanLen, c.Readers)
	case Mixed:
		return fmt.Sprintf("%s operations from %d goroutines, each a get or a single-key non-durable put of a new value with even odds, on uniformly random keys; runs last because it overwrites.", fmtCount(c.MixedOps), c.MixedWorkers)
	}
	return ""
}

// cell formats engine's result on workload, or says why there is none.
func (rep *Report) cell(engine, workload string, format func(Result) string) string {
	r, ok := rep.Result(engine, workload)
	switch {
	case !ok:
		return "–"
	case r.Err != nil:
		return "error"
	}
	return format(r)
}

func mdTable(b *strings.Builder, textCols int, header []string, rows [][]string) {
	b.WriteString("| " + strings.Join(header, " | ") + " |\n|")
	for i := range header {
		if i < textCols {
			b.WriteString(" --- |")
		} else {
			b.WriteString(" ---: |")
		}
	}
	b.WriteString("\n")
	for _, r := range rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
}

// fmtRate prints three significant digits with a k or M suffix.
func fmtRate(v float64) string {
	switch {
	case v >= 1e6:
		return trimRate(v/1e6) + "M"
	case v >= 1e3:
		return trimRate(v/1e3) + "k"
	}
	return trimRate(v)
}

func trimRate(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func fmtCount(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

func fmtLatency(l *Latency) string {
	if l == nil {
		return "–"
	}
	return fmtDuration(l.P50) + " / " + fmtDuration(l.P99)
}

func fmtDuration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
}
