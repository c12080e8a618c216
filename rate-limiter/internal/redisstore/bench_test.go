package redisstore

import (
	"context"
	"runtime"
	"strconv"
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
	b.Run("redisstore/gcra", func(b *testing.B) { benchStore(b, gcra, Options{}) })
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
		run(b, func(ctx context.Context, key string) (bool, error) {
			res, err := limiter.Allow(ctx, key, l)
			if err != nil {
				return false, err
			}
			return res.Allowed > 0, nil
		})
	})
}

func benchStore(b *testing.B, l limit.Limit, opts Options) {
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
	run(b, func(ctx context.Context, key string) (bool, error) {
		d, err := s.Allow(ctx, limit.Request{Key: key, Limit: l})
		return d.Allowed, err
	})
	// How much the store coalesced: requests per round trip and per script run.
	if p := hook.pipelines.Load(); p > 0 {
		b.ReportMetric(float64(b.N)/float64(p), "req/pipeline")
		b.ReportMetric(float64(b.N)/float64(hook.piped.Load()), "req/script")
	}
}

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

func run(b *testing.B, allow func(ctx context.Context, key string) (bool, error)) {
	b.SetParallelism((benchCallers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	var next, denied atomic.Int64
	ctx := context.Background()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := "bench:" + strconv.FormatInt(next.Add(1)%benchKeys, 10)
			ok, err := allow(ctx, key)
			if err != nil {
				b.Error(err)
				return
			}
			if !ok {
				denied.Add(1)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	if denied.Load() > 0 {
		b.Logf("%d of %d denied", denied.Load(), b.N)
	}
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
