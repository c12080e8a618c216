package limit

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// base is aligned to every period used below (a multiple of an hour since the epoch), so window
// offsets in the tables read as positions within the window.
var base = time.Unix(1_800_000_000, 0)

const (
	ms = time.Millisecond
	s1 = time.Second
)

// step is one request in a table: at base+at, cost units; want is the whole decision.
type step struct {
	at      time.Duration
	cost    int64
	want    Decision
	release string // Concurrency: release this lease before deciding
}

func allowed(l Limit, remaining int64, reset time.Duration) Decision {
	return Decision{Allowed: true, Limit: l.Requests, Remaining: remaining, ResetAfter: reset}
}

func denied(l Limit, remaining int64, reset, retry time.Duration) Decision {
	return Decision{Limit: l.Requests, Remaining: remaining, ResetAfter: reset, RetryAfter: retry}
}

// seqIDs makes Concurrency lease IDs predictable: a, b, c, ...
func seqIDs() func() string {
	n := 0
	return func() string { n++; return string(rune('a' + n - 1)) }
}

func runTable(t *testing.T, st State, l Limit, steps []step) {
	t.Helper()
	ids := seqIDs()
	for i, s := range steps {
		var got Decision
		if c, ok := st.(*ConcurrencyState); ok {
			if s.release != "" {
				require.True(t, c.Release(s.release), "step %d: release %s", i, s.release)
				require.False(t, c.Release(s.release), "step %d: second release of %s", i, s.release)
			}
			got = c.Acquire(base.Add(s.at), l, s.cost, ids)
		} else {
			got = st.Allow(base.Add(s.at), l, s.cost)
		}
		assert.Equal(t, s.want, got, "step %d: at +%s cost %d", i, s.at, s.cost)
	}
}

// The bucket family admits identical sequences: token bucket, leaky bucket (meter), GCRA, and the
// leaky queue (which adds a Delay).
func TestBucketFamilyTable(t *testing.T) {
	t.Parallel()
	l := Limit{Requests: 10, Period: s1, Burst: 4} // T = 100ms, full = 400ms
	steps := []step{
		{at: 0, cost: 1, want: allowed(l, 3, 100*ms)},
		{at: 0, cost: 3, want: allowed(l, 0, 400*ms)},
		{at: 0, cost: 1, want: denied(l, 0, 400*ms, 100*ms)},
		{at: 50 * ms, cost: 1, want: denied(l, 0, 350*ms, 50*ms)},
		{at: 100 * ms, cost: 1, want: allowed(l, 0, 400*ms)},
		{at: 350 * ms, cost: 2, want: allowed(l, 0, 350*ms)},    // 2.5 tokens, 0.5 left
		{at: 350 * ms, cost: 5, want: denied(l, 0, 350*ms, s1)}, // never fits: Period
		{at: 350 * ms, cost: 1, want: denied(l, 0, 350*ms, 50*ms)},
		{at: 1350 * ms, cost: 4, want: allowed(l, 0, 400*ms)}, // refilled to full, capped
		{at: 9 * s1, cost: 1, want: allowed(l, 3, 100*ms)},
	}
	delays := []time.Duration{0, 100 * ms, 0, 0, 300 * ms, 150 * ms, 0, 0, 0, 0}
	for _, a := range []Algorithm{TokenBucket, LeakyBucket, GCRA, LeakyQueue} {
		t.Run(string(a), func(t *testing.T) {
			t.Parallel()
			l := l
			l.Algorithm = a
			steps := append([]step(nil), steps...)
			if a == LeakyQueue {
				for i := range steps {
					steps[i].want.Delay = delays[i]
				}
			}
			runTable(t, NewState(a), l, steps)
		})
	}
}

func TestFixedWindowTable(t *testing.T) {
	t.Parallel()
	l := Limit{Algorithm: FixedWindow, Requests: 10, Period: s1}
	runTable(t, NewState(FixedWindow), l, []step{
		{at: 900 * ms, cost: 10, want: allowed(l, 0, 100*ms)},
		{at: 900 * ms, cost: 1, want: denied(l, 0, 100*ms, 100*ms)},
		{at: s1, cost: 10, want: allowed(l, 0, s1)}, // the boundary burst: 20 within 100ms
		{at: 1500 * ms, cost: 11, want: denied(l, 0, 500*ms, s1)},
		{at: 2500 * ms, cost: 3, want: allowed(l, 7, 500*ms)},
		{at: 2999 * ms, cost: 8, want: denied(l, 7, ms, ms)},
		{at: 3 * s1, cost: 8, want: allowed(l, 2, s1)},
	})
}

func TestSlidingWindowTable(t *testing.T) {
	t.Parallel()
	l := Limit{Algorithm: SlidingWindow, Requests: 10, Period: s1}
	runTable(t, NewState(SlidingWindow), l, []step{
		{at: 900 * ms, cost: 10, want: allowed(l, 0, 1100*ms)},
		// next window, 100ms in: prev weighs 9
		{at: 1100 * ms, cost: 1, want: allowed(l, 0, 1900*ms)},
		{at: 1100 * ms, cost: 1, want: denied(l, 0, 1900*ms, 100*ms)}, // fits once prev weighs 8
		{at: 1200 * ms, cost: 1, want: allowed(l, 0, 1800*ms)},
		{at: 1500 * ms, cost: 5, want: denied(l, 3, 1500*ms, 200*ms)}, // 5+2+5 > 10; at 700ms 3+2+5
		{at: 1500 * ms, cost: 3, want: allowed(l, 0, 1500*ms)},
		// next window: prev = 5, weighs 5 at its start
		{at: 2 * s1, cost: 6, want: denied(l, 5, s1, 200*ms)},
		{at: 2 * s1, cost: 11, want: denied(l, 5, s1, s1)},
		{at: 2 * s1, cost: 5, want: allowed(l, 0, 2*s1)},
		{at: 2 * s1, cost: 1, want: denied(l, 0, 2*s1, 200*ms)},
		{at: 2 * s1, cost: 6, want: denied(l, 0, 2*s1, 1200*ms)}, // only in the next window, 200ms in
		{at: 3200 * ms, cost: 6, want: allowed(l, 0, 1800*ms)},
		{at: 10 * s1, cost: 10, want: allowed(l, 0, 2*s1)}, // both counters long gone
	})
}

func TestSlidingLogTable(t *testing.T) {
	t.Parallel()
	l := Limit{Algorithm: SlidingLog, Requests: 10, Period: s1}
	st := &SlidingLogState{}
	runTable(t, st, l, []step{
		{at: 0, cost: 4, want: allowed(l, 6, s1)},
		{at: 300 * ms, cost: 6, want: allowed(l, 0, s1)},
		{at: 400 * ms, cost: 1, want: denied(l, 0, 900*ms, 600*ms)}, // the 4 at 0 age out at 1s
		{at: s1, cost: 1, want: allowed(l, 3, s1)},
		{at: s1, cost: 4, want: denied(l, 3, s1, 300*ms)}, // needs the 6 at 300ms gone
		{at: s1, cost: 3, want: allowed(l, 0, s1)},
		{at: s1, cost: 11, want: denied(l, 0, s1, s1)},
	})
	assert.Equal(t, []LogEntry{{At: base.Add(300 * ms).UnixNano(), N: 6}, {At: base.Add(s1).UnixNano(), N: 4}}, st.Log,
		"hits at the same instant share an entry; aged-out entries are dropped")
	assert.Equal(t, int64(10), st.Total)
}

func TestConcurrencyTable(t *testing.T) {
	t.Parallel()
	l := Limit{Algorithm: Concurrency, Requests: 3, Period: s1}
	lease := func(d Decision, id string) Decision { d.Lease = id; return d }
	st := &ConcurrencyState{}
	runTable(t, st, l, []step{
		{at: 0, cost: 1, want: lease(allowed(l, 2, s1), "a")},
		{at: 100 * ms, cost: 2, want: lease(allowed(l, 0, s1), "b")},
		{at: 100 * ms, cost: 1, want: denied(l, 0, s1, 900*ms)}, // a expires at 1s
		{at: 100 * ms, cost: 1, release: "a", want: lease(allowed(l, 0, s1), "c")},
		{at: 1100 * ms, cost: 3, want: lease(allowed(l, 0, s1), "d")}, // b and c expired at 1.1s
		{at: 1100 * ms, cost: 4, want: denied(l, 0, s1, s1)},
	})
	assert.Len(t, st.Leases, 1)
	assert.True(t, st.Release("d"))
	assert.Equal(t, int64(0), st.Held)
	assert.Empty(t, st.Leases)
}

func TestLeaseIDsAreUniqueAndRandom(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	st := &ConcurrencyState{}
	l := Limit{Algorithm: Concurrency, Requests: 1000, Period: time.Hour}
	for range 1000 {
		d := st.Allow(base, l, 1)
		require.True(t, d.Allowed)
		require.Len(t, d.Lease, 26)
		require.False(t, seen[d.Lease], "duplicate lease %s", d.Lease)
		seen[d.Lease] = true
	}
}

func TestEmissionInterval(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		l    Limit
		want time.Duration
	}{
		{Limit{Requests: 10, Period: s1}, 100 * ms},
		{Limit{Requests: 3, Period: s1}, 333_333_334}, // rounded up: never faster than the limit
		{Limit{Requests: 3_000_000_000, Period: s1}, 1},
		{Limit{Requests: 1, Period: 24 * time.Hour}, 24 * time.Hour},
		{Limit{Requests: 0, Period: s1}, 0},
	} {
		t.Run(fmt.Sprint(c.l.Requests, "/", c.l.Period), func(t *testing.T) {
			assert.Equal(t, c.want, EmissionInterval(c.l))
		})
	}
}

// A bucket whose capacity in time would overflow int64 nanoseconds is capped, not wrapped.
func TestHugeLimitsDoNotOverflow(t *testing.T) {
	t.Parallel()
	l := Limit{Requests: 1, Period: 1 << 62, Burst: 1 << 40}
	for _, a := range []Algorithm{TokenBucket, LeakyBucket, LeakyQueue, GCRA} {
		l.Algorithm = a
		st := NewState(a)
		d := st.Allow(base, l, 1<<39)
		assert.True(t, d.Allowed, a)
		assert.GreaterOrEqual(t, d.Remaining, int64(0), a)
		assert.GreaterOrEqual(t, d.ResetAfter, time.Duration(0), a)
		assert.True(t, st.Expiry(l).After(base), a)
	}
	w := Limit{Algorithm: SlidingWindow, Requests: 1 << 40, Period: 1 << 50}
	st := NewState(SlidingWindow)
	start := time.Unix(0, windowStart(base.UnixNano(), 1<<50)) // prev·(P − e) is 2^90 here
	assert.True(t, st.Allow(start, w, 1<<40).Allowed)
	d := st.Allow(start.Add(1<<50), w, 1)
	assert.False(t, d.Allowed, "the previous window still weighs fully")
	assert.Equal(t, time.Duration(1<<10), d.RetryAfter, "one unit of 2^40 weighs 2^-40 of the period")
}

func TestNewState(t *testing.T) {
	t.Parallel()
	for _, a := range Algorithms {
		assert.NotNil(t, NewState(a), a)
	}
	assert.Nil(t, NewState("nope"))
}
