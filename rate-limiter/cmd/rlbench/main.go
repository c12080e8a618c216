// Command rlbench is the side-by-side gRPC benchmark of the rate limiter: it runs our
// ratelimit and envoyproxy/ratelimit (the reference Rate Limit Service) against the same Redis,
// with the same envoy-format rules file, and drives both with the same ShouldRateLimit callers
// in one run, alternating which goes first in each round.
//
// Per service and round it measures
//   - throughput: -callers goroutines, each a closed loop of ShouldRateLimit over a shared pool
//     of -conns gRPC connections, a random user among -users per call → decisions/s, p50, p99,
//     p99.9, errors, and the CPU the service and Redis spent;
//   - exact admission: -exact-calls calls from -callers goroutines at a fresh key limited to
//     -exact-limit per minute, inside one minute window → how many were admitted (must be
//     exactly -exact-limit).
//
// Usage (from the repository root):
//
//	rate-limiter/scripts/install-envoy-ratelimit.sh   # once: the peer, into .bin/
//	go run ./rate-limiter/cmd/rlbench                  # ~2 min; writes reports/rate-limiter-grpc-bench.md
//
// Both fixed windows are aligned to the minute, which is all envoy ratelimit does, so the one
// rule both accept is a per-user fixed window per minute.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"github.com/hyperscaledesignhub/DesignSystems/shared/proc"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

func main() {
	// The callers share the machine with both services; the less CPU they spend per call, the
	// more the figures measure the services. Their garbage is all short-lived, so a larger GC
	// target is a pure saving (it affects both services' runs alike).
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		switch {
		case errors.Is(err, flag.ErrHelp):
			return
		case errors.Is(err, context.Canceled):
			err = errors.New("interrupted (both services were stopped and the benchmark keys deleted)")
		}
		fmt.Fprintf(os.Stderr, "rlbench: %v\n", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	duration   time.Duration // measured window of each throughput phase
	warmup     time.Duration // unrecorded calls before it
	timeout    time.Duration // per call
	callers    int
	conns      int
	rounds     int
	users      int
	limit      int // requests per minute per user in the throughput phase
	exactLimit int
	exactCalls int
	redisURL   string
	skipEnvoy  bool
	keepLogs   bool
	envoyBin   string
	report     string
	oursEnv    envList // extra settings for ours, e.g. REDIS_TIMEOUT=1s
	envoyEnv   envList // extra settings for envoy ratelimit, e.g. REDIS_POOL_SIZE=20
}

// envList is a repeatable KEY=VALUE flag.
type envList []string

func (e *envList) String() string { return strings.Join(*e, " ") }

func (e *envList) Set(v string) error {
	if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", v)
	}
	*e = append(*e, v)
	return nil
}

func parseFlags(args []string, stderr io.Writer, root string) (options, error) {
	var o options
	fs := flag.NewFlagSet("rlbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured window of each throughput phase")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unrecorded calls before each measured window")
	fs.DurationVar(&o.timeout, "timeout", time.Second, "deadline of each ShouldRateLimit call")
	fs.IntVar(&o.callers, "callers", 64, "concurrent callers (closed loops)")
	fs.IntVar(&o.conns, "conns", 4, "gRPC connections per service, shared round-robin by the callers")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds; each runs every service once, alternating which goes first; ratios are the median of the rounds'")
	fs.IntVar(&o.users, "users", 10_000, "distinct users the throughput callers pick from at random")
	fs.IntVar(&o.limit, "limit", 1000, "requests per minute per user in the throughput phase (high enough that most calls are admitted)")
	fs.IntVar(&o.exactLimit, "exact-limit", 500, "requests per minute of the exact-admission key")
	fs.IntVar(&o.exactCalls, "exact-calls", 2000, "calls fired at the exact-admission key")
	fs.StringVar(&o.redisURL, "redis", "redis://127.0.0.1:6379/9", "Redis both services share (use a DB of your own: keys of domain \"bench\" in it are deleted before and after)")
	fs.BoolVar(&o.skipEnvoy, "skip-envoy", false, "run our service only (when envoy ratelimit cannot be installed)")
	fs.BoolVar(&o.keepLogs, "keep-logs", false, "keep the services' logs and the rules file (their directory is printed)")
	fs.StringVar(&o.envoyBin, "envoy-bin", filepath.Join(root, ".bin", "service_cmd"), "envoy ratelimit binary (rate-limiter/scripts/install-envoy-ratelimit.sh puts it there)")
	fs.StringVar(&o.report, "report", filepath.Join(root, "reports", "rate-limiter-grpc-bench.md"), "Markdown report to write (\"\" for none)")
	fs.Var(&o.oursEnv, "ours-env", "extra KEY=VALUE setting for ours (repeatable; default: its defaults)")
	fs.Var(&o.envoyEnv, "envoy-env", "extra KEY=VALUE setting for envoy ratelimit (repeatable; default: its defaults)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.duration <= 0 || o.warmup < 0 || o.timeout <= 0:
		return o, errors.New("-duration and -timeout must be positive, -warmup not negative")
	case o.callers < 1 || o.conns < 1 || o.rounds < 1 || o.users < 1:
		return o, errors.New("-callers, -conns, -rounds and -users must be at least 1")
	case o.limit < 1 || o.exactLimit < 1 || o.exactCalls < 1:
		return o, errors.New("-limit, -exact-limit and -exact-calls must be at least 1")
	case o.limit == o.exactLimit:
		// The readiness probe tells the two rules apart by their limit.
		return o, errors.New("-limit and -exact-limit must differ")
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
	if !o.skipEnvoy {
		if _, serr := os.Stat(o.envoyBin); serr != nil {
			return fmt.Errorf("envoy ratelimit not found at %s: install it with rate-limiter/scripts/install-envoy-ratelimit.sh (about 30 s), or pass -skip-envoy to run ours only", o.envoyBin)
		}
	}
	p := progress{w: stderr}
	env := captureEnv()

	rdb, err := openRedis(ctx, o.redisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	// Counters of an earlier run in the same minute would skew the exact-admission check.
	if n, cerr := cleanKeys(ctx, rdb); cerr != nil {
		return cerr
	} else if n > 0 {
		p.printf("deleted %d keys of domain %q left in %s", n, domain, o.redisURL)
	}
	defer func() {
		// A fresh context: the run's may be canceled (Ctrl-C), and the keys should go anyway.
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		n, cerr := cleanKeys(cctx, rdb)
		if cerr != nil {
			err = errors.Join(err, cerr)
			return
		}
		p.printf("deleted %d benchmark keys from %s", n, o.redisURL)
	}()

	dir, err := os.MkdirTemp("", "rlbench-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer func() {
		if err != nil || o.keepLogs {
			p.printf("service logs and rules kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}()

	plan := newPlan(o)
	rulesDir, err := writeRules(dir, plan)
	if err != nil {
		return err
	}

	var svcs []*server
	defer func() {
		for _, s := range svcs {
			if serr := s.stop(); serr != nil {
				p.printf("%s: %v", s.name, serr)
			}
		}
	}()
	ours, err := startOurs(ctx, p, root, dir, rulesDir, o)
	if err != nil {
		return err
	}
	svcs = append(svcs, ours)
	if !o.skipEnvoy {
		env.EnvoyVersion = moduleVersion(ctx, o.envoyBin)
		peer, serr := startEnvoy(dir, o)
		if serr != nil {
			return serr
		}
		svcs = append(svcs, peer)
	}
	for _, s := range svcs {
		if err := s.ready(ctx, o); err != nil {
			return err
		}
		p.printf("%s: ready on %s (pid %d)", s.name, s.grpcAddr, s.pid())
	}
	redisPID := redisProcess(ctx, rdb)

	res := &results{env: env, opts: o, rules: plan.yaml}
	for r := range o.rounds {
		order := svcs
		if r%2 == 1 { // alternate who goes first, so warm caches and drifting load favour neither
			order = []*server{svcs[len(svcs)-1]}
			order = append(order, svcs[:len(svcs)-1]...)
		}
		for _, s := range order {
			p.printf("round %d/%d: %s: throughput, %d callers over %d conns, %v warm-up + %v ...", r+1, o.rounds, s.name, o.callers, o.conns, o.warmup, o.duration)
			tp, err := throughput(ctx, s, o, plan.users, redisPID)
			if err != nil {
				return err
			}
			p.printf("round %d/%d: %s: %.0f decisions/s, p50 %s, p99 %s, p99.9 %s, %d errors, load %.2f",
				r+1, o.rounds, s.name, tp.rate(), fmtDur(tp.lat.p50), fmtDur(tp.lat.p99), fmtDur(tp.lat.p999), tp.errors, tp.load)
			res.add(r, s.name, tp)
		}
		// The exact phases of a round share one aligned minute: each takes well under a second.
		if err := alignToWindow(ctx, p, 15*time.Second); err != nil {
			return err
		}
		for _, s := range order {
			ex, err := exact(ctx, s, o, plan.exactValue(s.name, r))
			if err != nil {
				return err
			}
			p.printf("round %d/%d: %s: exact admission %d of %d calls (limit %d)%s", r+1, o.rounds, s.name, ex.ok, o.exactCalls, o.exactLimit, ex.note())
			res.addExact(r, s.name, ex)
		}
		if s := failedService(svcs); s != nil {
			return fmt.Errorf("%s exited during the run; its log: %s", s.name, s.logPath)
		}
	}
	if ours.metricsURL != "" {
		res.oursMetrics = scrapeOurs(ctx, ours.metricsURL)
	}
	env.LoadEnd = loadAvg()

	res.print(stdout)
	if o.report != "" {
		if err := res.writeMarkdown(o.report); err != nil {
			return err
		}
		p.printf("report: %s", o.report)
	}
	return nil
}

// domain is the rules' domain; the keys of both services in Redis start with it.
const domain = "bench"

// plan is what the rules file holds: the throughput users' rule and one fresh exact-admission
// key per service and round, all known before the services start.
type plan struct {
	o     options
	runID string
	yaml  string
	users []string
}

func newPlan(o options) *plan {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	p := &plan{o: o, runID: hex.EncodeToString(b), users: make([]string, o.users)}
	for i := range p.users {
		p.users[i] = fmt.Sprintf("user-%d", i)
	}
	var y strings.Builder
	fmt.Fprintf(&y, "# Written by rlbench: the envoy-ratelimit subset both services accept (fixed window per minute).\n")
	fmt.Fprintf(&y, "domain: %s\ndescriptors:\n", domain)
	for r := range o.rounds {
		for _, name := range []string{nameOurs, nameEnvoy} {
			fmt.Fprintf(&y, "  - key: user\n    value: %s\n    rate_limit: {unit: minute, requests_per_unit: %d}\n", p.exactValue(name, r), o.exactLimit)
		}
	}
	fmt.Fprintf(&y, "  - key: user\n    rate_limit: {unit: minute, requests_per_unit: %d}\n", o.limit)
	p.yaml = y.String()
	return p
}

// exactValue is the user whose key the exact-admission phase of service name in round r hits.
func (p *plan) exactValue(name string, round int) string {
	return fmt.Sprintf("exact-%s-%s-r%d", name, p.runID, round+1)
}

// writeRules writes the one rules file where both services look: envoy ratelimit reads
// $RUNTIME_ROOT/$RUNTIME_SUBDIRECTORY/config/*.yaml, ours RULES_PATH (that config directory).
func writeRules(dir string, p *plan) (string, error) {
	cfg := filepath.Join(dir, "runtime", "rlbench", "config")
	if err := os.MkdirAll(cfg, 0o755); err != nil {
		return "", fmt.Errorf("rules dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(cfg, "bench.yaml"), []byte(p.yaml), 0o644); err != nil {
		return "", fmt.Errorf("rules file: %w", err)
	}
	return cfg, nil
}

func openRedis(ctx context.Context, url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("-redis %q: %w", url, err)
	}
	c := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("redis at %s does not answer (start one, or pass -redis): %w", url, err)
	}
	return c, nil
}

// cleanKeys deletes what both services wrote for domain, and nothing else: ours writes
// rl:{<domain>|...}:<suffix>, envoy ratelimit <domain>_<key>_<value>_<window>.
func cleanKeys(ctx context.Context, rdb *redis.Client) (int, error) {
	n := 0
	for _, pattern := range []string{"rl:{" + domain + "|*", domain + "_*"} {
		iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
		var batch []string
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			if err := rdb.Unlink(ctx, batch...).Err(); err != nil {
				return fmt.Errorf("delete benchmark keys: %w", err)
			}
			n += len(batch)
			batch = batch[:0]
			return nil
		}
		for iter.Next(ctx) {
			batch = append(batch, iter.Val())
			if len(batch) == 500 {
				if err := flush(); err != nil {
					return n, err
				}
			}
		}
		if err := iter.Err(); err != nil {
			return n, fmt.Errorf("scan benchmark keys: %w", err)
		}
		if err := flush(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// alignToWindow waits for the next minute when fewer than need remain in this one: both
// services count fixed windows aligned to the minute, and an exact-admission phase that spans
// two windows would admit up to twice the limit.
func alignToWindow(ctx context.Context, p progress, need time.Duration) error {
	now := time.Now()
	next := now.Truncate(time.Minute).Add(time.Minute)
	if next.Sub(now) >= need {
		return nil
	}
	wait := next.Sub(now) + 250*time.Millisecond
	p.printf("waiting %.1f s for a fresh minute window (fixed windows are aligned to the minute)", wait.Seconds())
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// progress writes timestamped progress lines (stderr).
type progress struct{ w io.Writer }

func (p progress) printf(format string, args ...any) {
	fmt.Fprintf(p.w, "%s rlbench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
