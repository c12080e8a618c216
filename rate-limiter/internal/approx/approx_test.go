package approx

import (
	"context"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/memstore"
	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
)

var perMinute = limit.Limit{Algorithm: limit.FixedWindow, Requests: 1000, Period: time.Minute}

// waitForFreshWindow avoids starting a test in the last seconds of a minute window.
func waitForFreshWindow() {
	if left := time.Minute - time.Duration(time.Now().UnixNano()%int64(time.Minute)); left < 10*time.Second {
		time.Sleep(left + 50*time.Millisecond)
	}
}

// One process alone is exact: its local view is the whole truth.
func TestSingleProcessIsExact(t *testing.T) {
	env := testkit.Redis(t)
	waitForFreshWindow()
	s := New(memstore.New(limit.SystemClock{}), env.Client, Options{Prefix: env.Prefix})
	admitted := 0
	for range 1500 {
		d, err := s.Allow(context.Background(), limit.Request{Key: "k", Limit: perMinute})
		require.NoError(t, err)
		if d.Allowed {
			admitted++
		}
	}
	require.NoError(t, s.Close())
	assert.Equal(t, 1000, admitted)
	got, err := env.Client.Get(context.Background(), env.Prefix+"{k}:"+windowOf(perMinute)).Int64()
	require.NoError(t, err)
	assert.Equal(t, int64(1000), got, "every admitted hit reached Redis by Close")
}

// Three processes (three stores) share one key: they over-admit by a bounded amount, which this
// test measures and prints; they never under-admit a key that is hammered past its limit.
func TestErrorWithThreeProcesses(t *testing.T) {
	env := testkit.Redis(t)
	waitForFreshWindow()
	var admitted atomic.Int64
	var wg sync.WaitGroup
	stores := make([]*Store, 3)
	for i := range stores {
		stores[i] = New(memstore.New(limit.SystemClock{}), env.Client, Options{Prefix: env.Prefix, Flush: 20 * time.Millisecond})
	}
	deadline := time.Now().Add(time.Second)
	for _, s := range stores {
		for range 4 {
			wg.Go(func() {
				for time.Now().Before(deadline) {
					d, err := s.Allow(context.Background(), limit.Request{Key: "shared", Limit: perMinute})
					if err == nil && d.Allowed {
						admitted.Add(1)
					}
					time.Sleep(200 * time.Microsecond) // ~5k/s per goroutine: the limit is crossed mid-run
				}
			})
		}
	}
	wg.Wait()
	for _, s := range stores {
		require.NoError(t, s.Close())
	}
	got := admitted.Load()
	over := float64(got-perMinute.Requests) / float64(perMinute.Requests) * 100
	t.Logf("approximate mode, 3 processes, flush 20ms: admitted %d for a limit of %d (%.1f%% over)", got, perMinute.Requests, over)
	assert.GreaterOrEqual(t, got, perMinute.Requests, "never under-admits")
	assert.LessOrEqual(t, got, perMinute.Requests*13/10, "the error stays bounded (< 30%% here)")
}

func TestOtherAlgorithmsPassThrough(t *testing.T) {
	env := testkit.Redis(t)
	s := New(memstore.New(limit.SystemClock{}), env.Client, Options{Prefix: env.Prefix})
	defer s.Close()
	l := limit.Limit{Algorithm: limit.GCRA, Requests: 2, Period: time.Minute}
	var allowed int
	for range 3 {
		d, err := s.Allow(context.Background(), limit.Request{Key: "g", Limit: l})
		require.NoError(t, err)
		if d.Allowed {
			allowed++
		}
	}
	assert.Equal(t, 2, allowed)
	_, err := s.Allow(context.Background(), limit.Request{Key: "", Limit: l})
	assert.ErrorIs(t, err, limit.ErrInvalid)
}

func windowOf(l limit.Limit) string {
	return strconv.FormatInt(time.Now().UnixNano()/int64(l.Period), 10)
}

// The largest cost (what the APIs clamp an out-of-range hits_addend to) is denied on a key that
// has counted hits, and consumes nothing: the sum of the count and the cost must not wrap.
func TestLargestCostDenied(t *testing.T) {
	env := testkit.Redis(t)
	waitForFreshWindow()
	s := New(memstore.New(limit.SystemClock{}), env.Client, Options{Prefix: env.Prefix})
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	d, err := s.Allow(ctx, limit.Request{Key: "k", Limit: perMinute})
	require.NoError(t, err)
	require.True(t, d.Allowed)
	d, err = s.Allow(ctx, limit.Request{Key: "k", Limit: perMinute, Hits: math.MaxInt64})
	require.NoError(t, err)
	assert.False(t, d.Allowed, "%+v", d)
	assert.Equal(t, int64(999), d.Remaining)
	d, err = s.Allow(ctx, limit.Request{Key: "k", Limit: perMinute, Hits: 999})
	require.NoError(t, err)
	assert.True(t, d.Allowed, "the denied cost took nothing: %+v", d)
}
