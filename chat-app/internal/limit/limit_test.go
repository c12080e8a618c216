package limit

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestBurstThenRefillPerKey(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := New[string](2, 3, c.now) // 2/s, burst 3
	for range 3 {
		ok, _ := l.Allow("a")
		require.True(t, ok)
	}
	ok, wait := l.Allow("a")
	assert.False(t, ok)
	assert.Equal(t, 500*time.Millisecond, wait, "one token at 2/s")
	ok, _ = l.Allow("b")
	assert.True(t, ok, "another key has its own bucket")

	c.t = c.t.Add(250 * time.Millisecond)
	ok, wait = l.Allow("a")
	assert.False(t, ok)
	assert.Equal(t, 250*time.Millisecond, wait, "half a token refilled")
	c.t = c.t.Add(250 * time.Millisecond)
	ok, _ = l.Allow("a")
	assert.True(t, ok)

	c.t = c.t.Add(time.Hour) // refills to burst, not beyond
	for range 3 {
		ok, _ := l.Allow("a")
		require.True(t, ok)
	}
	ok, _ = l.Allow("a")
	assert.False(t, ok)
}

func TestWaitIsAtLeastAMillisecond(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := New[int](1e9, 1, c.now)
	ok, _ := l.Allow(1)
	require.True(t, ok)
	ok, wait := l.Allow(1)
	assert.False(t, ok)
	assert.Equal(t, time.Millisecond, wait)
}

// A spray of one-off keys does not grow the map without bound: refilled buckets are dropped.
func TestIdleKeysAreSwept(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := New[int](10, 1, c.now) // refills in 100 ms
	for i := range 100_000 {
		l.Allow(i)
		c.t = c.t.Add(time.Millisecond) // ~100 keys active within one refill period
	}
	assert.LessOrEqual(t, l.Len(), 1024+1)

	// A key that is not idle keeps its (empty) bucket through a sweep.
	l2 := New[int](0.001, 1, c.now)
	l2.Allow(-1)
	for i := range 5000 {
		l2.Allow(i)
	}
	ok, _ := l2.Allow(-1)
	assert.False(t, ok, "the sweep kept the spent bucket")
}

func TestConcurrentCallersShareTheBudget(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)} // frozen: no refill
	l := New[string](1, 100, c.now)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if ok, _ := l.Allow("u"); ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 100, allowed)
}
