// Command kvbench is the storage-engine benchmark of kvdb: our LSM engine against Pebble v2, bbolt
// and Badger, in one run, on the same machine, with the same 16-byte keys and 100-byte values:
// sequential fill, random fill, durable batched fill, warm random reads, range scans and a 50/50
// read/update mix from 16 goroutines. It prints progress to stderr and a Markdown table to
// stdout: ops/s per engine, our ratio to Pebble, latency percentiles and a verdict per target.
//
// Usage (from kvdb/):
//
//	go run ./cmd/kvbench -quick                          # 50k keys: a smoke run, ~10 s
//	go run ./cmd/kvbench -out ../reports/kvbench.md      # 1M keys, the README's table: ~4 min on 2 cores
//	go run ./cmd/kvbench -engines lsm,pebble -workloads readrandom,scan
//
// Each engine runs each data set in a child process of its own (this binary with -child), so a
// crash costs only its rows and no engine inherits another's heap; -isolate=false runs all in
// one process. After fillrandom the reads wait until the engine's background work has stopped
// (-settle-max). While our engine's package does not compile, -tags nolsm runs the peers alone.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		if errors.Is(err, context.Canceled) {
			err = errors.New("interrupted (the data directories were removed)")
		}
		fmt.Fprintf(os.Stderr, "kvbench: %v\n(run kvbench -h for the flags)\n", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	engines, workloads string
	quick              bool
	isolate            bool // one child process per engine and data set
	child              bool // this process is such a child
	cfg                bench.Config
	dir, out           string
}

// Sizes of a -quick run, used for the flags that are not set explicitly.
const (
	quickN     = 50_000
	quickSyncN = 10_000
)

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	c := &o.cfg
	fs := flag.NewFlagSet("kvbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.engines, "engines", "", "comma-separated engines to run (default all: lsm,pebble,bbolt,badger)")
	fs.StringVar(&o.workloads, "workloads", "", "comma-separated workloads (default all: fillseq,fillrandom,fillsync-batch,readrandom,scan,mixed)")
	fs.IntVar(&c.N, "n", 1_000_000, "keys per data set (fillseq, fillrandom and the reads)")
	fs.IntVar(&c.SyncN, "sync-n", 100_000, "keys of fillsync-batch (every batch of -batch keys waits for an fsync)")
	fs.BoolVar(&o.quick, "quick", false, fmt.Sprintf("smoke run: -n %d -sync-n %d unless given", quickN, quickSyncN))
	fs.IntVar(&c.Batch, "batch", 100, "keys per batch in the fills")
	fs.IntVar(&c.Readers, "g", runtime.GOMAXPROCS(0), "goroutines of readrandom and scan")
	fs.IntVar(&c.Scans, "scans", 0, "range scans in the scan workload (default -n/10)")
	fs.IntVar(&c.ScanLen, "scan-len", 100, "keys per range scan")
	fs.IntVar(&c.MixedOps, "mixed-ops", 0, "operations of the mixed workload (default -n)")
	fs.IntVar(&c.MixedWorkers, "mixed-g", 16, "goroutines of the mixed workload")
	fs.DurationVar(&c.SettleMax, "settle-max", 2*time.Minute, "longest wait, after fillrandom, for the engine's background work to stop before the reads (0: no wait)")
	fs.StringVar(&o.dir, "dir", filepath.Join(".data", "kvbench"), "base directory; each run works in a fresh temporary directory under it and removes it")
	fs.StringVar(&o.out, "out", "", "also write the Markdown report to this file (e.g. ../reports/kvbench.md)")
	fs.BoolVar(&o.isolate, "isolate", true, "run each engine's data sets in child processes, so that a crash costs only their rows")
	fs.BoolVar(&o.child, "child", false, "internal: run as the child of an isolated run, results as JSON on stdout")
	fs.BoolVar(&o.cfg.ProgressInPlace, "in-place", isTerminal(stderr), "redraw the progress line in place (default: when stderr is a terminal)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		if !set["n"] {
			c.N = quickN
		}
		if !set["sync-n"] {
			c.SyncN = quickSyncN
		}
	}
	c.SyncN = min(c.SyncN, max(c.N, 1))
	if c.Scans == 0 {
		c.Scans = max(c.N/10, 1)
	}
	if c.MixedOps == 0 {
		c.MixedOps = c.N
	}
	var err error
	if c.Engines, err = bench.SelectEngines(o.engines); err != nil {
		return o, err
	}
	if c.Workloads, err = bench.SelectWorkloads(o.workloads); err != nil {
		return o, err
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return fmt.Errorf("create -dir: %w", err)
	}
	dir, err := os.MkdirTemp(o.dir, "run-")
	if err != nil {
		return fmt.Errorf("create run dir under -dir: %w", err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	o.cfg.Dir = dir
	o.cfg.Progress = stderr
	if o.child {
		return runChild(ctx, o, stdout)
	}
	fmt.Fprintf(stderr, "kvbench: %d keys (%d durable), workloads %v, data in %s\n", o.cfg.N, o.cfg.SyncN, o.cfg.Workloads, dir)

	var rep *bench.Report
	if o.isolate {
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find this binary to start the engines' processes (or pass -isolate=false): %w", err)
		}
		rep = &bench.Report{Config: o.cfg, Machine: bench.MachineFacts(dir), Started: time.Now()}
		rep.Results = runIsolated(ctx, o, self, dir, stderr)
	} else if rep, err = bench.Run(ctx, o.cfg); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	md := rep.Markdown()
	if _, err := io.WriteString(stdout, md); err != nil {
		return err
	}
	if o.out != "" {
		if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
			return fmt.Errorf("create the directory of -out: %w", err)
		}
		if err := os.WriteFile(o.out, []byte(md), 0o644); err != nil {
			return fmt.Errorf("write -out: %w", err)
		}
		fmt.Fprintf(stderr, "kvbench: report written to %s\n", o.out)
	}
	return nil
}
