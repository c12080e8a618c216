// Command demo is the project's front door (`make demo`): it runs one scripted scenario per
// system on its embedded defaults — building and starting the real binaries, driving them,
// printing what happened — cleans up, and ends with a one-row-per-system table. It exits non-zero
// if any scenario fails. `-sys NAME` runs one system.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/shared/proc"
)

// Env is what a scenario gets: where the repo is, a scratch directory, and a progress printer.
type Env struct {
	Root     string
	Dir      string // scratch space, removed afterwards
	Progress func(format string, args ...any)
	Log      io.Writer // process output; kept in the scratch directory
}

// Outcome is one row of the closing table.
type Outcome struct {
	Showed string // what the scenario demonstrated, in a few words
	Figure string // the headline number it saw, with its unit
}

// Scenario is one system's demo. Run must stop everything it started before returning.
type Scenario struct {
	System string
	Run    func(ctx context.Context, env *Env) (Outcome, error)
}

// systems lists all seven in study order, so the table shows what is not built yet too.
var systems = []string{"rate-limiter", "kvdb", "video-platform", "maps-service", "web-crawler", "chat-app", "ad-system"}

func main() {
	only := flag.String("sys", "", "run only this system's scenario")
	timeout := flag.Duration("timeout", 2*time.Minute, "time limit per scenario")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	failed, err := run(ctx, os.Stdout, *only, *timeout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(2)
	}
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "demo: %d scenario(s) failed; their process logs are printed above\n", failed)
		os.Exit(1)
	}
}

type row struct {
	system, status, showed, figure string
	took                           time.Duration
}

func run(ctx context.Context, out io.Writer, only string, timeout time.Duration) (failed int, err error) {
	root, err := proc.RepoRoot()
	if err != nil {
		return 0, err
	}
	byName := map[string]Scenario{}
	for _, s := range scenarios {
		byName[s.System] = s
	}
	if only != "" {
		if !contains(systems, only) {
			return 0, fmt.Errorf("unknown system %q; the systems are %v", only, systems)
		}
	}
	var rows []row
	for i, name := range systems {
		if only != "" && name != only {
			continue
		}
		s, ok := byName[name]
		if !ok {
			rows = append(rows, row{system: name, status: "not built yet", showed: "-", figure: "-"})
			continue
		}
		fmt.Fprintf(out, "[%d/%d] %s\n", i+1, len(systems), name)
		r := runOne(ctx, out, root, s, timeout)
		if r.status != "ok" {
			failed++
		}
		rows = append(rows, r)
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SYSTEM\tSTATUS\tWHAT IT SHOWED\tFIGURE\tTIME")
	for _, r := range rows {
		took := "-"
		if r.took > 0 {
			took = r.took.Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.system, r.status, r.showed, r.figure, took)
	}
	if err := tw.Flush(); err != nil {
		return failed, err
	}
	if len(scenarios) == 0 {
		fmt.Fprintln(out, "\nNo system is built yet, so there is nothing to demonstrate; each system's issue adds its scenario to tests/cmd/demo/scenarios.go.")
	}
	return failed, nil
}

func runOne(ctx context.Context, out io.Writer, root string, s Scenario, timeout time.Duration) row {
	start := time.Now()
	dir, err := os.MkdirTemp("", "demo-"+s.System+"-")
	if err != nil {
		return row{system: s.System, status: "FAILED", showed: err.Error(), figure: "-"}
	}
	defer os.RemoveAll(dir)
	logf, err := os.Create(dir + "/processes.log")
	if err != nil {
		return row{system: s.System, status: "FAILED", showed: err.Error(), figure: "-"}
	}
	defer logf.Close()
	env := &Env{Root: root, Dir: dir, Log: logf, Progress: func(format string, args ...any) {
		fmt.Fprintf(out, "      %s  %s\n", time.Since(start).Round(100*time.Millisecond), fmt.Sprintf(format, args...))
	}}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	o, err := s.Run(ctx, env)
	if err != nil {
		fmt.Fprintf(out, "      FAILED: %v\n      process log:\n", err)
		if b, rerr := os.ReadFile(logf.Name()); rerr == nil {
			fmt.Fprintf(out, "%s\n", b)
		}
		return row{system: s.System, status: "FAILED", showed: err.Error(), figure: "-", took: time.Since(start)}
	}
	return row{system: s.System, status: "ok", showed: o.Showed, figure: o.Figure, took: time.Since(start)}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
