package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every algorithm admits exactly its capacity from a burst sent in one pipeline (the burst takes
// about a millisecond, far less than one unit's refill), and what it says about the rest is
// consistent: remaining counts down to 0, denials carry a retry hint within the period.
func TestAdmitsExactlyTheCapacity(t *testing.T) {
	t.Parallel()
	const period = 400 * time.Millisecond
	tests := []struct {
		alg      limit.Algorithm
		requests int64
		burst    int64
		want     int
	}{
		{limit.TokenBucket, 10, 0, 10},
		{limit.TokenBucket, 10, 4, 4},
		{limit.LeakyBucket, 10, 0, 10},
		{limit.LeakyBucket, 10, 3, 3},
		{limit.LeakyQueue, 10, 5, 5},
		{limit.FixedWindow, 10, 0, 10},
		{limit.SlidingLog, 10, 0, 10},
		{limit.SlidingWindow, 10, 0, 10},
		{limit.GCRA, 10, 0, 10},
		{limit.GCRA, 10, 6, 6},
		{limit.Concurrency, 10, 0, 10},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/burst=%d", tt.alg, tt.burst), func(t *testing.T) {
			t.Parallel()
			s, env := newStore(t, Options{Timeout: 5 * time.Second})
			l := limit.Limit{Algorithm: tt.alg, Requests: tt.requests, Period: period, Burst: tt.burst}
			maxWait := period
			if tt.alg == limit.SlidingWindow {
				maxWait = 2 * period // this window's hits still weigh in the next one
			}
			retrying(t, func(key string) string {
				// Start well inside a window: a boundary in the middle of the burst would let
				// the fixed window admit more, and the sliding window weigh the previous one.
				sleepUntilWindowOffset(t, env.Client, period, 20*time.Millisecond)
				var got int
				var ds []limit.Decision
				span := during(t, env.Client, func() { got, ds = allowN(t, s, key, l, 2*int(tt.requests)) })
				if !span.sameWindow(period) || span.width() >= period/time.Duration(tt.requests) {
					return fmt.Sprintf("the burst took %s", span.width())
				}
				require.Equal(t, tt.want, got, "admitted of %d", 2*tt.requests)
				for i, d := range ds {
					assert.Equal(t, tt.requests, d.Limit)
					if i < tt.want {
						assert.True(t, d.Allowed, "request %d", i)
						assert.Equal(t, int64(tt.want-1-i), d.Remaining, "remaining after request %d", i)
						assert.Zero(t, d.RetryAfter)
						assert.Positive(t, d.ResetAfter)
						assert.LessOrEqual(t, d.ResetAfter, maxWait)
						if tt.alg == limit.Concurrency {
							assert.NotEmpty(t, d.Lease)
						} else {
							assert.Empty(t, d.Lease)
						}
						continue
					}
					assert.False(t, d.Allowed, "request %d", i)
					assert.Zero(t, d.Remaining)
					assert.Positive(t, d.RetryAfter, "request %d", i)
					assert.LessOrEqual(t, d.RetryAfter, maxWait, "request %d", i)
					assert.Empty(t, d.Lease)
				}
				return ""
			})
		})
	}
}

// The bucket algorithms give back one unit every period/requests: what passes after a pause is
// the units that pause refilled, counted on the Redis clock.
func TestRefillsAtTheRate(t *testing.T) {
	t.Parallel()
	const period, requests = 800 * time.Millisecond, 8
	const iv = period / requests // 100ms per unit
	for _, alg := range []limit.Algorithm{limit.TokenBucket, limit.LeakyBucket, limit.GCRA, limit.LeakyQueue} {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			s, env := newStore(t, Options{Timeout: 5 * time.Second})
			l := limit.Limit{Algorithm: alg, Requests: requests, Period: period}
			retrying(t, func(key string) string {
				var got int
				var ds []limit.Decision
				first := during(t, env.Client, func() { got, ds = allowN(t, s, key, l, requests+1) })
				if first.width() >= iv/2 {
					return fmt.Sprintf("the burst took %s", first.width())
				}
				require.Equal(t, requests, got)
				assert.InDelta(t, iv, ds[requests].RetryAfter, float64(first.width()+time.Millisecond))
				time.Sleep(250 * time.Millisecond)
				second := during(t, env.Client, func() { got, _ = allowN(t, s, key, l, 5) })
				// The bucket emptied within first and is read again within second.
				least := int(second.from.Sub(first.to) / iv)
				most := int(second.to.Sub(first.from) / iv)
				if most > 4 {
					return fmt.Sprintf("the pause lasted %s", second.to.Sub(first.from))
				}
				assert.GreaterOrEqual(t, got, least, "after a pause of %s..%s", second.from.Sub(first.to), second.to.Sub(first.from))
				assert.LessOrEqual(t, got, most, "after a pause of %s..%s", second.from.Sub(first.to), second.to.Sub(first.from))
				return ""
			})
		})
	}
}

// The leaky queue admits up to its capacity at once and spaces them: each waits one emission
// interval (period/requests) more than the one before.
func TestLeakyQueueDelays(t *testing.T) {
	t.Parallel()
	s, env := newStore(t, Options{Timeout: 5 * time.Second})
	const iv = 50 * time.Millisecond
	l := limit.Limit{Algorithm: limit.LeakyQueue, Requests: 10, Period: 10 * iv, Burst: 4}
	retrying(t, func(key string) string {
		var got int
		var ds []limit.Decision
		span := during(t, env.Client, func() { got, ds = allowN(t, s, key, l, 6) })
		if span.width() >= iv/2 {
			return fmt.Sprintf("the burst took %s", span.width())
		}
		require.Equal(t, 4, got)
		for i, d := range ds[:4] {
			// Request i is decided (up to the span's width) after the first, and leaves i×T after it.
			assert.InDelta(t, time.Duration(i)*iv, d.Delay, float64(span.width()+time.Millisecond), "request %d", i)
			assert.Equal(t, d.Delay+iv, d.ResetAfter, "request %d: the queue drains after it", i)
		}
		assert.Zero(t, ds[4].Delay)
		assert.InDelta(t, iv, ds[4].RetryAfter, float64(span.width()+time.Millisecond))
		return ""
	})
}

// Windows and logs forget: after the retry hint the full limit is available again.
func TestWindowsForget(t *testing.T) {
	t.Parallel()
	const period = 300 * time.Millisecond
	for _, alg := range []limit.Algorithm{limit.FixedWindow, limit.SlidingLog, limit.Concurrency} {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			s, _ := newStore(t, Options{Timeout: 5 * time.Second})
			l := limit.Limit{Algorithm: alg, Requests: 5, Period: period}
			got, ds := allowN(t, s, "k", l, 8)
			require.Equal(t, 5, got)
			time.Sleep(ds[7].RetryAfter)
			got, _ = allowN(t, s, "k", l, 8)
			assert.Equal(t, 5, got, "after the retry hint the whole limit is back")
		})
	}
}

// A fixed window admits up to twice its limit across a boundary; the sliding window, which
// weighs the previous window in, admits only what the elapsed part of the new window allows.
func TestBoundaryBurst(t *testing.T) {
	t.Parallel()
	const period, requests = 500 * time.Millisecond, 10
	for _, alg := range []limit.Algorithm{limit.FixedWindow, limit.SlidingWindow} {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			s, env := newStore(t, Options{Timeout: 5 * time.Second})
			l := limit.Limit{Algorithm: alg, Requests: requests, Period: period}
			retrying(t, func(key string) string {
				end := sleepUntilWindowOffset(t, env.Client, period, period-100*time.Millisecond)
				var before, after int
				late := during(t, env.Client, func() { before, _ = allowN(t, s, key, l, 2*requests) })
				if !late.sameWindow(period) {
					return "the first burst crossed the boundary"
				}
				time.Sleep(time.Until(end.Add(10 * time.Millisecond)))
				early := during(t, env.Client, func() { after, _ = allowN(t, s, key, l, 2*requests) })
				if !early.sameWindow(period) || early.from.Sub(late.to) > period || offset(early.to, period) > period/4 {
					return fmt.Sprintf("the second burst ran %s into the next window", offset(early.to, period))
				}
				require.Equal(t, requests, before, "late in the window")
				if alg == limit.FixedWindow {
					assert.Equal(t, requests, after, "2× the limit within ~%s", early.to.Sub(late.from))
					return ""
				}
				// prev·(P − e)/P + k ≤ requests with prev = requests: k = ⌊requests·e/P⌋.
				least := int(requests * offset(early.from, period) / period)
				most := int(requests * offset(early.to, period) / period)
				assert.GreaterOrEqual(t, after, least, "at %s into the window", offset(early.from, period))
				assert.LessOrEqual(t, after, most, "at %s into the window", offset(early.to, period))
				assert.Less(t, after, requests/2)
				return ""
			})
		})
	}
}

// A request of cost > 1 is admitted whole or not at all, and a denied one takes nothing: a
// smaller one still fits afterwards.
func TestCost(t *testing.T) {
	t.Parallel()
	for _, alg := range limit.Algorithms {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			s, env := newStore(t, Options{Timeout: 5 * time.Second})
			l := limit.Limit{Algorithm: alg, Requests: 10, Period: 2 * time.Second} // refills 1 per 200ms
			steps := []struct {
				hits      int64
				allowed   bool
				remaining int64
			}{
				{4, true, 6},
				{4, true, 2},
				{4, false, 2}, // 2 left: denied, and nothing taken
				{3, false, 2},
				{2, true, 0},
				{11, false, 0}, // more than the whole limit
			}
			ctx := context.Background()
			retrying(t, func(key string) string {
				avoidWindowEnd(t, env.Client, l.Period, 500*time.Millisecond)
				reqs := make([]limit.Request, len(steps))
				for i, st := range steps {
					reqs[i] = limit.Request{Key: key, Limit: l, Hits: st.hits}
				}
				var ds []limit.Decision
				span := during(t, env.Client, func() {
					var err error
					ds, err = s.AllowBatch(ctx, reqs)
					require.NoError(t, err)
				})
				if !span.sameWindow(l.Period) || span.width() > 100*time.Millisecond {
					return fmt.Sprintf("the requests took %s", span.width())
				}
				var leases []string
				for i, st := range steps {
					assert.Equal(t, st.allowed, ds[i].Allowed, "step %d (hits %d)", i, st.hits)
					assert.Equal(t, st.remaining, ds[i].Remaining, "step %d (hits %d)", i, st.hits)
					if ds[i].Lease != "" {
						leases = append(leases, ds[i].Lease)
					}
				}
				assert.Equal(t, l.Period, ds[5].RetryAfter, "a cost above the limit: come back in a period")
				if alg != limit.Concurrency {
					return ""
				}
				// Releasing the first lease gives back all of its 4 slots at once.
				require.Len(t, leases, 3)
				require.NoError(t, s.Release(ctx, key, leases[0]))
				d, err := s.Allow(ctx, limit.Request{Key: key, Limit: l, Hits: 4})
				require.NoError(t, err)
				assert.True(t, d.Allowed)
				assert.Equal(t, int64(0), d.Remaining)
				return ""
			})
		})
	}
}

// Denied requests consume nothing: hammering a full key with denials does not push back the
// time it becomes available again.
func TestDeniedConsumesNothing(t *testing.T) {
	t.Parallel()
	for _, alg := range limit.Algorithms {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			s, env := newStore(t, Options{Timeout: 5 * time.Second})
			l := limit.Limit{Algorithm: alg, Requests: 3, Period: 300 * time.Millisecond}
			retrying(t, func(key string) string {
				avoidWindowEnd(t, env.Client, l.Period, 150*time.Millisecond)
				var ds, denials []limit.Decision
				var got int
				span := during(t, env.Client, func() {
					_, ds = allowN(t, s, key, l, 3)
					got, denials = allowN(t, s, key, l, 100)
				})
				// Nothing may come back meanwhile: no unit refilled (100ms), no window ended.
				if !span.sameWindow(l.Period) || span.width() >= 100*time.Millisecond {
					return fmt.Sprintf("the requests took %s", span.width())
				}
				require.Equal(t, 3, admitted(ds))
				require.Zero(t, got)
				first, last := denials[0].RetryAfter, denials[len(denials)-1].RetryAfter
				assert.LessOrEqual(t, last, first, "denials pushed the retry time back")
				time.Sleep(last)
				d, err := s.Allow(context.Background(), limit.Request{Key: key, Limit: l})
				require.NoError(t, err)
				assert.True(t, d.Allowed, "a request after the retry hint passes")
				return ""
			})
		})
	}
}

// Requests logged in the same millisecond, even the same microsecond, all count: 200 callers at
// once on a log of 50 get exactly 50 through, and the log holds exactly 50 entries.
func TestSlidingLogCountsSameInstant(t *testing.T) {
	t.Parallel()
	s, env := newStore(t, Options{Timeout: 5 * time.Second})
	l := limit.Limit{Algorithm: limit.SlidingLog, Requests: 50, Period: 10 * time.Second}
	var wg sync.WaitGroup
	var ok atomic.Int64
	start := make(chan struct{})
	for range 200 {
		wg.Go(func() {
			<-start
			d, err := s.Allow(context.Background(), limit.Request{Key: "k", Limit: l})
			if assert.NoError(t, err) && d.Allowed {
				ok.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	assert.Equal(t, int64(50), ok.Load())
	n, err := env.Client.ZCard(context.Background(), s.key("k", "sl")).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(50), n)

	// One request of cost 7 is 7 entries, all at one instant.
	d, err := s.Allow(context.Background(), limit.Request{Key: "k2", Limit: l, Hits: 7})
	require.NoError(t, err)
	require.True(t, d.Allowed)
	entries, err := env.Client.ZRangeWithScores(context.Background(), s.key("k2", "sl"), 0, -1).Result()
	require.NoError(t, err)
	require.Len(t, entries, 7)
	for _, e := range entries {
		assert.Equal(t, entries[0].Score, e.Score)
	}
}

// 50 goroutines hammering one concurrency key never hold more than the limit at once.
func TestConcurrencyNeverExceedsLimit(t *testing.T) {
	t.Parallel()
	s, env := newStore(t, Options{Timeout: 5 * time.Second})
	const max = 7
	l := limit.Limit{Algorithm: limit.Concurrency, Requests: max, Period: 10 * time.Second}
	var inFlight, peak, admittedN, denied atomic.Int64
	ctx := context.Background()
	deadline := time.Now().Add(700 * time.Millisecond)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				d, err := s.Allow(ctx, limit.Request{Key: "k", Limit: l})
				if !assert.NoError(t, err) {
					return
				}
				if !d.Allowed {
					denied.Add(1)
					time.Sleep(time.Millisecond)
					continue
				}
				admittedN.Add(1)
				n := inFlight.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				time.Sleep(2 * time.Millisecond)
				inFlight.Add(-1)
				if !assert.NoError(t, s.Release(ctx, "k", d.Lease)) {
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("admitted %d, denied %d, peak in flight %d", admittedN.Load(), denied.Load(), peak.Load())
	assert.LessOrEqual(t, peak.Load(), int64(max))
	assert.Equal(t, int64(max), peak.Load(), "the limit was never reached: the test proves nothing")
	assert.Positive(t, denied.Load())
	held, err := env.Client.ZCard(ctx, s.key("k", "cc")).Result()
	require.NoError(t, err)
	assert.Zero(t, held, "every lease was released")
}

// A lease that is never released frees its slots when it expires; releasing an unknown or
// expired lease is not an error.
func TestConcurrencyLeaseExpires(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Options{Timeout: 5 * time.Second})
	ctx := context.Background()
	l := limit.Limit{Algorithm: limit.Concurrency, Requests: 2, Period: 200 * time.Millisecond}
	got, ds := allowN(t, s, "k", l, 3)
	require.Equal(t, 2, got)
	assert.InDelta(t, 200*time.Millisecond, ds[2].RetryAfter, float64(5*time.Millisecond))
	time.Sleep(ds[2].RetryAfter + 5*time.Millisecond)
	got, _ = allowN(t, s, "k", l, 3)
	assert.Equal(t, 2, got)
	for _, lease := range []string{ds[0].Lease, "nope", "AB*3", "x*y", "#", "a*0", "*2", "a*99999999"} {
		assert.NoError(t, s.Release(ctx, "k", lease), "lease %q", lease)
	}
	assert.NoError(t, s.Release(ctx, "", "AB"))
	assert.NoError(t, s.Release(ctx, "no-such-key", ds[1].Lease))
}

// Every key a script creates carries a TTL, is named <prefix>{<key>}:<suffix>, and all the keys
// of one limiter key share a Redis Cluster slot.
func TestKeysExpireAndShareAHashTag(t *testing.T) {
	t.Parallel()
	s, env := newStore(t, Options{Timeout: 5 * time.Second})
	ctx := context.Background()
	limiterKeys := []string{"user:42", "ip:{10.0.0.1}", "a}b", "route:/x"}
	for _, alg := range limit.Algorithms {
		for _, k := range limiterKeys {
			l := limit.Limit{Algorithm: alg, Requests: 3, Period: time.Minute}
			_, err := s.AllowBatch(ctx, []limit.Request{{Key: k, Limit: l}, {Key: k, Limit: l, Hits: 2}, {Key: k, Limit: l}})
			require.NoError(t, err)
		}
	}
	keys := keysUnder(t, env.Client, env.Prefix)
	// Per limiter key: tb, lb, lq, fw, sl, sw (one window), gcra, cc.
	require.Len(t, keys, 8*len(limiterKeys), "keys: %v", keys)
	slots := map[string]map[uint16]bool{}
	for _, k := range keys {
		ttl, err := env.Client.PTTL(ctx, k).Result()
		require.NoError(t, err)
		assert.Positive(t, ttl, "key %s has no TTL", k)
		// A sliding window's counter outlives its window: it is the previous one next.
		assert.LessOrEqual(t, ttl, 2*time.Minute, "key %s", k)
		if !strings.Contains(k, ":sw:") {
			assert.LessOrEqual(t, ttl, time.Minute, "key %s", k)
		}

		rest := strings.TrimPrefix(k, env.Prefix)
		require.True(t, strings.HasPrefix(rest, "{"), "key %s lacks the hash tag", k)
		owner := ""
		for _, lk := range limiterKeys {
			if strings.HasPrefix(rest, "{"+lk+"}:") {
				owner = lk
			}
		}
		require.NotEmpty(t, owner, "key %s is not <prefix>{<key>}:<suffix>", k)
		if slots[owner] == nil {
			slots[owner] = map[uint16]bool{}
		}
		slots[owner][hashSlot(k)] = true
	}
	for k, s := range slots {
		assert.Len(t, s, 1, "keys of %q span slots %v", k, s)
	}
}

func TestKeySlot(t *testing.T) {
	t.Parallel()
	// Values from the Redis Cluster specification and CLUSTER KEYSLOT.
	assert.Equal(t, uint16(12739), hashSlot("123456789"))
	assert.Equal(t, uint16(12182), hashSlot("foo"))
	assert.Equal(t, hashSlot("foo"), hashSlot("rl:{foo}:tb"))
}

func TestInvalidRequests(t *testing.T) {
	t.Parallel()
	s, env := newStore(t, Options{})
	ctx := context.Background()
	good := limit.Limit{Algorithm: limit.GCRA, Requests: 1, Period: time.Second}
	for _, req := range []limit.Request{
		{Key: "", Limit: good},
		{Key: "k", Limit: good, Hits: -1},
		{Key: "k", Limit: limit.Limit{Algorithm: "nope", Requests: 1, Period: time.Second}},
		{Key: "k", Limit: limit.Limit{Algorithm: limit.GCRA, Requests: 0, Period: time.Second}},
	} {
		_, err := s.Allow(ctx, req)
		assert.ErrorIs(t, err, limit.ErrInvalid, "%+v", req)
		_, err = s.AllowBatch(ctx, []limit.Request{{Key: "ok", Limit: good}, req})
		assert.ErrorIs(t, err, limit.ErrInvalid, "%+v", req)
	}
	assert.Empty(t, keysUnder(t, env.Client, env.Prefix), "an invalid batch sent nothing")
}

func TestClosed(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, Options{})
	require.NoError(t, s.Close())
	l := limit.Limit{Algorithm: limit.GCRA, Requests: 1, Period: time.Second}
	_, err := s.Allow(context.Background(), limit.Request{Key: "k", Limit: l})
	assert.True(t, errors.Is(err, ErrClosed), "%v", err)
	_, err = s.AllowBatch(context.Background(), []limit.Request{{Key: "k", Limit: l}})
	assert.True(t, errors.Is(err, ErrClosed), "%v", err)
}

// Requests share a script run only where Redis allows one script to touch all their keys: any
// mix on a single server, one slot on a cluster, one hash tag on a ring.
func TestGrouping(t *testing.T) {
	t.Parallel()
	s := &Store{opts: Options{}.withDefaults()}
	keyA, keyB := s.key("a", "gcra"), s.key("b", "sw:1")
	require.NotEqual(t, hashSlot(keyA), hashSlot(keyB))
	// Two limiter keys in one slot: find one for "a"'s slot.
	var sameSlot string
	for i := 0; sameSlot == ""; i++ {
		if k := fmt.Sprintf("k%d", i); hashSlot(s.key(k, "tb")) == hashSlot(keyA) {
			sameSlot = s.key(k, "tb")
		}
	}

	single := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})
	t.Cleanup(func() { _, _, _ = single.Close(), cluster.Close(), ring.Close() })

	g := grouping(single)
	assert.Equal(t, g(keyA), g(keyB))
	g = grouping(cluster)
	assert.NotEqual(t, g(keyA), g(keyB))
	assert.Equal(t, g(keyA), g(sameSlot))
	assert.Equal(t, g(keyA), g(s.key("a", "tb")))
	g = grouping(ring)
	assert.NotEqual(t, g(keyA), g(sameSlot))
	assert.Equal(t, g(keyA), g(s.key("a", "tb")))
}
