package presence_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/presence"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestMemory(t *testing.T) {
	runSuite(t, func(t *testing.T) harness {
		clock := &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
		seen := &recorder{}
		m := presence.NewMemory(presence.Options{
			Notify: seen.notify, Grace: 5 * time.Second, TTL: 50 * time.Second, SweepEvery: -1, Now: clock.Now,
		})
		t.Cleanup(func() { _ = m.Close() })
		sweep := func() { require.NoError(t, m.Sweep(t.Context())) }
		return harness{
			tracker: m, seen: seen, grace: 5 * time.Second, ttl: 50 * time.Second,
			pass: func(d time.Duration) { clock.add(d); sweep() },
			settle: func(t *testing.T, cond func() bool, msg string) {
				// With a fake clock a condition holds after one grace more or never.
				clock.add(5 * time.Second)
				sweep()
				require.True(t, cond(), msg)
			},
		}
	})
}
