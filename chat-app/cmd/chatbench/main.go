// Command chatbench is the side-by-side fan-out benchmark of chat-app against Centrifugo
// (scenario (b) of issue 5): a group of -receivers members on one node, each on its own
// WebSocket, and the same open-loop publish rate into both systems —
//
//   - ours: the one-process server (cmd/chat, built from this tree), one sender socket sending
//     into a group conversation of -receivers members; every message is stored (in memory, or in
//     PostgreSQL with -database-url) before it fans out;
//   - Centrifugo: HTTP POST /api/publish into one channel with -receivers subscribers (JSON
//     protocol over WebSocket), memory engine.
//
// The shared load generator (shared/loadgen) drives the publishes and measures the publisher's
// side: publishes acknowledged and failed, and publish latency from the scheduled time to the ack
// (ours) or to the 200 (Centrifugo). Each publish carries its scheduled send time; the receivers
// measure delivered messages/s (deliveries arriving in the measured window) and send→receive
// latency (of messages scheduled in it). Then it prints a table, ours/centrifugo, the issue's
// targets with "reached" or "NOT reached", and writes reports/chat-app-bench.md.
//
// Usage (from the repository root):
//
//	chat-app/scripts/install-centrifugo.sh   # once: the peer, into .bin/ (a few minutes)
//	go run ./chat-app/cmd/chatbench          # ~1 min
//
// -senders http sends ours over POST /v1/conversations/{id}/messages instead of the socket, the
// counterpart of Centrifugo's publish API; both systems' HTTP publishes share -publishers
// connections. -sweep 500,1000,... runs every rate -runs times per system, ours and Centrifugo
// alternating, and prints the medians, each system's saturation point (the highest rate with
// ≥ 99 % delivered and p99 < 50 ms) and their ratio, with CPU-µs per delivered message and the
// load average before each run.
//
// -scenario picks the run: fanout (the default, above), connections (scenario (a): -conns
// authenticated WebSockets held on one cmd/chat, its RSS before and after, memory per connection,
// time to open), two-nodes (scenario (c): two cmd/chat-gateway and one cmd/chat-api on Redis and a
// fresh PostgreSQL database, -receivers split over the gateways, the schedule above; skipped when
// Redis or PostgreSQL does not answer), or all.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/shared/loadgen"
	"github.com/hyperscaledesignhub/DesignSystems/shared/proc"
)

const (
	nameOurs       = "chat-app"
	nameCentrifugo = "centrifugo"

	// The targets for scenario (b) on one node.
	targetDelivered = 50_000.0
	targetP99       = 50 * time.Millisecond
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintf(os.Stderr, "chatbench: %v\n", err)
		os.Exit(1)
	}
}

type options struct {
	rate           float64
	duration       time.Duration
	warmup         time.Duration
	receivers      int
	databaseURL    string
	skipCentrifugo bool
	centrifugoBin  string
	report         string
	keepLogs       bool

	senders    string    // fanout: how ours is sent into: ws (one sender socket) or http (POST, like Centrifugo's publish API)
	publishers int       // HTTP connections the publishes share (both systems' HTTP APIs)
	sweep      []float64 // fanout: rates to sweep (empty: one run at -rate)
	repeat     int       // sweep: runs per rate and system, alternating ours/peer; the median is reported

	scenario    string // fanout, connections, two-nodes or all
	conns       int    // (a): WebSocket connections to hold on one node
	redisURL    string // (c): the bus of the two gateways
	postgresURL string // (c): admin connection; a fresh database is created on its server
}

// Scenarios.
const (
	scenarioFanout      = "fanout"
	scenarioConnections = "connections"
	scenarioTwoNodes    = "two-nodes"
	scenarioAll         = "all"
)

func (o options) runs(s string) bool { return o.scenario == s || o.scenario == scenarioAll }

func parseFlags(args []string, stderr io.Writer, root string) (options, error) {
	var o options
	fs := flag.NewFlagSet("chatbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Float64Var(&o.rate, "rate", 500, "publishes per second into the group/channel, open loop (each reaches every receiver)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured window")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured publishing before the window")
	fs.IntVar(&o.receivers, "receivers", 100, "group members / channel subscribers, one WebSocket each")
	fs.StringVar(&o.databaseURL, "database-url", os.Getenv("DATABASE_URL"), "PostgreSQL for our store (default $DATABASE_URL; empty: in memory)")
	fs.BoolVar(&o.skipCentrifugo, "skip-centrifugo", false, "run ours only (when Centrifugo is not installed)")
	fs.StringVar(&o.centrifugoBin, "centrifugo-bin", filepath.Join(root, ".bin", "centrifugo"), "Centrifugo binary (chat-app/scripts/install-centrifugo.sh puts it there)")
	fs.StringVar(&o.report, "report", filepath.Join(root, "reports", "chat-app-bench.md"), "Markdown report to write (\"\" for none)")
	fs.BoolVar(&o.keepLogs, "keep-logs", false, "keep the servers' logs (their directory is printed)")
	fs.StringVar(&o.scenario, "scenario", scenarioFanout, "fanout (b: ours vs Centrifugo), connections (a: -conns sockets on one node), two-nodes (c: two gateways over Redis), or all")
	fs.IntVar(&o.conns, "conns", 10000, "connections: authenticated WebSockets to open and hold on one node")
	fs.StringVar(&o.redisURL, "redis-url", envOr("REDIS_URL", "redis://127.0.0.1:6379"), "two-nodes: Redis for the bus (keys under a unique KEY_PREFIX, deleted afterwards)")
	fs.StringVar(&o.postgresURL, "postgres-url", "postgres://postgres@127.0.0.1:5432/postgres", "two-nodes: admin connection; a database chatbench_<random> is created on its server and dropped afterwards")
	fs.StringVar(&o.senders, "senders", "ws", "fanout: ours is sent into over http (POST /v1/conversations/{id}/messages, as Centrifugo's /api/publish) or ws (one sender socket)")
	fs.IntVar(&o.publishers, "publishers", 16, "HTTP connections the publishes share, for both systems")
	sweep := fs.String("sweep", "", "fanout: comma-separated rates (e.g. 500,1000,1500,2000,3000); each runs -runs times per system, alternating, and the saturation points are printed")
	fs.IntVar(&o.repeat, "runs", 3, "sweep: runs per rate and system (the median is reported)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	for f := range strings.SplitSeq(*sweep, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		r, err := strconv.ParseFloat(f, 64)
		if err != nil || r <= 0 {
			return o, fmt.Errorf("-sweep: %q is not a positive rate", f)
		}
		o.sweep = append(o.sweep, r)
	}
	if o.senders != "http" && o.senders != "ws" {
		return o, fmt.Errorf("-senders %q: want http or ws", o.senders)
	}
	if o.repeat < 1 || o.publishers < 1 {
		return o, errors.New("-runs and -publishers must be at least 1")
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.rate <= 0 || o.duration <= 0 || o.warmup < 0:
		return o, errors.New("-rate and -duration must be positive, -warmup not negative")
	case o.receivers < 1:
		return o, errors.New("-receivers must be at least 1")
	case o.conns < 1:
		return o, errors.New("-conns must be at least 1")
	}
	switch o.scenario {
	case scenarioFanout, scenarioConnections, scenarioTwoNodes, scenarioAll:
	default:
		return o, fmt.Errorf("-scenario %q: want %s, %s, %s or %s", o.scenario, scenarioFanout, scenarioConnections, scenarioTwoNodes, scenarioAll)
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	root, err := proc.RepoRoot()
	if err != nil {
		return err
	}
	o, err := parseFlags(args, stderr, root)
	if err != nil {
		return err
	}
	if o.runs(scenarioFanout) && !o.skipCentrifugo {
		if _, serr := os.Stat(o.centrifugoBin); serr != nil {
			return fmt.Errorf("centrifugo not found at %s: install it with chat-app/scripts/install-centrifugo.sh, or pass -skip-centrifugo to run ours only", o.centrifugoBin)
		}
	}
	p := progress{w: stderr}
	dir, err := os.MkdirTemp("", "chatbench-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil || o.keepLogs {
			p.printf("logs kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}()
	env := envInfo{Start: time.Now(), LoadStart: loadAvg(), CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}

	rep := &report{o: o}
	if o.runs(scenarioFanout) || o.runs(scenarioConnections) {
		p.printf("building ./chat-app/cmd/chat ...")
		bin, err := proc.Build(ctx, root, "./chat-app/cmd/chat", dir)
		if err != nil {
			return err
		}
		if o.runs(scenarioFanout) && len(o.sweep) > 0 {
			sw, err := runSweep(ctx, p, o, bin, dir)
			if err != nil {
				return err
			}
			rep.sweep = sw
		} else if o.runs(scenarioFanout) {
			ours, err := runOurs(ctx, p, o, bin, dir)
			if err != nil {
				return fmt.Errorf("ours: %w", err)
			}
			p.done(ours)
			rep.results = append(rep.results, ours)
			if !o.skipCentrifugo {
				peer, err := runCentrifugo(ctx, p, o, dir)
				if err != nil {
					return fmt.Errorf("centrifugo: %w", err)
				}
				p.done(peer)
				rep.results = append(rep.results, peer)
			}
		}
		if o.runs(scenarioConnections) {
			cr, err := runConnections(ctx, p, o, bin, dir)
			if err != nil {
				return fmt.Errorf("connections: %w", err)
			}
			rep.conns = cr
		}
	}
	if o.runs(scenarioTwoNodes) {
		tn, skipped, err := runTwoNodes(ctx, p, o, root, dir)
		if err != nil {
			return fmt.Errorf("two-nodes: %w", err)
		}
		if skipped != "" {
			p.printf("two-nodes: skipped: %s", skipped)
		} else {
			p.done(tn)
		}
		rep.twoNodes, rep.twoNodesSkipped = tn, skipped
	}
	env.LoadEnd = loadAvg()
	rep.env = env
	rep.print(stdout)
	if o.report != "" {
		if err := rep.writeMarkdown(o.report); err != nil {
			return err
		}
		p.printf("report: %s", o.report)
	}
	return nil
}

// Publishing limits. At these rates a few publishes are outstanding at a time, so MaxInFlight only
// drops when a system stalls for seconds; a publish unanswered after the timeout is a failure.
const (
	publishMaxInFlight = 10_000
	publishTimeout     = 10 * time.Second
)

// drive runs the scenario's publishing against c: warm-up, the measured window, then waits for
// the last deliveries. loadgen calls publish open loop at o.rate and measures the publisher's side
// (publish must stamp its message with loadgen.Scheduled); the receivers measure the deliveries.
func drive(ctx context.Context, p progress, o options, c *collector, name string, publish loadgen.Target) (*loadgen.Result, error) {
	// Both sides must agree on the window before the first publish, so it is fixed here and given
	// to loadgen as Start; 100 ms leaves Run ample time to begin before it.
	start := time.Now().Add(100 * time.Millisecond)
	from := start.Add(o.warmup)
	c.to.Store(from.Add(o.duration).UnixNano())
	c.from.Store(from.UnixNano())
	res, err := loadgen.Run(ctx, loadgen.Config{Name: name, Rate: o.rate, Duration: o.duration, Warmup: o.warmup, Start: start,
		MaxInFlight: publishMaxInFlight, Timeout: publishTimeout, Progress: newDeliveryProgress(p.w, c)}, publish)
	if err != nil {
		return nil, err
	}
	c.settle(ctx, 5*time.Second)
	return res, ctx.Err()
}

func fill(r *result, c *collector) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r.received, r.sentIn, r.closed = c.received, c.sentIn, c.closed
	r.lat = summarize(c.lat)
}

type progress struct{ w io.Writer }

func (p progress) printf(format string, args ...any) {
	fmt.Fprintf(p.w, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func (p progress) done(r *result) {
	p.printf("%s: %.0f delivered msgs/s, p50 %s, p99 %s; %d of %d expected deliveries; publish p50 %s, p99 %s, generator max lag %s; %d publish errors",
		r.name, r.rate(), fmtDur(r.lat.p50), fmtDur(r.lat.p99), r.sentIn, r.expected(), fmtDur(r.pubP50), fmtDur(r.pubP99), fmtDur(r.pubMaxLag), r.pubErrors)
	if len(r.pubErrorKinds) > 0 {
		p.printf("%s: publish errors by kind: %v", r.name, r.pubErrorKinds)
	}
}

// deliveryProgress appends the receivers' deliveries/s to each of loadgen's progress lines (which
// know only the publishes), so that a terminal shows one line redrawn in place rather than two
// printers writing over each other. Only loadgen's progress goroutine writes to it.
type deliveryProgress struct {
	w      io.Writer
	c      *collector
	last   int64
	lastAt time.Time
}

// fder is what loadgen looks for to tell a terminal from a log.
type fder interface{ Fd() uintptr }

func newDeliveryProgress(w io.Writer, c *collector) io.Writer {
	d := &deliveryProgress{w: w, c: c, last: c.live.Load(), lastAt: time.Now()}
	if f, ok := w.(fder); ok {
		return struct {
			*deliveryProgress
			fder
		}{d, f}
	}
	return d
}

func (d *deliveryProgress) Write(b []byte) (int, error) {
	now, n := time.Now(), d.c.live.Load()
	rate := float64(n-d.last) / max(now.Sub(d.lastAt).Seconds(), 1e-3)
	d.last, d.lastAt = n, now
	// loadgen ends a line with "\n" (a log) or "\x1b[K" and maybe "\n" (a terminal): insert before it.
	line, tail := b, []byte(nil)
	if i := bytes.IndexAny(b, "\x1b\n"); i >= 0 {
		line, tail = b[:i], b[i:]
	}
	if _, err := fmt.Fprintf(d.w, "%s  deliveries %.0f/s%s", line, rate, tail); err != nil {
		return 0, err
	}
	return len(b), nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// startServer starts bin on a free port (addrKey=127.0.0.1:<port>, then env), logging to
// <dir>/<name>.log, and waits until its /readyz answers. The caller stops it.
func startServer(ctx context.Context, dir, name, bin, addrKey string, env []string) (*proc.Process, string, error) {
	port, err := proc.FreePort()
	if err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	logf, logPath, err := openLog(dir, name+".log")
	if err != nil {
		return nil, "", err
	}
	defer logf.Close() // the child has its own descriptor
	srv, err := proc.Start(name, bin, nil, append([]string{addrKey + "=" + addr}, env...), logf)
	if err != nil {
		return nil, "", err
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := srv.WaitReady(rctx, "http://"+addr+"/readyz"); err != nil {
		_ = srv.Stop(5 * time.Second)
		return nil, "", fmt.Errorf("%s: %w (log: %s)", name, err, logPath)
	}
	return srv, addr, nil
}

func openLog(dir, name string) (*os.File, string, error) {
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	return f, path, err
}

// procCPU is the user+system CPU seconds of pid so far (Linux /proc; 0 elsewhere).
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:]) // state is f[0]; utime and stime are fields 14 and 15 of stat
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / 100 // USER_HZ is 100 on Linux
}

// procRSSMB is the resident set of pid in MiB (Linux /proc; 0 elsewhere).
func procRSSMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	default:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
}
