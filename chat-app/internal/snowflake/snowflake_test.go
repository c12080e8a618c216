package snowflake_test

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/snowflake"
)

// fakeClock is a settable clock, safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Add(d time.Duration) { c.ns.Add(int64(d)) }
func (c *fakeClock) Set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func at(ms int64) time.Time              { return snowflake.Epoch.Add(time.Duration(ms) * time.Millisecond) }
func gen(t *testing.T, node int, now func() time.Time) *snowflake.Generator {
	t.Helper()
	g, err := snowflake.New(node, now)
	require.NoError(t, err)
	return g
}

func TestNewRejectsNodesOutOfRange(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		node int
		ok   bool
	}{{-1, false}, {0, true}, {512, true}, {1023, true}, {1024, false}} {
		_, err := snowflake.New(tc.node, nil)
		if tc.ok {
			assert.NoError(t, err, "node %d", tc.node)
		} else {
			assert.Error(t, err, "node %d", tc.node)
		}
	}
}

func TestLayoutRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		ms        int64
		node, seq int
		want      int64
	}{
		{"zero", 0, 0, 0, 0},
		{"sequence only", 0, 0, 4095, 4095},
		{"node only", 0, 1, 0, 1 << 12},
		{"max node", 0, 1023, 0, 1023 << 12},
		{"one ms", 1, 0, 0, 1 << 22},
		{"everything", 123_456_789, 77, 1234, 123_456_789<<22 | 77<<12 | 1234},
		{"last ms", 1<<41 - 1, 1023, 4095, 1<<63 - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := snowflake.Make(tc.ms, tc.node, tc.seq)
			assert.Equal(t, tc.want, int64(id))
			assert.Equal(t, tc.node, id.Node())
			assert.Equal(t, tc.seq, id.Seq())
			assert.True(t, id.Time().Equal(at(tc.ms)), "time %v", id.Time())
			assert.GreaterOrEqual(t, int64(id), int64(0), "the sign bit stays clear")
		})
	}
	t.Run("from a generator", func(t *testing.T) {
		when := time.Date(2026, 7, 4, 12, 30, 15, 123_000_000, time.UTC)
		id := gen(t, 42, func() time.Time { return when }).Next()
		assert.Equal(t, 42, id.Node())
		assert.Equal(t, 0, id.Seq())
		assert.True(t, id.Time().Equal(when), "time %v", id.Time())
		assert.Equal(t, strconv.FormatInt(int64(id), 10), id.String())
	})
}

func TestConcurrentUniqueAndIncreasing(t *testing.T) {
	t.Parallel()
	const goroutines, each = 8, 50_000
	g := gen(t, 7, nil)
	results := make([][]snowflake.ID, goroutines)
	var wg sync.WaitGroup
	for i := range goroutines {
		wg.Go(func() {
			ids := make([]snowflake.ID, each)
			for j := range ids {
				ids[j] = g.Next()
			}
			results[i] = ids
		})
	}
	wg.Wait()
	seen := make(map[snowflake.ID]struct{}, goroutines*each)
	for i, ids := range results {
		for j, id := range ids {
			if j > 0 && id <= ids[j-1] {
				t.Fatalf("goroutine %d: id %d = %d not above the previous %d", i, j, id, ids[j-1])
			}
			if _, dup := seen[id]; dup {
				t.Fatalf("duplicate id %d", id)
			}
			seen[id] = struct{}{}
			require.Equal(t, 7, id.Node())
		}
	}
	assert.Len(t, seen, goroutines*each)
}

func TestClockGoingBackwards(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(at(10_000))
	g := gen(t, 3, clock.Now)
	first := g.Next()
	require.Equal(t, int64(10_000), first.Time().Sub(snowflake.Epoch).Milliseconds())

	clock.Set(at(9_000)) // one second back
	prev := first
	// More than one millisecond's worth of IDs while the clock is behind: the generator stays on
	// the last millisecond seen, then borrows the next ones instead of blocking for a second.
	for i := range 3*4096 - 1 {
		id := g.Next()
		require.Greater(t, id, prev, "id %d after the step back", i)
		prev = id
	}
	assert.Equal(t, int64(10_002), prev.Time().Sub(snowflake.Epoch).Milliseconds(),
		"12287 IDs after a step back fill ms 10000 (4095 left), 10001 and 10002")
	assert.Equal(t, snowflake.MaxSeq, prev.Seq())

	clock.Set(at(10_001)) // still behind the borrowed millisecond
	id := g.Next()
	assert.Greater(t, id, prev)
	clock.Set(at(20_000)) // caught up: back on the wall clock
	id2 := g.Next()
	assert.Greater(t, id2, id)
	assert.Equal(t, int64(20_000), id2.Time().Sub(snowflake.Epoch).Milliseconds())
	assert.Equal(t, 0, id2.Seq())
}

func TestSequenceExhaustionWaitsForTheNextMillisecond(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(at(5_000))
	g := gen(t, 1, clock.Now)
	for i := range 4096 {
		id := g.Next()
		require.Equal(t, i, id.Seq())
		require.Equal(t, int64(5_000), id.Time().Sub(snowflake.Epoch).Milliseconds())
	}
	got := make(chan snowflake.ID, 1)
	go func() { got <- g.Next() }()
	select {
	case id := <-got:
		t.Fatalf("the 4097th ID of a millisecond was issued without waiting: %d", id)
	case <-time.After(50 * time.Millisecond):
	}
	clock.Add(time.Millisecond)
	select {
	case id := <-got:
		assert.Equal(t, int64(5_001), id.Time().Sub(snowflake.Epoch).Milliseconds())
		assert.Equal(t, 0, id.Seq())
	case <-time.After(5 * time.Second):
		t.Fatal("Next still waiting after the clock moved on")
	}
}

func TestClockBeforeEpochReadsAsZero(t *testing.T) {
	t.Parallel()
	g := gen(t, 0, func() time.Time { return snowflake.Epoch.Add(-time.Hour) })
	a, b := g.Next(), g.Next()
	assert.Equal(t, snowflake.Make(0, 0, 0), a)
	assert.Equal(t, snowflake.Make(0, 0, 1), b)
}
