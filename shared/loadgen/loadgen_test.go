package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func noop(context.Context) error { return nil }

// within asserts that got is within frac of want.
func within(t *testing.T, want float64, got int64, frac float64, what string) {
	t.Helper()
	assert.InDelta(t, want, float64(got), want*frac, "%s: want %.0f ±%.0f%%, got %d", what, want, frac*100, got)
}

// A single-lane server (requests queue on a mutex) stalls for 500 ms once.
// An open-loop generator keeps sending on schedule, and because latency runs
// from the schedule, every request that arrived during the stall reports the
// time it spent queued. A closed-loop generator would send fewer requests and
// report one slow sample among fast ones.
func TestStallShowsAsLatencyNotFewerRequests(t *testing.T) {
	t.Parallel()
	const stallAt, stall = 1200 * time.Millisecond, 500 * time.Millisecond
	var lane sync.Mutex
	var stalled atomic.Bool
	start := time.Now()
	target := func(ctx context.Context) error {
		lane.Lock()
		defer lane.Unlock()
		if time.Since(start) >= stallAt && stalled.CompareAndSwap(false, true) {
			time.Sleep(stall)
			return nil
		}
		time.Sleep(time.Millisecond)
		return nil
	}

	res, err := Run(context.Background(), Config{Name: "stall", Rate: 200, Duration: 2 * time.Second}, target)
	require.NoError(t, err)
	require.True(t, stalled.Load(), "the stall never happened")

	within(t, 400, res.Sent, 0.03, "sent")
	assert.Equal(t, res.Sent, res.OK)
	assert.Zero(t, res.Dropped)
	// ~100 of 400 requests were scheduled during the stall, the first of them
	// waiting ~500 ms, so the tail is dominated by queueing.
	assert.GreaterOrEqual(t, res.Latency.Max, 450*time.Millisecond, "max")
	assert.GreaterOrEqual(t, res.Latency.P99, 400*time.Millisecond, "p99")
	assert.GreaterOrEqual(t, res.Latency.P90, 150*time.Millisecond, "p90")
	assert.Less(t, res.Latency.P50, 100*time.Millisecond, "p50: most requests were not in the stall")

	// The timeline puts the stall in the second the requests were scheduled.
	require.Len(t, res.Timeline, 2)
	assert.Less(t, res.Timeline[0].Max, 100*time.Millisecond, "second 0 max")
	assert.GreaterOrEqual(t, res.Timeline[1].Max, 450*time.Millisecond, "second 1 max")
	assert.Equal(t, res.OK, res.Timeline[0].OK+res.Timeline[1].OK)
}

// When the generator itself pauses (a GC pause, a busy CPU), the requests it
// should have sent meanwhile are launched late in a burst, and the delay is
// counted as their latency: latency is measured from the schedule, not from
// when the request really started.
func TestGeneratorPauseCountsAsLatency(t *testing.T) {
	t.Parallel()
	const pause = 200 * time.Millisecond
	r, err := newRunner(Config{Name: "pause", Rate: 1000, Duration: 500 * time.Millisecond}, noop)
	require.NoError(t, err)
	paused := false
	r.stallHook = func(next int64) {
		if next >= 200 && !paused {
			paused = true
			time.Sleep(pause)
		}
	}
	res, err := r.run(context.Background())
	require.NoError(t, err)

	assert.EqualValues(t, 500, res.Sent, "no arrival may be skipped")
	assert.Equal(t, res.Sent, res.OK)
	assert.GreaterOrEqual(t, res.MaxLag, pause-20*time.Millisecond, "max lag")
	assert.GreaterOrEqual(t, res.Latency.Max, pause-20*time.Millisecond, "max")
	// ~200 of 500 requests were due during the pause, their delay falling
	// linearly from 200 ms to 0: the top 10% waited more than 100 ms.
	assert.GreaterOrEqual(t, res.Latency.P90, 100*time.Millisecond, "p90")
}

func TestRateIsKept(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name             string
		rate             float64
		duration, warmup time.Duration
	}{
		{"2000 per second for 1s", 2000, time.Second, 0},
		{"fractional rate", 333.3, 900 * time.Millisecond, 0},
		{"warmup is sent but not recorded", 1000, 500 * time.Millisecond, 300 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int64
			target := func(context.Context) error { calls.Add(1); return nil }
			began := time.Now()
			res, err := Run(context.Background(), Config{Name: tc.name, Rate: tc.rate, Duration: tc.duration, Warmup: tc.warmup}, target)
			elapsed := time.Since(began)
			require.NoError(t, err)

			want := tc.rate * tc.duration.Seconds()
			within(t, want, res.Sent, 0.03, "sent")
			within(t, want, res.OK, 0.03, "ok")
			within(t, tc.rate*(tc.warmup+tc.duration).Seconds(), calls.Load(), 0.03, "calls including warmup")
			assert.InDelta(t, tc.rate, res.Achieved, tc.rate*0.03, "achieved")
			assert.Zero(t, res.Dropped)
			assert.Equal(t, tc.duration, res.Duration)
			// The schedule runs in real time: neither all at once nor slow.
			assert.GreaterOrEqual(t, elapsed, tc.warmup+tc.duration-tc.duration/20, "elapsed")
			assert.Less(t, elapsed, tc.warmup+tc.duration+500*time.Millisecond, "elapsed")
			assert.Len(t, res.Timeline, int(math.Ceil(tc.duration.Seconds())))
		})
	}
}

// arrivals records, for every request, the time Scheduled reports and when the
// target was really called.
type arrivals struct {
	mu               sync.Mutex
	scheduled, calls []time.Time
}

func (a *arrivals) add(ctx context.Context) time.Time {
	at, ok := Scheduled(ctx)
	if !ok {
		panic("the request context carries no scheduled time")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.scheduled = append(a.scheduled, at)
	a.calls = append(a.calls, time.Now())
	return at
}

// Config.Start places the schedule, and with it the measured window, at a time
// the caller chose in advance; a Start already past means now, not a burst of
// every arrival since then.
func TestStartPlacesTheWindow(t *testing.T) {
	t.Parallel()
	const rate, warmup, duration = 100, 100 * time.Millisecond, 200 * time.Millisecond
	for _, tc := range []struct {
		name      string
		fromNow   time.Duration
		wantDelay time.Duration // from calling Run to arrival 0
	}{
		{"in the future", 300 * time.Millisecond, 300 * time.Millisecond},
		{"already past", -time.Hour, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			began := time.Now()
			start := began.Add(tc.fromNow)
			// The window as the caller computes it; a past Start means now (within
			// the slack below).
			measureFrom := start.Add(warmup)
			if tc.fromNow < 0 {
				measureFrom = began.Add(warmup)
			}
			// Failing what the caller takes for warmup makes the window's edge
			// visible: were the recorded window elsewhere, failures would show.
			var a arrivals
			target := func(ctx context.Context) error {
				if a.add(ctx).Before(measureFrom.Add(-10 * time.Millisecond)) {
					return errors.New("warmup")
				}
				return nil
			}
			res, err := Run(context.Background(), Config{Name: tc.name, Rate: rate, Duration: duration, Warmup: warmup, Start: start}, target)
			elapsed := time.Since(began)
			require.NoError(t, err)

			a.mu.Lock()
			defer a.mu.Unlock()
			require.Len(t, a.scheduled, 30, "warmup + measured arrivals")
			first := slices.MinFunc(a.scheduled, time.Time.Compare)
			if tc.fromNow > 0 {
				assert.True(t, first.Equal(start), "arrival 0 at %v, want Start %v", first, start)
				assert.False(t, slices.MinFunc(a.calls, time.Time.Compare).Before(start), "a request was sent before Start")
			}
			assert.InDelta(t, tc.wantDelay, first.Sub(began), float64(50*time.Millisecond), "arrival 0 after calling Run")
			assert.EqualValues(t, 20, res.Sent)
			assert.EqualValues(t, 20, res.OK, "errors: %v", res.Errors)
			assert.Less(t, res.MaxLag, 50*time.Millisecond, "max lag")
			assert.GreaterOrEqual(t, elapsed, tc.wantDelay+warmup+duration-10*time.Millisecond, "elapsed")
			assert.Less(t, elapsed, tc.wantDelay+warmup+duration+500*time.Millisecond, "elapsed")
		})
	}
}

// Scheduled is the arrival's place in the schedule, not the moment the
// request was launched: after the generator pauses, the requests it launches
// late in a burst still carry their scheduled times.
func TestScheduledIsTheArrivalTime(t *testing.T) {
	t.Parallel()
	const pause = 100 * time.Millisecond
	var a arrivals
	r, err := newRunner(Config{Name: "scheduled", Rate: 200, Duration: 500 * time.Millisecond},
		func(ctx context.Context) error { a.add(ctx); return nil })
	require.NoError(t, err)
	paused := false
	r.stallHook = func(next int64) {
		if next >= 20 && !paused {
			paused = true
			time.Sleep(pause)
		}
	}
	_, err = r.run(context.Background())
	require.NoError(t, err)

	a.mu.Lock()
	defer a.mu.Unlock()
	require.Len(t, a.scheduled, 100)
	sorted := slices.SortedFunc(slices.Values(a.scheduled), time.Time.Compare)
	assert.True(t, sorted[0].Equal(r.start), "arrival 0 is at the start")
	for i := 1; i < len(sorted); i++ {
		require.Equal(t, 5*time.Millisecond, sorted[i].Sub(sorted[i-1]), "arrival %d: one every 1/Rate", i)
	}
	var late time.Duration
	for i, at := range a.scheduled {
		assert.False(t, a.calls[i].Before(at), "request %d sent before its scheduled time", i)
		late = max(late, a.calls[i].Sub(at))
	}
	assert.GreaterOrEqual(t, late, pause-20*time.Millisecond, "the requests launched after the pause carry their scheduled time")

	_, ok := Scheduled(context.Background())
	assert.False(t, ok, "a context not from Run")
}

func TestErrorsAreCountedByKind(t *testing.T) {
	t.Parallel()
	t.Run("kinds", func(t *testing.T) {
		t.Parallel()
		var n atomic.Int64
		target := func(ctx context.Context) error {
			switch n.Add(1) % 10 {
			case 0:
				<-ctx.Done() // the per-request timeout
				return ctx.Err()
			case 1, 2:
				return errors.New("http 503")
			case 3:
				return fmt.Errorf("call: %w", errors.New("http 500"))
			}
			return nil
		}
		res, err := Run(context.Background(), Config{Name: "errors", Rate: 1000, Duration: 300 * time.Millisecond, Timeout: 50 * time.Millisecond}, target)
		require.NoError(t, err)

		require.EqualValues(t, 300, res.Sent)
		assert.Equal(t, map[string]int64{"timeout": 30, "http 503": 60, "call: http 500": 30}, res.Errors)
		assert.EqualValues(t, 120, res.Failed)
		assert.EqualValues(t, 180, res.OK)
		assert.EqualValues(t, 180, res.Histogram.TotalCount(), "only successes are in the latency histogram")
		assert.EqualValues(t, 120, res.Timeline[0].Failed)
	})
	t.Run("high cardinality is capped", func(t *testing.T) {
		t.Parallel()
		var n atomic.Int64
		target := func(context.Context) error { return fmt.Errorf("user %d not found", n.Add(1)) }
		res, err := Run(context.Background(), Config{Name: "ids", Rate: 1000, Duration: 100 * time.Millisecond}, target)
		require.NoError(t, err)

		assert.EqualValues(t, 100, res.Failed)
		assert.Len(t, res.Errors, maxKinds+1)
		assert.EqualValues(t, 100-maxKinds, res.Errors[otherKind])
	})
}

func TestArrivalsBeyondMaxInFlightAreDropped(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	time.AfterFunc(400*time.Millisecond, func() { close(release) })
	target := func(ctx context.Context) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	res, err := Run(context.Background(), Config{Name: "blocked", Rate: 1000, Duration: 200 * time.Millisecond, MaxInFlight: 5, Timeout: 2 * time.Second}, target)
	require.NoError(t, err)

	assert.EqualValues(t, 5, res.Sent)
	assert.EqualValues(t, 195, res.Dropped)
	assert.EqualValues(t, 5, res.OK, "requests in flight are waited for")
	// They were released at 400 ms, so the wait shows as latency.
	assert.GreaterOrEqual(t, res.Latency.Min, 350*time.Millisecond)
}

func TestCancelStopsPromptly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		target Target
	}{
		{"target honours its context", func(ctx context.Context) error {
			select {
			case <-time.After(20 * time.Millisecond):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}},
		// Abandoned after min(Timeout, cancelGrace) and counted as canceled.
		{"target ignores its context", func(ctx context.Context) error {
			time.Sleep(3 * time.Second)
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			var canceledAt time.Time
			time.AfterFunc(300*time.Millisecond, func() { canceledAt = time.Now(); cancel() })

			res, err := Run(ctx, Config{Name: "cancel", Rate: 100, Duration: time.Minute, Timeout: 200 * time.Millisecond}, tc.target)
			returned := time.Now()

			require.ErrorIs(t, err, context.Canceled)
			require.NotNil(t, res, "a canceled run still returns what it measured")
			assert.Less(t, returned.Sub(canceledAt), 500*time.Millisecond, "time from cancel to return")
			within(t, 30, res.Sent, 0.2, "sent")
			assert.Equal(t, res.Sent, res.OK+res.Failed)
			assert.InDelta(t, 300*time.Millisecond, res.Duration, float64(100*time.Millisecond))
			assert.Len(t, res.Timeline, 1)
			if res.Failed > 0 {
				assert.Equal(t, map[string]int64{"canceled": res.Failed}, res.Errors)
			}
		})
	}
}

func TestProgressOnAPlainWriter(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	_, err := Run(context.Background(), Config{Name: "progress", Rate: 100, Duration: 200 * time.Millisecond, Progress: &out}, noop)
	require.NoError(t, err)

	// Not a terminal: plain lines, no carriage returns or escape codes.
	assert.NotContains(t, out.String(), "\r")
	assert.NotContains(t, out.String(), "\x1b")
	assert.Contains(t, out.String(), "progress run 0.2s/0.2s  sent 20  ok 20  failed 0  dropped 0")
}

// Before a future Config.Start the progress line shows the warmup at 0, not a
// negative elapsed time.
func TestProgressBeforeStart(t *testing.T) {
	t.Parallel()
	r, err := newRunner(Config{Name: "later", Rate: 10, Duration: time.Second, Warmup: time.Second}, noop)
	require.NoError(t, err)
	r.start = time.Now().Add(time.Hour)
	r.measureStart = r.start.Add(r.cfg.Warmup)
	assert.Contains(t, r.progressLine(), "later warmup 0.0s/1.0s  sent 0")
}

func TestConfigIsValidated(t *testing.T) {
	t.Parallel()
	ok := Config{Rate: 10, Duration: time.Second}
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		target Target
		want   string
	}{
		{"nil target", func(*Config) {}, nil, "target is nil"},
		{"zero rate", func(c *Config) { c.Rate = 0 }, noop, "rate"},
		{"NaN rate", func(c *Config) { c.Rate = math.NaN() }, noop, "rate"},
		{"infinite rate", func(c *Config) { c.Rate = math.Inf(1) }, noop, "rate"},
		{"zero duration", func(c *Config) { c.Duration = 0 }, noop, "duration"},
		{"negative warmup", func(c *Config) { c.Warmup = -time.Second }, noop, "warmup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.mutate(&cfg)
			res, err := Run(context.Background(), cfg, tc.target)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Nil(t, res)
		})
	}
}

// Not parallel, so that it has the CPUs to itself: the generator must keep a
// 50k/s schedule against a no-op target on a small machine.
func TestGeneratorSustains50kPerSecond(t *testing.T) {
	if raceEnabled {
		t.Skip("throughput is not meaningful under the race detector")
	}
	const rate = 50_000
	began := time.Now()
	res, err := Run(context.Background(), Config{Name: "50k", Rate: rate, Duration: time.Second}, noop)
	elapsed := time.Since(began)
	require.NoError(t, err)

	within(t, rate, res.Sent, 0.03, "sent")
	assert.Zero(t, res.Dropped)
	assert.Less(t, elapsed, 1500*time.Millisecond)
	t.Logf("50k/s for 1s: sent %d ok %d in %v; latency p50 %v p99 %v max %v; generator max lag %v",
		res.Sent, res.OK, elapsed.Round(time.Millisecond), res.Latency.P50, res.Latency.P99, res.Latency.Max, res.MaxLag)
}

// BenchmarkRun measures how fast a schedule the generator can keep against a
// no-op target. Each sub-benchmark runs one fixed rate for b.N arrivals; the
// generator keeps up when req/s ≈ the rate, dropped/op = 0 and lag-ms stays
// small. Run with: go test -run '^$' -bench BenchmarkRun ./loadgen/
func BenchmarkRun(b *testing.B) {
	for _, rate := range []float64{50_000, 100_000, 200_000, 400_000} {
		b.Run(fmt.Sprintf("rate=%.0fk", rate/1000), func(b *testing.B) {
			cfg := Config{Name: "bench", Rate: rate, Duration: max(time.Duration(float64(b.N)/rate*float64(time.Second)), time.Microsecond)}
			began := time.Now()
			res, err := Run(context.Background(), cfg, noop)
			elapsed := time.Since(began)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(res.Sent)/elapsed.Seconds(), "req/s")
			b.ReportMetric(float64(res.Dropped)/float64(max(res.Sent+res.Dropped, 1)), "dropped/op")
			b.ReportMetric(float64(res.MaxLag)/float64(time.Millisecond), "lag-ms")
			b.ReportMetric(float64(res.Latency.P99)/float64(time.Millisecond), "p99-ms")
		})
	}
}

func TestFormatting(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0"},
		{850 * time.Microsecond, "850µs"},
		{1234567 * time.Nanosecond, "1.23ms"},
		{2500 * time.Millisecond, "2.50s"},
	} {
		assert.Equal(t, tc.want, fmtDuration(tc.d))
	}
	assert.Equal(t, "2000/s", fmtRate(2000))
	assert.Equal(t, "333.3/s", fmtRate(333.3))
	for in, want := range map[string]string{
		"Rate limiter: token bucket <v2>": "rate-limiter-token-bucket-v2",
		"  KVDB quorum / N=3  ":           "kvdb-quorum-n-3",
		"---":                             "report",
	} {
		assert.Equal(t, want, slug(in), in)
	}
}
