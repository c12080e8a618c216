package memstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit/limittest"
)

// start is an arbitrary instant, not aligned to anything.
var start = time.Unix(1_800_000_000, 123_456_789)

func newFake(t *testing.T, opts ...Option) (*Store, *limittest.FakeClock) {
	clock := limittest.NewFakeClock(start)
	s := New(clock, opts...)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s, clock
}

func TestContractFakeClock(t *testing.T) {
	t.Parallel()
	limittest.Run(t, func(t *testing.T) limittest.Harness {
		s, clock := newFake(t)
		return limittest.Harness{Store: s, Now: clock.Now, Sleep: clock.Sleep, Period: time.Second}
	})
}

// The same contract on the real clock, with the short period the Redis store's tests use.
func TestContractRealClock(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("sleeps for about two seconds")
	}
	limittest.Run(t, func(t *testing.T) limittest.Harness {
		s := New(nil)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		return limittest.Harness{Store: s, Now: time.Now, Sleep: time.Sleep, Period: 300 * time.Millisecond}
	})
}

var gcra = limit.Limit{Algorithm: limit.GCRA, Requests: 10, Period: time.Second}

func fill(t *testing.T, s *Store, n int, l limit.Limit) {
	t.Helper()
	for i := range n {
		d, err := s.Allow(context.Background(), limit.Request{Key: fmt.Sprint("key-", i), Limit: l})
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}
}

func TestReapDeletesOnlyExpiredKeys(t *testing.T) {
	t.Parallel()
	// One shard, reaped by hand, so its map's rebuilding is visible.
	s, clock := newFake(t, WithShards(1), WithReapInterval(time.Hour))
	fill(t, s, 5000, gcra) // each expires T = 100ms after its request
	long := limit.Limit{Algorithm: limit.SlidingLog, Requests: 10, Period: time.Minute}
	fill(t, s, 10, long) // overwrites key-0..9 with another algorithm, expiring in a minute
	require.Equal(t, 5000, s.Len())

	assert.Zero(t, s.reap(clock.Now().UnixNano()), "nothing has expired yet")
	clock.Sleep(100*time.Millisecond - 1)
	assert.Zero(t, s.reap(clock.Now().UnixNano()), "one nanosecond before the expiry")
	clock.Sleep(1)
	assert.Equal(t, 4990, s.reap(clock.Now().UnixNano()))
	assert.Equal(t, 10, s.Len(), "the sliding logs live for their period")
	assert.Equal(t, 10, s.shards[0].peak, "the map shrank to a quarter of its peak: rebuilt")
	clock.Sleep(time.Minute)
	assert.Equal(t, 10, s.reap(clock.Now().UnixNano()))
	assert.Zero(t, s.Len())
}

func TestReaperRunsInTheBackground(t *testing.T) {
	t.Parallel()
	s, clock := newFake(t, WithReapInterval(5*time.Millisecond))
	fill(t, s, 1000, gcra)
	require.Equal(t, 1000, s.Len())
	clock.Sleep(time.Second)
	assert.Eventually(t, func() bool { return s.Len() == 0 }, 5*time.Second, 5*time.Millisecond)
}

func TestCloseStopsTheReaper(t *testing.T) {
	t.Parallel()
	clock := limittest.NewFakeClock(start)
	s := New(clock, WithReapInterval(time.Millisecond)) // no Cleanup: a broken Close would hang it
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return: the reaper did not stop")
	}
	select {
	case <-s.done:
	default:
		t.Fatal("Close returned before the reaper exited")
	}
	require.NoError(t, s.Close(), "Close is idempotent")

	fill(t, s, 100, gcra)
	clock.Sleep(time.Second)
	time.Sleep(50 * time.Millisecond) // fifty reap intervals
	assert.Equal(t, 100, s.Len(), "no reaper runs after Close")
	d, err := s.Allow(context.Background(), limit.Request{Key: "key-0", Limit: gcra})
	require.NoError(t, err)
	assert.Equal(t, int64(9), d.Remaining, "the expired state decided as a fresh one")
}

// An expired state is reset on access without allocating, and a large log is let go.
func TestLazyExpiryResetsInPlace(t *testing.T) {
	t.Parallel()
	s, clock := newFake(t, WithReapInterval(time.Hour))
	ctx := context.Background()
	l := limit.Limit{Algorithm: limit.SlidingLog, Requests: 1000, Period: time.Second}
	for range 1000 {
		clock.Sleep(time.Microsecond) // one entry per hit
		_, err := s.Allow(ctx, limit.Request{Key: "k", Limit: l})
		require.NoError(t, err)
	}
	st := s.shard("k").m["k"].st.(*limit.SlidingLogState)
	require.Len(t, st.Log, 1000)
	clock.Sleep(2 * time.Second)
	d, err := s.Allow(ctx, limit.Request{Key: "k", Limit: l})
	require.NoError(t, err)
	assert.Equal(t, int64(999), d.Remaining)
	assert.Len(t, st.Log, 1)
	assert.LessOrEqual(t, cap(st.Log), 64, "the thousand-entry array was released")
}

func TestAlgorithmChangeStartsAfresh(t *testing.T) {
	t.Parallel()
	s, _ := newFake(t)
	ctx := context.Background()
	for range 10 {
		_, err := s.Allow(ctx, limit.Request{Key: "k", Limit: gcra})
		require.NoError(t, err)
	}
	fw := limit.Limit{Algorithm: limit.FixedWindow, Requests: 10, Period: time.Second}
	d, err := s.Allow(ctx, limit.Request{Key: "k", Limit: fw})
	require.NoError(t, err)
	assert.True(t, d.Allowed)
	assert.Equal(t, int64(9), d.Remaining)
}

func TestAllowDoesNotAllocate(t *testing.T) {
	s, _ := newFake(t)
	ctx := context.Background()
	for _, a := range limit.Algorithms {
		l := limit.Limit{Algorithm: a, Requests: 1 << 40, Period: time.Hour}
		req := limit.Request{Key: "key-" + string(a), Limit: l}
		_, err := s.Allow(ctx, req)
		require.NoError(t, err)
		allocs := testing.AllocsPerRun(1000, func() { _, _ = s.Allow(ctx, req) })
		switch a {
		case limit.Concurrency:
			assert.LessOrEqual(t, allocs, 3.0, "%s: the lease ID, and the lease slice growing", a)
		case limit.SlidingLog:
			assert.LessOrEqual(t, allocs, 1.0, "%s: the log growing", a)
		default:
			assert.Zero(t, allocs, a)
		}
	}
}

func TestShardsRoundUpToAPowerOfTwo(t *testing.T) {
	t.Parallel()
	s, _ := newFake(t, WithShards(100))
	assert.Len(t, s.shards, 128)
	assert.Equal(t, uint64(127), s.mask)
}
