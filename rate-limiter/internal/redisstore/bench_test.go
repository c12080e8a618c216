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
