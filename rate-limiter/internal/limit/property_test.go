package limit

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Property tests: random limits and random request sequences, checked against properties that
// hold for every input. Each uses fixed seeds, so a failure names the seed that reproduces it.

const seeds = 300

type req struct {
	dt   int64 // nanoseconds since the previous request (≥ 0: one monotonic clock per store)
	cost int64
}

func randLimit(r *rand.Rand, a Algorithm) Limit {
	periods := []time.Duration{time.Millisecond, 7 * time.Millisecond, time.Second, 3 * time.Second, time.Minute}
	l := Limit{Algorithm: a, Requests: 1 + r.Int64N(50), Period: periods[r.IntN(len(periods))]}
	if r.IntN(4) == 0 {
		l.Period = time.Duration(1 + r.Int64N(int64(10*time.Second))) // not a multiple of anything
	}
	if r.IntN(2) == 0 {
		l.Burst = 1 + r.Int64N(60)
	}
	return l
}

func capacity(l Limit) int64 {
	switch l.Algorithm {
	case TokenBucket, LeakyBucket, LeakyQueue, GCRA:
		return l.Capacity()
	}
	return l.Requests
}

func randReqs(r *rand.Rand, l Limit, n int) []req {
	iv, p := int64(EmissionInterval(l)), int64(l.Period)
	out := make([]req, n)
	for i := range out {
		switch k := r.IntN(10); {
		case k < 3:
			out[i].dt = 0 // bursts at one instant
		case k < 5:
			out[i].dt = r.Int64N(iv + 1) // around the emission interval
		case k < 6:
			out[i].dt = iv * r.Int64N(3) // exact multiples: the boundaries rounding would break
		case k < 9:
			out[i].dt = r.Int64N(2 * p)
		default:
			out[i].dt = p * (1 + r.Int64N(5))
		}
		switch k := r.IntN(10); {
		case k < 6:
			out[i].cost = 1
		case k < 9:
			out[i].cost = 1 + r.Int64N(capacity(l))
		default:
			out[i].cost = capacity(l) + 1 + r.Int64N(3) // never fits
		}
	}
	return out
}

// decide runs one request with deterministic lease IDs.
func decide(st State, t int64, l Limit, cost int64) Decision {
	if c, ok := st.(*ConcurrencyState); ok {
		return c.Acquire(time.Unix(0, t), l, cost, func() string { return fmt.Sprint("lease-", t) })
	}
	return st.Allow(time.Unix(0, t), l, cost)
}

func clone(st State) State {
	switch s := st.(type) {
	case *TokenBucketState:
		c := *s
		return &c
	case *LeakyBucketState:
		c := *s
		return &c
	case *LeakyQueueState:
		c := *s
		return &c
	case *FixedWindowState:
		c := *s
		return &c
	case *SlidingWindowState:
		c := *s
		return &c
	case *GCRAState:
		c := *s
		return &c
	case *SlidingLogState:
		c := *s
		c.Log = slices.Clone(s.Log)
		return &c
	case *ConcurrencyState:
		c := *s
		c.Leases = slices.Clone(s.Leases)
		return &c
	}
	panic(fmt.Sprintf("clone %T", st))
}

// forEach runs fn over seeds × algorithms with a random limit and sequence.
func forEach(t *testing.T, algs []Algorithm, fn func(t *testing.T, l Limit, reqs []req, start int64)) {
	for _, a := range algs {
		t.Run(string(a), func(t *testing.T) {
			t.Parallel()
			for seed := range uint64(seeds) {
				r := rand.New(rand.NewPCG(seed, uint64(len(a))))
				l := randLimit(r, a)
				reqs := randReqs(r, l, 5+r.IntN(120))
				start := base.UnixNano() + r.Int64N(int64(time.Hour))
				t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
					fn(t, l, reqs, start)
				})
				if t.Failed() {
					return
				}
			}
		})
	}
}

// GCRA admits exactly what a token bucket of capacity Burst refilled at Requests per Period
// admits — and answers with the same Remaining, RetryAfter and ResetAfter. So do the leaky
// bucket (meter) and, apart from its Delay, the leaky queue.
func TestGCRAMatchesTokenBucket(t *testing.T) {
	t.Parallel()
	forEach(t, []Algorithm{GCRA}, func(t *testing.T, l Limit, reqs []req, now int64) {
		requireBucketsAgree(t, l, reqs, now)
	})
}

func requireBucketsAgree(t *testing.T, l Limit, reqs []req, now int64) {
	t.Helper()
	tb, gc, lb, lq := &TokenBucketState{}, &GCRAState{}, &LeakyBucketState{}, &LeakyQueueState{}
	for i, q := range reqs {
		now += q.dt
		at := time.Unix(0, now)
		want := tb.Allow(at, l, q.cost)
		fail := func(who string, got Decision) {
			t.Helper()
			t.Fatalf("%s disagrees with the token bucket at request %d %+v under %+v:\n got %+v\nwant %+v", who, i, q, l, got, want)
		}
		if got := gc.Allow(at, l, q.cost); got != want {
			fail("GCRA", got)
		}
		if got := lb.Allow(at, l, q.cost); got != want {
			fail("leaky bucket", got)
		}
		got := lq.Allow(at, l, q.cost)
		if got.Allowed && got.ResetAfter-got.Delay != time.Duration(span(q.cost, int64(EmissionInterval(l)))) {
			fail("leaky queue (this request should leave cost×T after its turn)", got)
		}
		if got.Delay = 0; got != want {
			fail("leaky queue", got)
		}
	}
}

func FuzzGCRAMatchesTokenBucket(f *testing.F) {
	f.Add(uint16(10), uint32(1000), uint16(4), []byte{0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1})
	f.Add(uint16(3), uint32(1_000_000_000), uint16(0), []byte{255, 255, 3, 7, 0, 1, 128, 0, 2})
	f.Add(uint16(1), uint32(7), uint16(1), []byte{7, 0, 1, 6, 0, 1, 1, 0, 2})
	f.Fuzz(func(t *testing.T, requests uint16, period uint32, burst uint16, seq []byte) {
		l := Limit{Requests: int64(requests), Period: time.Duration(period), Burst: int64(burst)}
		if l.Requests == 0 || l.Period == 0 {
			t.Skip()
		}
		var reqs []req
		for len(seq) >= 3 && len(reqs) < 1000 {
			reqs = append(reqs, req{
				dt:   int64(binary.LittleEndian.Uint16(seq)) * max(int64(EmissionInterval(l))/64, 1),
				cost: int64(seq[2]%8) + 1,
			})
			seq = seq[3:]
		}
		requireBucketsAgree(t, l, reqs, base.UnixNano())
	})
}

// The invariants of every Decision, and the meaning of Remaining and of a denial.
func TestDecisionInvariants(t *testing.T) {
	t.Parallel()
	forEach(t, Algorithms, func(t *testing.T, l Limit, reqs []req, now int64) {
		st := NewState(l.Algorithm)
		for i, q := range reqs {
			now += q.dt
			before := clone(st)
			d := decide(st, now, l, q.cost)
			// Plain checks: this loop runs a million times under the race detector.
			fail := func(what string) {
				t.Helper()
				t.Fatalf("%s: request %d: %+v, limit %+v, decision %+v", what, i, q, l, d)
			}
			switch {
			case d.Limit != l.Requests:
				fail("Limit is the limit's Requests")
			case d.Remaining < 0 || d.Remaining > capacity(l):
				fail("0 ≤ Remaining ≤ capacity")
			case d.ResetAfter < 0:
				fail("ResetAfter ≥ 0")
			case d.Allowed == (d.RetryAfter > 0):
				fail("RetryAfter > 0 exactly when denied")
			case d.Delay < 0 || d.Delay > 0 && l.Algorithm != LeakyQueue:
				fail("only the leaky queue delays, never negatively")
			case (d.Lease != "") != (d.Allowed && l.Algorithm == Concurrency):
				fail("a lease exactly when Concurrency admits")
			case q.cost > capacity(l) && (d.Allowed || d.RetryAfter != l.Period):
				fail("a cost that can never pass is denied with RetryAfter = Period")
			}

			// Remaining is exact: at the same instant, Remaining units pass and one more does not.
			if d.Remaining > 0 && !decide(clone(st), now, l, d.Remaining).Allowed {
				fail("Remaining units do not pass")
			}
			if decide(clone(st), now, l, d.Remaining+1).Allowed {
				fail("Remaining+1 units pass")
			}

			// A denied request consumes nothing: the state decides the next requests exactly as
			// the state before it would have.
			if !d.Allowed {
				a, b, t2 := clone(st), before, now
				for j := i + 1; j < min(i+4, len(reqs)); j++ {
					t2 += reqs[j].dt
					if got, want := decide(a, t2, l, reqs[j].cost), decide(b, t2, l, reqs[j].cost); got != want {
						fail(fmt.Sprintf("after the denial, request %d decided %+v, not %+v", j, got, want))
					}
				}
			}
		}
	})
}

// RetryAfter is the earliest instant the same request passes (when nothing else is admitted
// meanwhile): one nanosecond earlier it is still denied, at RetryAfter it passes.
func TestRetryAfterIsExact(t *testing.T) {
	t.Parallel()
	forEach(t, Algorithms, func(t *testing.T, l Limit, reqs []req, now int64) {
		st := NewState(l.Algorithm)
		for i, q := range reqs {
			now += q.dt
			d := decide(st, now, l, q.cost)
			if d.Allowed || q.cost > capacity(l) {
				continue
			}
			ra := int64(d.RetryAfter)
			msg := fmt.Sprintf("request %d: %+v, limit %+v, retry after %s", i, q, l, d.RetryAfter)
			require.False(t, decide(clone(st), now+ra-1, l, q.cost).Allowed, "passes before RetryAfter: "+msg)
			require.True(t, decide(clone(st), now+ra, l, q.cost).Allowed, "denied at RetryAfter: "+msg)
		}
	})
}

// Past its Expiry a state decides exactly like a fresh one, so stores may drop it then.
func TestExpiryForgetsNothingThatMatters(t *testing.T) {
	t.Parallel()
	forEach(t, Algorithms, func(t *testing.T, l Limit, reqs []req, now int64) {
		st := NewState(l.Algorithm)
		r := rand.New(rand.NewPCG(uint64(now), 0))
		for i, q := range reqs {
			now += q.dt
			decide(st, now, l, q.cost)
			exp := st.Expiry(l).UnixNano()
			later := max(exp, now) + r.Int64N(int64(l.Period)) // the clock never runs backwards
			cost := 1 + r.Int64N(capacity(l))
			got, want := decide(clone(st), later, l, cost), decide(NewState(l.Algorithm), later, l, cost)
			require.Equal(t, want, got, "request %d: %+v, limit %+v, expiry +%s", i, q, l, time.Duration(exp-now))
		}
	})
}

// The admitted units in any interval of one Period never exceed the algorithm's bound: Requests
// for the exact ones (sliding log, concurrency with unreleased leases), Burst + Requests for
// the bucket family, and 2×Requests for the window counters (the fixed window reaches it across
// a boundary; the sliding window only against hits bunched at a window's end).
func TestNeverMoreThanTheBoundInAnyPeriod(t *testing.T) {
	t.Parallel()
	forEach(t, Algorithms, func(t *testing.T, l Limit, reqs []req, now int64) {
		bound := l.Requests
		switch l.Algorithm {
		case TokenBucket, LeakyBucket, LeakyQueue, GCRA:
			bound = l.Capacity() + l.Requests
		case FixedWindow, SlidingWindow:
			bound = 2 * l.Requests
		}
		st := NewState(l.Algorithm)
		type hit struct{ at, n int64 }
		var hits []hit
		for _, q := range reqs {
			now += q.dt
			if decide(st, now, l, q.cost).Allowed {
				hits = append(hits, hit{now, q.cost})
			}
		}
		for i, h := range hits {
			sum := int64(0)
			for _, g := range hits[i:] {
				if g.at-h.at < int64(l.Period) {
					sum += g.n
				}
			}
			require.LessOrEqual(t, sum, bound, "period starting at hit %d, limit %+v", i, l)
		}
	})
}

// Across a window boundary the fixed window admits twice its limit, the sliding log exactly its
// limit, and the sliding window counter about its limit: 100ms after the boundary it believes a
// tenth of the previous window's hits have left the last second (it assumes they were spread
// evenly), so it lets one more in.
func TestBoundaryBurst(t *testing.T) {
	t.Parallel()
	l := Limit{Requests: 10, Period: time.Second}
	for _, c := range []struct {
		a    Algorithm
		want int64
	}{{FixedWindow, 20}, {SlidingWindow, 11}, {SlidingLog, 10}} {
		l.Algorithm = c.a
		st, got := NewState(c.a), int64(0)
		// 10 at 900ms into a window, then as many as pass at 100ms into the next.
		for _, at := range []time.Duration{900 * time.Millisecond, 1100 * time.Millisecond} {
			for range 20 {
				if st.Allow(base.Add(at), l, 1).Allowed {
					got++
				}
			}
		}
		require.Equal(t, c.want, got, c.a)
	}
}
