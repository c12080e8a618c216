package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/bench"
)

// Each engine runs each group of workloads (bench.Groups) in a child process of its own: a
// crash in an engine (a panic in a background goroutine, a fatal error) costs that group's
// numbers, not the run, and no engine starts on a heap or a GC pace left by another. The child
// is this same binary with -child; it prints its results as JSON on stdout and its progress
// on stderr, which the parent passes through.

// wireResult is bench.Result on the pipe between child and parent.
type wireResult struct {
	Engine, Workload      string
	Ops                   int64
	Elapsed               time.Duration
	Latency, WriteLatency *bench.Latency
	Settle                time.Duration
	SettleCapped          bool
	Err                   string `json:",omitempty"`
}

// runChild measures one engine on one group of workloads and writes the results to stdout.
func runChild(ctx context.Context, o options, stdout io.Writer) error {
	rep, err := bench.Run(ctx, o.cfg)
	if rep == nil {
		return err
	}
	out := make([]wireResult, len(rep.Results))
	for i, r := range rep.Results {
		out[i] = wireResult{Engine: r.Engine, Workload: r.Workload, Ops: r.Ops, Elapsed: r.Elapsed,
			Latency: r.Latency, WriteLatency: r.WriteLatency, Settle: r.Settle, SettleCapped: r.SettleCapped}
		if r.Err != nil {
			out[i].Err = r.Err.Error()
		}
	}
	if jerr := json.NewEncoder(stdout).Encode(out); jerr != nil {
		return errors.Join(err, jerr)
	}
	return err
}

// childArgs are the flags that make a child run engine on group with the parent's settings.
func childArgs(o options, engine string, group []string, dir string) []string {
	c := o.cfg
	return []string{"-child", "-in-place=" + strconv.FormatBool(c.ProgressInPlace),
		"-engines", engine, "-workloads", strings.Join(group, ","), "-dir", dir,
		"-n", strconv.Itoa(c.N), "-sync-n", strconv.Itoa(c.SyncN), "-batch", strconv.Itoa(c.Batch),
		"-g", strconv.Itoa(c.Readers), "-scans", strconv.Itoa(c.Scans), "-scan-len", strconv.Itoa(c.ScanLen),
		"-mixed-ops", strconv.Itoa(c.MixedOps), "-mixed-g", strconv.Itoa(c.MixedWorkers),
		"-settle-max", c.SettleMax.String()}
}

// runIsolated runs every engine and group in a child process, one at a time, and collects the
// results; a child that fails leaves an error on each of its workloads.
func runIsolated(ctx context.Context, o options, self, dir string, stderr io.Writer) []bench.Result {
	var all []bench.Result
	for _, e := range o.cfg.Engines {
		var rs []bench.Result
		for _, g := range bench.Groups(o.cfg.Workloads) {
			rs = append(rs, runGroup(ctx, self, childArgs(o, e.Name, g, dir), e.Name, g, stderr)...)
		}
		bench.SortResults(rs)
		all = append(all, rs...)
	}
	return all
}

func runGroup(ctx context.Context, self string, args []string, engine string, group []string, stderr io.Writer) []bench.Result {
	failed := func(err error) []bench.Result {
		out := make([]bench.Result, len(group))
		for i, w := range group {
			out[i] = bench.Result{Engine: engine, Workload: w, Err: err}
		}
		return out
	}
	if err := ctx.Err(); err != nil {
		return failed(err)
	}
	var stdout bytes.Buffer
	crash := &crashWatcher{w: stderr}
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Stdout, cmd.Stderr = &stdout, crash
	// On Ctrl-C the terminal interrupts the child too; if it does not stop by itself, the
	// context's cancel interrupts it, and WaitDelay kills it.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 10 * time.Second
	runErr := cmd.Run()

	var wire []wireResult
	if err := json.Unmarshal(stdout.Bytes(), &wire); err != nil || len(wire) == 0 {
		why := fmt.Errorf("the %s process for %s failed (%v)", engine, strings.Join(group, ", "), runErr)
		if line := crash.line(); line != "" {
			why = fmt.Errorf("the %s process for %s crashed (%v): %s (stack trace on stderr)", engine, strings.Join(group, ", "), runErr, line)
		}
		return failed(why)
	}
	out := make([]bench.Result, len(wire))
	for i, r := range wire {
		out[i] = bench.Result{Engine: r.Engine, Workload: r.Workload, Ops: r.Ops, Elapsed: r.Elapsed,
			Latency: r.Latency, WriteLatency: r.WriteLatency, Settle: r.Settle, SettleCapped: r.SettleCapped}
		if r.Err != "" {
			out[i].Err = errors.New(r.Err)
		}
	}
	return out
}

// crashWatcher passes a child's stderr through and remembers the first line of a Go crash
// ("panic: ..." or "fatal error: ...") for the report.
type crashWatcher struct {
	w       io.Writer
	mu      sync.Mutex
	partial []byte
	first   string
}

func (c *crashWatcher) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.first == "" {
		c.partial = append(c.partial, p...)
		for {
			i := bytes.IndexByte(c.partial, '\n')
			if i < 0 {
				break
			}
			line := strings.TrimSpace(string(c.partial[:i]))
			c.partial = c.partial[i+1:]
			if strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ") {
				c.first = line
				c.partial = nil
				break
			}
		}
		if len(c.partial) > 64<<10 {
			c.partial = c.partial[len(c.partial)-4096:] // a progress line redrawn with \r for ages
		}
	}
	return c.w.Write(p)
}

func (c *crashWatcher) line() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.first
}

// isTerminal reports whether w is a terminal (a character device), where progress is redrawn in
// place; a pipe or a file gets a plain line every few seconds.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
