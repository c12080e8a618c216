package resp_test

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/resp"
	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
)

// redisTool finds redis-cli or redis-benchmark, applying the absent-backend policy.
func redisTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		testkit.Unavailable(t, "%s not found in PATH: %v.\nInstall it with: apt-get install -y redis-tools", name, err)
	}
	return p
}

// run runs a Redis tool against addr and returns its standard output.
func run(t *testing.T, tool, addr string, args ...string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, append([]string{"-h", host, "-p", port}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s %v: %s", tool, args, stderr.String())
	require.Empty(t, stderr.String(), "%s %v wrote to stderr", tool, args)
	return string(out)
}

func TestRedisCLI(t *testing.T) {
	t.Parallel()
	cli := redisTool(t, "redis-cli")
	ts := startServer(t, resp.Options{}, nil)

	// Not a terminal, so redis-cli prints raw replies: values, integers, "" for nil.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"PING"}, "PONG\n"},
		{[]string{"SET", "greeting", "hello world"}, "OK\n"},
		{[]string{"GET", "greeting"}, "hello world\n"},
		{[]string{"SET", "session", "x", "EX", "100"}, "OK\n"},
		{[]string{"TTL", "session"}, "100\n"},
		{[]string{"DEL", "greeting", "missing"}, "1\n"},
		{[]string{"GET", "greeting"}, "\n"},
		{[]string{"MGET", "session", "greeting"}, "x\n\n"},
		{[]string{"NOSUCH"}, "ERR unknown command 'NOSUCH', with args beginning with: \n\n"},
	} {
		assert.Equal(t, tc.want, run(t, cli, ts.addr, tc.args...), "redis-cli %v", tc.args)
	}

	// --scan follows the cursor until it comes back as 0: 250 keys at COUNT 10 is 25+ calls,
	// which only works because our cursors are numbers.
	var want []string
	pairs := [][]byte{}
	for i := range 250 {
		k := fmt.Sprintf("scan:%03d", i)
		want = append(want, k)
		pairs = append(pairs, []byte(k), []byte("v"))
	}
	require.NoError(t, ts.store.MSet(append(pairs, []byte("other"), []byte("v"))))
	got := strings.Fields(run(t, cli, ts.addr, "--scan", "--pattern", "scan:*"))
	sort.Strings(got)
	assert.Equal(t, want, got)
	assert.Len(t, strings.Fields(run(t, cli, ts.addr, "--scan")), 252, "every key")
}

var rpsLine = regexp.MustCompile(`(?m)^(SET|GET): ([0-9.]+) requests per second`)

// benchmark runs redis-benchmark against addr and returns requests per second by test name.
func benchmark(t testing.TB, tool, addr string, n int) map[string]float64 {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, "-h", host, "-p", port, "-t", "set,get", "-n", strconv.Itoa(n), "-P", "16", "-q")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "redis-benchmark: %s", stderr.String())
	// Without the CONFIG GET answers, redis-benchmark warns "Could not fetch server CONFIG".
	require.NotContains(t, stderr.String()+string(out), "WARN")
	// -q still prints progress lines ending in \r before each final line.
	rps := map[string]float64{}
	for _, m := range rpsLine.FindAllStringSubmatch(strings.ReplaceAll(string(out), "\r", "\n"), -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		require.NoError(t, err)
		rps[m[1]] = v
	}
	return rps
}

func TestRedisBenchmark(t *testing.T) {
	t.Parallel()
	tool := redisTool(t, "redis-benchmark")
	ts := startServer(t, resp.Options{}, nil)
	rps := benchmark(t, tool, ts.addr, 20000)
	t.Logf("redis-benchmark -n 20000 -P 16 against the memory store: %v requests/s", rps)
	assert.Positive(t, rps["SET"], "SET requests per second")
	assert.Positive(t, rps["GET"], "GET requests per second")
	v, ok, err := ts.store.Get([]byte("key:__rand_int__"))
	require.NoError(t, err)
	assert.True(t, ok, "redis-benchmark's SETs landed")
	assert.Len(t, v, 3, "redis-benchmark's default data size")
}

// BenchmarkRedisBenchmark is the comparison: redis-benchmark -t set,get -n 200000 -P 16
// against this server (memory store) and against the local Redis, reported as requests/s and
// as our share of Redis's throughput. Run it with
//
//	go test -run '^$' -bench RedisBenchmark -benchtime 1x ./kvdb/internal/resp/
func BenchmarkRedisBenchmark(b *testing.B) {
	tool, err := exec.LookPath("redis-benchmark")
	if err != nil {
		b.Skipf("redis-benchmark not found: %v", err)
	}
	srv, err := resp.New(resp.NewMemStore(nil), resp.Options{})
	require.NoError(b, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() {
		cancel()
		require.NoError(b, <-done)
	}()

	const n = 200000
	var ours, redis map[string]float64
	for b.Loop() {
		ours = benchmark(b, tool, ln.Addr().String(), n)
		if nc, err := net.DialTimeout("tcp", "127.0.0.1:6379", time.Second); err == nil {
			_ = nc.Close()
			redis = benchmark(b, tool, "127.0.0.1:6379", n)
		}
	}
	for _, op := range []string{"SET", "GET"} {
		b.ReportMetric(ours[op], "kvdb-"+op+"-req/s")
		if redis != nil {
			b.ReportMetric(redis[op], "redis-"+op+"-req/s")
			b.ReportMetric(ours[op]/redis[op], "ratio-"+op)
		}
	}
	b.ReportMetric(0, "ns/op")
}
