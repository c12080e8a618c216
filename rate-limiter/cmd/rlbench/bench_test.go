package main

// Benchmarks that take our service apart, for profiling what rlbench measures end to end (the
// service binary exposes no pprof):
//
//	go test -run '^$' -bench . -cpu 2 -cpuprofile /tmp/ours.cpu ./rate-limiter/cmd/rlbench
//	go tool pprof -top /tmp/ours.cpu
//
// Each runs 64 callers, as rlbench does, against Redis at RLBENCH_REDIS (default
// redis://127.0.0.1:6379/9; skipped when it does not answer). Their keys are deleted afterwards.

import (
	"context"
	"fmt"
	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	rlv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/api"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/redisstore"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/rules"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/service"
)

const benchCallers = 64

// benchRedis is a client of the benchmark DB whose benchmark keys are deleted at cleanup.
func benchRedis(b *testing.B) *redis.Client {
	b.Helper()
	url := os.Getenv("RLBENCH_REDIS")
	if url == "" {
		url = "redis://127.0.0.1:6379/9"
	}
	rdb, err := openRedis(context.Background(), url)
	if err != nil {
		testkit.Unavailable(b, "Redis for rlbench at %s (RLBENCH_REDIS): %v", url, err)
		return nil
	}
	b.Cleanup(func() {
		_, err := cleanKeys(context.Background(), rdb)
		require.NoError(b, err)
		_ = rdb.Close()
	})
	return rdb
}

// benchEngine is the engine as cmd/ratelimit wires it with REDIS_URL set, but with a 1 s store
// deadline, so that a busy machine profiles the decision path rather than failure modes.
func benchEngine(b *testing.B, rdb *redis.Client) *service.Engine {
	b.Helper()
	p := newPlan(options{rounds: 1, users: 10_000, limit: 1_000_000, exactLimit: 500})
	set, err := rules.Parse("bench.yaml", []byte(p.yaml))
	require.NoError(b, err)
	store := redisstore.New(rdb, redisstore.Options{Timeout: time.Second})
	require.NoError(b, store.Load(context.Background()))
	reg := prometheus.NewRegistry()
	e, err := service.New(service.Options{
		Store: store, Shared: true, Rules: func() *rules.Set { return set },
		Registry: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(b, err)
	b.Cleanup(func() {
		// A failing store makes failure_mode open admit everything without Redis: fast, and
		// meaningless as a measurement.
		if n := testkit.MetricSum(b, reg, "ratelimit_store_errors_total"); n > 0 {
			b.Errorf("%.0f store errors: the numbers measure failure modes, not the store", n)
		}
		_ = e.Close()
		_ = store.Close()
	})
	return e
}

// parallel runs f from benchCallers goroutines (b.SetParallelism counts per GOMAXPROCS). Besides
// wall time per op, which a busy machine makes noisy, it reports the CPU this process (callers
// and, in-process, the service) and the Redis server spent per op: steadier, and what decides
// throughput when the CPUs are the bottleneck.
func parallel(b *testing.B, rdb *redis.Client, f func(user string) error) {
	b.Helper()
	redisPID := redisProcess(context.Background(), rdb)
	b.SetParallelism(max(1, benchCallers/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	self0, red0 := cpuTime(os.Getpid()), cpuTime(redisPID)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := f("user-" + strconv.Itoa(rand.IntN(10_000))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	self1, red1 := cpuTime(os.Getpid()), cpuTime(redisPID)
	b.ReportMetric(float64((self1-self0).Microseconds())/float64(b.N), "cpu-µs/op")
	if redisPID > 0 {
		b.ReportMetric(float64((red1-red0).Microseconds())/float64(b.N), "redis-cpu-µs/op")
	}
}

// BenchmarkOursGRPC is the whole path rlbench measures: gRPC client, server, engine, Redis —
// with the server options cmd/ratelimit uses, then with a new goroutine per RPC (gRPC's default),
// to show what the stream workers save.
func BenchmarkOursGRPC(b *testing.B) {
	for _, v := range []struct {
		name string
		opts []grpc.ServerOption
	}{
		{"as-run", api.ServerOptions()},
		{"goroutine-per-rpc", nil},
	} {
		b.Run(v.name, func(b *testing.B) { benchGRPC(b, v.opts...) })
	}
}

func benchGRPC(b *testing.B, opts ...grpc.ServerOption) {
	rdb := benchRedis(b)
	e := benchEngine(b, rdb)
	m, err := api.NewMetrics(prometheus.NewRegistry())
	require.NoError(b, err)
	gs := grpc.NewServer(opts...)
	rlv3.RegisterRateLimitServiceServer(gs, &api.RLS{Engine: e, Metrics: m})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	go func() { _ = gs.Serve(ln) }()
	b.Cleanup(gs.Stop)

	var clients []rlv3.RateLimitServiceClient
	for range 4 {
		cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(b, err)
		b.Cleanup(func() { _ = cc.Close() })
		clients = append(clients, rlv3.NewRateLimitServiceClient(cc))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a hang fails, not blocks
	b.Cleanup(cancel)
	parallel(b, rdb, func(user string) error {
		resp, err := clients[rand.IntN(len(clients))].ShouldRateLimit(ctx, request(user))
		if err == nil && resp.GetOverallCode() != rlv3.RateLimitResponse_OK {
			err = fmt.Errorf("code %v", resp.GetOverallCode())
		}
		return err
	})
}

// BenchmarkOursEngine is the engine alone: matching, cache, breaker, the store round trip.
func BenchmarkOursEngine(b *testing.B) {
	rdb := benchRedis(b)
	e := benchEngine(b, rdb)
	ctx := context.Background()
	parallel(b, rdb, func(user string) error {
		code, _, err := e.Check(ctx, domain, []service.Descriptor{{Entries: []rules.Entry{{Key: "user", Value: user}}}}, 1)
		if err == nil && code != service.OK {
			err = fmt.Errorf("code %v", code)
		}
		return err
	})
}

// BenchmarkStoreFixedWindow is one decision in our store as the engine asks for it: AllowBatch
// of one request, a pipeline of one EVALSHA of the fixed-window script.
func BenchmarkStoreFixedWindow(b *testing.B) {
	rdb := benchRedis(b)
	store := redisstore.New(rdb, redisstore.Options{Timeout: time.Second})
	b.Cleanup(func() { _ = store.Close() })
	l := limit.Limit{Algorithm: limit.FixedWindow, Requests: 1_000_000, Period: time.Minute}
	ctx := context.Background()
	parallel(b, rdb, func(user string) error {
		_, err := store.AllowBatch(ctx, []limit.Request{{Key: domain + "|user=" + user, Limit: l, Hits: 1}})
		return err
	})
}

// BenchmarkStoreFixedWindowCoalesced is the same decision through Allow, which shares
// pipelines between concurrent callers (the batcher) instead of one pipeline per call.
func BenchmarkStoreFixedWindowCoalesced(b *testing.B) {
	rdb := benchRedis(b)
	store := redisstore.New(rdb, redisstore.Options{Timeout: time.Second})
	b.Cleanup(func() { _ = store.Close() })
	l := limit.Limit{Algorithm: limit.FixedWindow, Requests: 1_000_000, Period: time.Minute}
	ctx := context.Background()
	parallel(b, rdb, func(user string) error {
		_, err := store.Allow(ctx, limit.Request{Key: domain + "|user=" + user, Limit: l, Hits: 1})
		return err
	})
}

// BenchmarkEnvoyCommands is what envoy ratelimit sends per decision, for comparison: a
// pipeline of INCRBY and EXPIRE on <domain>_<key>_<value>_<window>.
func BenchmarkEnvoyCommands(b *testing.B) {
	rdb := benchRedis(b)
	ctx := context.Background()
	parallel(b, rdb, func(user string) error {
		window := time.Now().Unix() / 60 * 60
		key := domain + "_user_" + user + "_" + strconv.FormatInt(window, 10)
		pipe := rdb.Pipeline()
		pipe.IncrBy(ctx, key, 1)
		pipe.Expire(ctx, key, time.Minute)
		_, err := pipe.Exec(ctx)
		return err
	})
}
