package tests

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/redisstore"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/rules"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/service"
	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
)

const overloadRules = `
domain: overload
descriptors:
  - key: user
    rate_limit: {unit: day, requests_per_unit: 100, algorithm: gcra, failure_mode: open}
`

// slowLink delays every pipeline a little, as a slow link to Redis would: far below the store's
// deadline, so Redis is healthy, but slow enough that one pipeline at a time of one request each
// serves a few hundred requests a second.
type slowLink struct {
	delay     time.Duration
	pipelines atomic.Int64
}

func (h *slowLink) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *slowLink) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *slowLink) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.pipelines.Add(1)
		time.Sleep(h.delay)
		return next(ctx, cmds)
	}
}

// Saturation with a healthy Redis: the in-process queue in front of Redis holds far more work
// than one deadline's worth (300 callers in flight, one request per pipeline, 5 ms per
// pipeline: the last in the queue waits ~1.5 s against a 1 s deadline). Every decision must
// still come from Redis — none from the failure mode, which would admit uncounted — and a limit
// of 100 must admit exactly 100.
func TestSaturationWithHealthyRedisCountsEveryDecision(t *testing.T) {
	env := testkit.Redis(t)
	set, err := rules.Parse("overload.yaml", []byte(overloadRules))
	require.NoError(t, err)
	link := &slowLink{delay: 5 * time.Millisecond}
	client := redis.NewClient(&redis.Options{Addr: env.Addr, ContextTimeoutEnabled: true})
	client.AddHook(link)
	t.Cleanup(func() { _ = client.Close() })
	const deadline = time.Second
	// The queue is what saturates: one pipeline in flight, one request in it.
	store := redisstore.New(client, redisstore.Options{Prefix: env.Prefix, Timeout: deadline, MaxBatch: 1, Pipelines: 1})
	t.Cleanup(func() { _ = store.Close() })
	require.NoError(t, store.Load(context.Background()))
	reg := prometheus.NewRegistry()
	for _, c := range store.Collectors() {
		require.NoError(t, reg.Register(c))
	}
	e, err := service.New(service.Options{Store: store, Shared: true, Rules: func() *rules.Set { return set },
		Registry: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close() })

	const callers, each = 300, 2
	var admitted, denied, failureMode atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range callers {
		wg.Go(func() {
			<-start
			for range each {
				_, sts, err := e.Check(context.Background(), "overload", []service.Descriptor{{Entries: []rules.Entry{{Key: "user", Value: "ann"}}}}, 1)
				if !assert.NoError(t, err) {
					return
				}
				switch {
				case sts[0].FailureMode != "":
					failureMode.Add(1)
				case sts[0].Code == service.OK:
					admitted.Add(1)
				default:
					denied.Add(1)
				}
			}
		})
	}
	close(start)
	wg.Wait()

	overDeadline := countAbove(t, reg, "ratelimit_store_queue_wait_seconds", deadline.Seconds())
	t.Logf("%d pipelines; admitted %d, denied %d, failure mode %d; %d checks waited in the queue longer than the %s deadline",
		link.pipelines.Load(), admitted.Load(), denied.Load(), failureMode.Load(), overDeadline, deadline)
	assert.Zero(t, failureMode.Load(), "no failure mode while Redis is healthy")
	assert.Zero(t, testkit.MetricSum(t, reg, "ratelimit_failure_mode_decisions_total"))
	assert.Zero(t, testkit.MetricSum(t, reg, "ratelimit_store_errors_total"))
	assert.Equal(t, int64(100), admitted.Load(), "exactly the limit admitted")
	assert.Equal(t, int64(callers*each-100), denied.Load())
	assert.Positive(t, overDeadline, "the queue held more than one deadline's worth of work (else this proves nothing)")
	assert.True(t, e.StoreHealthy())
}

// countAbove is how many observations of a histogram exceed bound, which must be one of its
// bucket bounds.
func countAbove(t *testing.T, reg *prometheus.Registry, name string, bound float64) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		for _, b := range h.GetBucket() {
			if b.GetUpperBound() == bound {
				return h.GetSampleCount() - b.GetCumulativeCount()
			}
		}
		t.Fatalf("%s has no bucket bound %g", name, bound)
	}
	t.Fatalf("no metric %s", name)
	return 0
}
