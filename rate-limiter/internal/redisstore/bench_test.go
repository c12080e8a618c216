package redisstore

import (
	"context"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
	"github.com/hyperscaledesignhub/DesignSystems/shared/loadgen"
	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
	"github.com/redis/go-redis/v9"
)

// benchCallers is how many goroutines call Allow at once, as a busy limiter process would.
const benchCallers = 64

// benchKeys is how many distinct limiter keys the callers spread over.
const benchKeys = 1000

// BenchmarkAllow compares this store with github.com/go-redis/redis_rate (GCRA in one Lua script
// per call, one round trip each) on the same Redis, the same client settings and the same key
// pattern: 64 callers, 1000 keys, a limit high enough that every call is admitted.
//
//	go test -run '^$' -bench Allow ./rate-limiter/internal/redisstore/
func BenchmarkAllow(b *testing.B) {
	gcra := limit.Limit{Algorithm: limit.GCRA, Requests: 1_000_000, Period: time.Second}
	var ours, peer result
	defer func() {
		if ours.opsPerSec > 0 && peer.opsPerSec > 0 {
			b.Logf("redisstore/redis_rate (GCRA, %d callers) = %.2f× decisions/s (target ≥ 1.5×); p99 %.2f ms vs %.2f ms (target ≤ 5 ms)",
				benchCallers, ours.opsPerSec/peer.opsPerSec, ours.p99ms, peer.p99ms)
		}
	}()
	b.Run("redisstore/gcra", func(b *testing.B) { ours = benchStore(b, gcra, Options{}) })
	b.Run("redisstore/sliding_window", func(b *testing.B) {
		benchStore(b, limit.Limit{Algorithm: limit.SlidingWindow, Requests: 1_000_000, Period: time.Second}, Options{})
	})
	// Pipelining alone, one script run per request: what sharing script runs adds on top.
	b.Run("redisstore/gcra/per-script=1", func(b *testing.B) { benchStore(b, gcra, Options{PerScript: 1}) })
	b.Run("redis_rate/gcra", func(b *testing.B) {
		env := testkit.Redis(b)
		client := benchClient(b, env)
		limiter := redis_rate.NewLimiter(prefixed{client, env.Prefix})
		l := redis_rate.PerSecond(1_000_000)
		peer = run(b, func(ctx context.Context, key string) (bool, error) {
			res, err := limiter.Allow(ctx, key, l)
			if err != nil {
				return false, err
			}
			return res.Allowed > 0, nil
		})
	})
}

func benchStore(b *testing.B, l limit.Limit, opts Options) result {
	env := testkit.Redis(b)
	client := benchClient(b, env)
	hook := &countingHook{}
	client.AddHook(hook)
	opts.Prefix, opts.Timeout = env.Prefix, time.Second
	s := New(client, opts)
	b.Cleanup(func() { _ = s.Close() })
	if err := s.Load(context.Background()); err != nil {
		b.Fatal(err)
	}
	r := run(b, func(ctx context.Context, key string) (bool, error) {
		d, err := s.Allow(ctx, limit.Request{Key: key, Limit: l})
		return d.Allowed, err
	})
	// How much the store coalesced: requests per round trip and per script run.
	if p := hook.pipelines.Load(); p > 0 {
		b.ReportMetric(float64(b.N)/float64(p), "req/pipeline")
		b.ReportMetric(float64(b.N)/float64(hook.piped.Load()), "req/script")
	}
	return r
}

// result is what one contender measured, for the closing comparison line.
type result struct{ opsPerSec, p99ms float64 }

// benchClient is a client of its own with go-redis's default settings (a pool of
// 10 × GOMAXPROCS connections), the same for every contender.
func benchClient(b *testing.B, env testkit.RedisEnv) *redis.Client {
	opts, err := redis.ParseURL(env.URL)
	if err != nil {
		b.Fatal(err)
	}
	c := redis.NewClient(opts)
	b.Cleanup(func() { _ = c.Close() })
	return c
}

func run(b *testing.B, allow func(ctx context.Context, key string) (bool, error)) result {
	b.SetParallelism((benchCallers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	var next, denied atomic.Int64
	var mu sync.Mutex
	var all []time.Duration
	ctx := context.Background()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration // each caller's latencies, merged once at its end
		for pb.Next() {
			key := "bench:" + strconv.FormatInt(next.Add(1)%benchKeys, 10)
			start := time.Now()
			ok, err := allow(ctx, key)
			mine = append(mine, time.Since(start))
			if err != nil {
				b.Error(err)
				return
			}
			if !ok {
				denied.Add(1)
			}
		}
		mu.Lock()
		all = append(all, mine...)
		mu.Unlock()
	})
	r := result{opsPerSec: float64(b.N) / b.Elapsed().Seconds()}
	if len(all) > 0 {
		slices.Sort(all)
		r.p99ms = float64(all[len(all)*99/100]) / float64(time.Millisecond)
	}
	b.ReportMetric(r.opsPerSec, "ops/s")
	b.ReportMetric(r.p99ms, "p99-ms")
	if denied.Load() > 0 {
		b.Logf("%d of %d denied", denied.Load(), b.N)
	}
	return r
}

// prefixed puts redis_rate's keys ("rate:<key>") under the test's prefix, so that testkit
// removes them with the rest.
type prefixed struct {
	*redis.Client
	prefix string
}

func (p prefixed) keys(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = p.prefix + k
	}
	return out
}

func (p prefixed) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return p.Client.Eval(ctx, script, p.keys(keys), args...)
}

func (p prefixed) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return p.Client.EvalSha(ctx, sha1, p.keys(keys), args...)
}

// BenchmarkAllowOpenLoop is the open-loop form of BenchmarkAllow: arrivals come at a fixed rate
// whatever the store does (shared/loadgen, at most benchCallers in flight, latency counted from
// each arrival's scheduled time, so queueing shows), stepped up 15% at a time. A store's
// capacity is the highest offered rate it kept up with: ≥ 99% of arrivals answered (an arrival
// finding all callers busy is dropped) with p99 ≤ 5 ms. It runs once whatever -benchtime says (a search
// takes ~30 s per store), and prints the ratio of the two capacities.
//
//	go test -run '^$' -bench AllowOpenLoop ./rate-limiter/internal/redisstore/
func BenchmarkAllowOpenLoop(b *testing.B) {
	gcra := limit.Limit{Algorithm: limit.GCRA, Requests: 1_000_000_000, Period: time.Second}
	var ours, peer openLoop
	b.Run("redisstore/gcra", func(b *testing.B) {
		env := testkit.Redis(b)
		s := New(benchClient(b, env), Options{Prefix: env.Prefix, Timeout: time.Second})
		b.Cleanup(func() { _ = s.Close() })
		if err := s.Load(context.Background()); err != nil {
			b.Fatal(err)
		}
		ours = capacity(b, func(ctx context.Context, key string) error {
			_, err := s.Allow(ctx, limit.Request{Key: key, Limit: gcra})
			return err
		})
	})
	b.Run("redis_rate/gcra", func(b *testing.B) {
		env := testkit.Redis(b)
		limiter := redis_rate.NewLimiter(prefixed{benchClient(b, env), env.Prefix})
		l := redis_rate.PerSecond(1_000_000_000)
		peer = capacity(b, func(ctx context.Context, key string) error {
			_, err := limiter.Allow(ctx, key, l)
			return err
		})
	})
	if ours.rate > 0 && peer.rate > 0 {
		b.Logf("open loop, at most %d in flight: redisstore/redis_rate capacity (p99 ≤ 5 ms) = %.0f/%.0f = %.2f× decisions/s (target ≥ 1.5×); p99 at capacity %.2f ms vs %.2f ms",
			benchCallers, ours.rate, peer.rate, ours.rate/peer.rate, ms(ours.p99), ms(peer.p99))
	}
}

// openLoop is the highest step a store kept up with, and its p99 there.
type openLoop struct {
	rate float64
	p99  time.Duration
}

func capacity(b *testing.B, allow func(ctx context.Context, key string) error) openLoop {
	if b.N > 1 { // the search is the measurement: never repeat it for a larger b.N
		b.SkipNow()
	}
	var best openLoop
	var next atomic.Int64
	target := func(ctx context.Context) error {
		return allow(ctx, "bench:"+strconv.FormatInt(next.Add(1)%benchKeys, 10))
	}
	for rate := 8000.0; rate < 400_000; rate *= 1.15 {
		res, err := loadgen.Run(context.Background(), loadgen.Config{
			Rate: rate, Duration: 2 * time.Second, Warmup: 300 * time.Millisecond,
			MaxInFlight: benchCallers, Timeout: time.Second,
		}, target)
		if err != nil {
			b.Fatal(err)
		}
		kept := res.Achieved >= 0.99*rate && res.Latency.P99 <= 5*time.Millisecond
		b.Logf("offered %6.0f/s: achieved %6.0f/s, dropped %d, p50 %.2f ms, p99 %.2f ms — %s",
			rate, res.Achieved, res.Dropped, ms(res.Latency.P50), ms(res.Latency.P99), map[bool]string{true: "kept up", false: "fell behind"}[kept])
		if !kept {
			break
		}
		best = openLoop{rate: rate, p99: res.Latency.P99}
	}
	b.ReportMetric(best.rate, "capacity-ops/s")
	b.ReportMetric(ms(best.p99), "p99-ms")
	return best
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
