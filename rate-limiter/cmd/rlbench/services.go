package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/hyperscaledesignhub/DesignSystems/shared/proc"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	extv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

const (
	nameOurs  = "ours"
	nameEnvoy = "envoy"
)

// server is one rate-limit service under test: its process and the client connections the
// callers share.
type server struct {
	name       string
	grpcAddr   string
	metricsURL string // ours only: Prometheus text, for the store-error and failure-mode counters
	logPath    string

	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited; waitErr is then set
	waitEr error

	conns   []*grpc.ClientConn
	clients []rlv3.RateLimitServiceClient
}

// startOurs builds cmd/ratelimit into dir and starts it on free loopback ports.
func startOurs(ctx context.Context, p progress, root, dir, rulesDir string, o options) (*server, error) {
	p.printf("ours: go build ./rate-limiter/cmd/ratelimit ...")
	start := time.Now()
	bin, err := proc.Build(ctx, root, "./rate-limiter/cmd/ratelimit", dir)
	if err != nil {
		return nil, err
	}
	p.printf("ours: built in %.1f s", time.Since(start).Seconds())
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	httpAddr, grpcAddr := loopback(ports[0]), loopback(ports[1])
	s := &server{name: nameOurs, grpcAddr: grpcAddr, metricsURL: "http://" + httpAddr + "/metrics", logPath: filepath.Join(dir, "ours.log")}
	return s, s.start(bin, append([]string{
		"HTTP_ADDR=" + httpAddr,
		"GRPC_ADDR=" + grpcAddr,
		"RULES_PATH=" + rulesDir,
		"REDIS_URL=" + o.redisURL,
		"LOG_LEVEL=warn",
	}, o.oursEnv...))
}

// startEnvoy starts envoy ratelimit on free loopback ports. Its settings are in
// src/settings/settings.go of github.com/envoyproxy/ratelimit; the ones that matter here:
//   - RUNTIME_WATCH_ROOT=false: read $RUNTIME_ROOT/$RUNTIME_SUBDIRECTORY/config as a plain
//     directory (true expects the symlink-swapped layout of a runtime deployment).
//   - REDIS_URL: radix v4 (its Redis client) takes host:port or a redis:// URL, and the URL's
//     path selects the DB — the same DB as ours, so their keys can be told apart and cleaned.
//   - DISABLE_STATS=true: without a stats sink (USE_STATSD=false and no other), it falls back
//     to gostats' logging sink, which writes one JSON line to stderr per ShouldRateLimit (the
//     response-time timer is flushed per sample) — a handicap no deployment has. With stats
//     disabled the peer runs at its fastest, so the comparison errs in its favour.
//   - REDIS_POOL_SIZE, REDIS_PIPELINE_WINDOW: left at their defaults (10, no write buffering),
//     as ours is left at its own.
func startEnvoy(dir string, o options) (*server, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	grpcAddr := loopback(ports[0])
	s := &server{name: nameEnvoy, grpcAddr: grpcAddr, logPath: filepath.Join(dir, "envoy.log")}
	return s, s.start(o.envoyBin, append([]string{
		"RUNTIME_ROOT=" + filepath.Join(dir, "runtime"),
		"RUNTIME_SUBDIRECTORY=rlbench",
		"RUNTIME_APPDIRECTORY=config",
		"RUNTIME_WATCH_ROOT=false",
		"RUNTIME_IGNOREDOTFILES=true",
		"BACKEND_TYPE=redis",
		"REDIS_SOCKET_TYPE=tcp",
		"REDIS_TYPE=SINGLE",
		"REDIS_URL=" + o.redisURL,
		"USE_STATSD=false",
		"USE_PROMETHEUS=false",
		"DISABLE_STATS=true",
		"TRACING_ENABLED=false",
		"HOST=127.0.0.1",
		"PORT=" + strconv.Itoa(ports[1]),
		"GRPC_HOST=127.0.0.1",
		"GRPC_PORT=" + strconv.Itoa(ports[0]),
		"DEBUG_HOST=127.0.0.1",
		"DEBUG_PORT=" + strconv.Itoa(ports[2]),
		"LOG_LEVEL=warn",
	}, o.envoyEnv...))
}

// start runs bin with the inherited environment plus settings (later entries win), in a
// process group of its own so that a Ctrl-C reaches only rlbench, which then stops it in order.
func (s *server) start(bin string, settings []string) error {
	logf, err := os.Create(s.logPath)
	if err != nil {
		return fmt.Errorf("%s log: %w", s.name, err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OTEL_") { // no tracing exporter for either service
			env = append(env, kv)
		}
	}
	s.cmd = exec.Command(bin)
	s.cmd.Env = append(env, settings...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		_ = logf.Close()
		return fmt.Errorf("start %s (%s): %w", s.name, bin, err)
	}
	s.exited = make(chan struct{})
	go func() {
		s.waitEr = s.cmd.Wait()
		_ = logf.Close()
		close(s.exited)
	}()
	return nil
}

func (s *server) pid() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

func (s *server) hasExited() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// ready dials the connection pool and waits until a ShouldRateLimit call answers with the
// throughput rule's limit, which proves the service is up, loaded the rules and reached Redis.
func (s *server) ready(ctx context.Context, o options) error {
	for range o.conns {
		cc, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return fmt.Errorf("%s: dial %s: %w", s.name, s.grpcAddr, err)
		}
		s.conns = append(s.conns, cc)
		s.clients = append(s.clients, rlv3.NewRateLimitServiceClient(cc))
	}
	probe := request("probe-" + s.name)
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		if s.hasExited() {
			return fmt.Errorf("%s exited at start-up (%v); its log:\n%s", s.name, s.waitEr, tail(s.logPath, 20))
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := s.clients[0].ShouldRateLimit(cctx, probe)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			last = err
		case limitOf(resp) != uint32(o.limit):
			last = fmt.Errorf("answered without the rules' limit of %d: %v", o.limit, resp)
		default:
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready on %s after 30 s: %v; its log:\n%s", s.name, s.grpcAddr, last, tail(s.logPath, 20))
}

// stop closes the connections, then sends SIGTERM and waits for a graceful exit; SIGKILL
// after 10 s.
func (s *server) stop() error {
	for _, cc := range s.conns {
		_ = cc.Close()
	}
	s.conns, s.clients = nil, nil
	if s.cmd == nil || s.cmd.Process == nil || s.hasExited() {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-s.exited:
		return nil
	case <-t.C:
		_ = s.cmd.Process.Kill()
		<-s.exited
		return errors.New("did not stop within 10 s of SIGTERM; killed")
	}
}

func failedService(svcs []*server) *server {
	for _, s := range svcs {
		if s.hasExited() {
			return s
		}
	}
	return nil
}

// request is a ShouldRateLimit request for one user of the bench domain.
func request(user string) *rlv3.RateLimitRequest {
	return &rlv3.RateLimitRequest{
		Domain:      domain,
		Descriptors: []*extv3.RateLimitDescriptor{{Entries: []*extv3.RateLimitDescriptor_Entry{{Key: "user", Value: user}}}},
		HitsAddend:  1,
	}
}

// freePorts reserves n loopback ports by listening on port 0 and closing; the services bind
// them a moment later (a small race no other process on this machine is likely to win).
func freePorts(n int) ([]int, error) {
	ports := make([]int, n)
	lns := make([]net.Listener, n)
	defer func() {
		for _, ln := range lns {
			if ln != nil {
				_ = ln.Close()
			}
		}
	}()
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		lns[i] = ln
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// moduleVersion is the main module version stamped in a Go binary (go version -m).
func moduleVersion(ctx context.Context, bin string) string {
	out, err := exec.CommandContext(ctx, "go", "version", "-m", bin).Output()
	if err != nil {
		return "unknown"
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "mod" {
			return f[1] + "@" + f[2]
		}
	}
	return "unknown"
}

// redisProcess is the Redis server's pid when it runs on this machine (to read its CPU time),
// else 0.
func redisProcess(ctx context.Context, rdb *redis.Client) int {
	info, err := rdb.Info(ctx, "server").Result()
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			pid, _ := strconv.Atoi(v)
			if _, err := os.Stat(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
				return pid
			}
		}
	}
	return 0
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every Linux architecture Go
// supports.
const clockTicks = 100

// cpuTime is the user+system CPU time of process pid so far, or 0 when it cannot be read.
func cpuTime(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// loadAvg is the 1-minute load average, or -1 when unknown.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// oursMetrics are counters of our service that tell whether its decisions really came from
// Redis: a store failure (a pipeline that misses its 50 ms deadline) makes the rule's failure
// mode decide instead, and a full queue refuses checks (errors, never admissions).
type oursMetrics struct {
	StoreErrors, FailureMode, CacheHits, QueueRejected float64
	Scraped                                            bool
}

func (m oursMetrics) sub(o oursMetrics) oursMetrics {
	return oursMetrics{StoreErrors: m.StoreErrors - o.StoreErrors, FailureMode: m.FailureMode - o.FailureMode,
		CacheHits: m.CacheHits - o.CacheHits, QueueRejected: m.QueueRejected - o.QueueRejected, Scraped: m.Scraped && o.Scraped}
}

// metrics scrapes our service's counters; the zero value (not Scraped) for envoy.
func (s *server) metrics(ctx context.Context) oursMetrics {
	if s.metricsURL == "" {
		return oursMetrics{}
	}
	return scrapeOurs(ctx, s.metricsURL)
}

func scrapeOurs(ctx context.Context, url string) oursMetrics {
	var m oursMetrics
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return m
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return m
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var dst *float64
		switch {
		case strings.HasPrefix(line, "ratelimit_store_errors_total"):
			dst = &m.StoreErrors
		case strings.HasPrefix(line, "ratelimit_failure_mode_decisions_total"):
			dst = &m.FailureMode
		case strings.HasPrefix(line, "ratelimit_cache_hits_total"):
			dst = &m.CacheHits
		case strings.HasPrefix(line, "ratelimit_store_queue_rejected_total"):
			dst = &m.QueueRejected
		default:
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			*dst += v
		}
	}
	m.Scraped = sc.Err() == nil
	return m
}
