package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// Workload names, in the order of the report's rows.
const (
	FillSeq       = "fillseq"
	FillRandom    = "fillrandom"
	FillSyncBatch = "fillsync-batch"
	ReadRandom    = "readrandom"
	ScanRandom    = "scan"
	Mixed         = "mixed"
)

// Workloads returns every workload name in report order.
func Workloads() []string {
	return []string{FillSeq, FillRandom, FillSyncBatch, ReadRandom, ScanRandom, Mixed}
}

// Groups splits workloads into the groups that share one data set, in the order they run:
// fillseq alone; fillrandom with the reads that use its data set; fillsync-batch alone (last,
// as the slowest). Empty groups are left out. kvbench runs each group in a process of its own.
func Groups(workloads []string) [][]string {
	var out [][]string
	for _, g := range [][]string{{FillSeq}, {FillRandom, ReadRandom, ScanRandom, Mixed}, {FillSyncBatch}} {
		g = slices.DeleteFunc(g, func(w string) bool { return !slices.Contains(workloads, w) })
		if len(g) > 0 {
			out = append(out, g)
		}
	}
	return out
}

// SelectWorkloads parses a comma-separated list of workload names; empty selects them all.
func SelectWorkloads(list string) ([]string, error) {
	all := Workloads()
	if strings.TrimSpace(list) == "" {
		return all, nil
	}
	var out []string
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(all, name) {
			return nil, fmt.Errorf("unknown workload %q (choose among %s)", name, strings.Join(all, ", "))
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// Config is one benchmark run.
type Config struct {
	Engines   []EngineInfo
	Workloads []string // any subset of Workloads(); they run, and are reported, in report order
	// Dir is the base directory; every data set gets a fresh subdirectory, removed once measured.
	Dir string
	// N is the number of keys of fillseq, fillrandom and the data set the reads run on.
	N int
	// SyncN is the number of keys of fillsync-batch, whose every batch waits for an fsync.
	SyncN int
	// Batch is the number of keys per batch in the fills.
	Batch int
	// Readers is the number of goroutines of readrandom and scan.
	Readers int
	// Scans and ScanLen: how many range scans, of how many keys each.
	Scans, ScanLen int
	// MixedOps operations, half gets and half puts, from MixedWorkers goroutines.
	MixedOps, MixedWorkers int
	// SettleMax bounds the wait for the engine's background work after fillrandom (settle.go);
	// 0 does not wait.
	SettleMax time.Duration
	// Progress receives the progress lines; nil is silent. ProgressInPlace redraws the line
	// of the running phase (for a terminal) instead of printing a new one every few seconds.
	Progress        io.Writer
	ProgressInPlace bool
}

func (c Config) validate() error {
	switch {
	case len(c.Engines) == 0:
		return errors.New("no engine selected")
	case len(c.Workloads) == 0:
		return errors.New("no workload selected")
	case c.Dir == "":
		return errors.New("no base directory")
	case c.N < 1 || c.SyncN < 1 || c.Batch < 1:
		return errors.New("key counts and batch size must be at least 1")
	case c.N > 1<<32-1:
		return fmt.Errorf("at most %d keys", 1<<32-1)
	case c.Readers < 1 || c.MixedWorkers < 1:
		return errors.New("goroutine counts must be at least 1")
	case c.Scans < 1 || c.ScanLen < 1 || c.MixedOps < 1:
		return errors.New("scan and mixed operation counts must be at least 1")
	case c.SettleMax < 0:
		return errors.New("negative settle time")
	}
	return nil
}

// Result is one engine on one workload.
type Result struct {
	Engine, Workload string
	Ops              int64 // keys written (fills), gets, scans, or mixed operations
	Elapsed          time.Duration
	// Latency is per batch commit for the fills, per get, per scan, or per get of mixed;
	// WriteLatency per put of mixed.
	Latency, WriteLatency *Latency
	// Settle is, for fillrandom, how long the engine kept working in the background after the
	// fill returned (see settle.go); SettleCapped is set if it was still busy when the run
	// stopped waiting.
	Settle       time.Duration
	SettleCapped bool
	Err          error
}

// OpsPerSec is the throughput of the measured phase.
func (r Result) OpsPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

// Run measures every selected engine on every selected workload, one engine at a time so that
// none competes with another's background work. An engine's failure is recorded in its results
// and the run goes on; Run returns an error only for a bad config or when ctx ends.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create base dir: %w", err)
	}
	r := &runner{cfg: cfg, p: newProgress(cfg.Progress, cfg.ProgressInPlace)}
	rep := &Report{Config: cfg, Machine: MachineFacts(cfg.Dir), Started: time.Now()}
	for _, e := range cfg.Engines {
		rep.Results = append(rep.Results, r.engine(ctx, e)...)
		if err := ctx.Err(); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

type runner struct {
	cfg Config
	p   *progress
}

func (r *runner) want(w string) bool { return slices.Contains(r.cfg.Workloads, w) }

// engine runs the selected workloads on one engine, group by group (see Groups): the read
// workloads share the data set fillrandom leaves, as in db_bench's default sequence (fillrandom,
// readrandom, ...); without fillrandom that data set is loaded the same way, unmeasured.
func (r *runner) engine(ctx context.Context, e EngineInfo) []Result {
	var out []Result
	for _, g := range Groups(r.cfg.Workloads) {
		switch g[0] {
		case FillSeq:
			out = append(out, r.onFresh(ctx, e, Options{}, g, func(db Engine) []Result {
				res := r.fill(ctx, e.Name, FillSeq, db, r.cfg.N, func(j int) uint64 { return uint64(j) })
				return []Result{r.checked(ctx, db, res, r.cfg.N)}
			})...)
		case FillSyncBatch:
			out = append(out, r.onFresh(ctx, e, Options{Sync: true}, g, func(db Engine) []Result {
				perm := permutation(r.cfg.SyncN, seedFillSync)
				res := r.fill(ctx, e.Name, FillSyncBatch, db, r.cfg.SyncN, func(j int) uint64 { return uint64(perm[j]) })
				return []Result{r.checked(ctx, db, res, r.cfg.SyncN)}
			})...)
		default:
			out = append(out, r.onFresh(ctx, e, Options{}, g, func(db Engine) []Result {
				return r.dataSet(ctx, e.Name, db)
			})...)
		}
	}
	SortResults(out)
	return out
}

// SortResults puts results in report order: by workload, keeping the engines' order.
func SortResults(rs []Result) {
	slices.SortStableFunc(rs, func(a, b Result) int {
		return slices.Index(Workloads(), a.Workload) - slices.Index(Workloads(), b.Workload)
	})
}

// onFresh opens e on a new directory, runs body, then closes the engine and removes the
// directory. If opening fails, every workload in names gets the error.
func (r *runner) onFresh(ctx context.Context, e EngineInfo, o Options, names []string, body func(Engine) []Result) []Result {
	failed := func(err error) []Result {
		out := make([]Result, len(names))
		for i, w := range names {
			out[i] = Result{Engine: e.Name, Workload: w, Err: err}
		}
		return out
	}
	if ctx.Err() != nil {
		return failed(ctx.Err())
	}
	dir, err := os.MkdirTemp(r.cfg.Dir, e.Name+"-")
	if err != nil {
		return failed(fmt.Errorf("data dir: %w", err))
	}
	defer func() { _ = os.RemoveAll(dir) }()
	db, err := e.Open(dir, o)
	if err != nil {
		r.p.printf("%s: %v", e.Name, err)
		return failed(err)
	}
	res := body(db)
	if err := db.Close(); err != nil && len(res) > 0 {
		// A close that fails (a final sync, say) means the last phase did not really finish.
		last := &res[len(res)-1]
		last.Err = errors.Join(last.Err, fmt.Errorf("close: %w", err))
	}
	return res
}

// checked reads back what a successful fill wrote and marks the fill failed if it is wrong.
func (r *runner) checked(ctx context.Context, db Engine, res Result, total int) Result {
	if res.Err == nil {
		if err := r.check(ctx, res.Engine, "check", db, total); err != nil {
			res.Err = fmt.Errorf("read back: %w", err)
		}
	}
	return res
}

// dataSet fills N keys in random order (measured as fillrandom if selected), waits for the
// engine's background work to end, checks and warms the data set with one full scan, then runs
// the selected read workloads on it; mixed goes last because it overwrites values.
func (r *runner) dataSet(ctx context.Context, engine string, db Engine) []Result {
	var out []Result
	name := FillRandom
	if !r.want(FillRandom) {
		name = "load"
	}
	perm := permutation(r.cfg.N, seedFillRandom)
	fill := r.fill(ctx, engine, name, db, r.cfg.N, func(j int) uint64 { return uint64(perm[j]) })
	readErr := fill.Err
	if readErr == nil {
		fill.Settle, fill.SettleCapped, readErr = r.settle(ctx, engine)
	}
	if readErr == nil {
		if err := r.check(ctx, engine, "check+warm", db, r.cfg.N); err != nil {
			fill.Err = fmt.Errorf("read back: %w", err)
			readErr = fmt.Errorf("the data set is wrong after the fill: %w", err)
		}
	} else {
		readErr = fmt.Errorf("load the data set: %w", readErr)
	}
	if r.want(FillRandom) {
		out = append(out, fill)
	}
	for _, w := range []string{ReadRandom, ScanRandom, Mixed} {
		if !r.want(w) {
			continue
		}
		if readErr != nil {
			out = append(out, Result{Engine: engine, Workload: w, Err: readErr})
			continue
		}
		var res Result
		switch w {
		case ReadRandom:
			res = r.readRandom(ctx, engine, db)
		case ScanRandom:
			res = r.scan(ctx, engine, db)
		case Mixed:
			res = r.mixed(ctx, engine, db)
		}
		out = append(out, res)
	}
	return out
}
