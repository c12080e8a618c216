package presence_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/presence"
)

// recorder is a Notify that remembers what it was told.
type recorder struct {
	mu   sync.Mutex
	seen []string
}

func (r *recorder) notify(_ context.Context, user int64, s presence.Status) {
	r.mu.Lock()
	r.seen = append(r.seen, fmt.Sprintf("%d:%s", user, s))
	r.mu.Unlock()
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

// harness is one tracker under test and its notion of time.
type harness struct {
	tracker presence.Tracker
	seen    *recorder
	grace   time.Duration
	ttl     time.Duration
	// pass lets d go by (a fake clock moves, or real time sleeps) and then sweeps.
	pass func(d time.Duration)
	// settle polls until cond holds, sweeping in between; fails after a generous bound.
	settle func(t *testing.T, cond func() bool, msg string)
}

type newHarness func(t *testing.T) harness

func runSuite(t *testing.T, newH newHarness) {
	ctx := context.Background()
	status := func(t *testing.T, h harness, user int64) presence.Status {
		t.Helper()
		s, err := h.tracker.Status(ctx, user)
		require.NoError(t, err)
		// Statuses agrees, for this user among others (an unknown user is offline).
		all, err := h.tracker.Statuses(ctx, []int64{987654321, user, user})
		require.NoError(t, err)
		require.Equal(t, []presence.Status{presence.Offline, s, s}, all, "Statuses of user %d", user)
		return s
	}

	t.Run("OnlineOnceForSeveralDevices", func(t *testing.T) {
		t.Parallel()
		h := newH(t)
		assert.Equal(t, presence.Offline, status(t, h, 1))
		require.NoError(t, h.tracker.Connect(ctx, 1, "phone"))
		require.NoError(t, h.tracker.Connect(ctx, 1, "laptop"))
		require.NoError(t, h.tracker.Heartbeat(ctx, 1, "phone", false))
		assert.Equal(t, []string{"1:online"}, h.seen.get())
		assert.Equal(t, presence.Online, status(t, h, 1))
		assert.Equal(t, presence.Offline, status(t, h, 2), "users are independent")
	})

	t.Run("AwayOnlyWhenEveryDeviceIsAway", func(t *testing.T) {
		t.Parallel()
		h := newH(t)
		require.NoError(t, h.tracker.Connect(ctx, 1, "a"))
		require.NoError(t, h.tracker.Connect(ctx, 1, "b"))
		require.NoError(t, h.tracker.Heartbeat(ctx, 1, "a", true))
		assert.Equal(t, presence.Online, status(t, h, 1))
		require.NoError(t, h.tracker.Heartbeat(ctx, 1, "b", true))
		assert.Equal(t, presence.Away, status(t, h, 1))
		require.NoError(t, h.tracker.Heartbeat(ctx, 1, "a", false))
		assert.Equal(t, []string{"1:online", "1:away", "1:online"}, h.seen.get())
	})

	t.Run("OfflineAfterGrace", func(t *testing.T) {
		t.Parallel()
		h := newH(t)
		require.NoError(t, h.tracker.Connect(ctx, 1, "a"))
		require.NoError(t, h.tracker.Connect(ctx, 1, "b"))
		require.NoError(t, h.tracker.Disconnect(ctx, 1, "a"))
		start := time.Now()
		require.NoError(t, h.tracker.Disconnect(ctx, 1, "b"))
		seen, s := h.seen.get(), status(t, h, 1)
		if time.Since(start) < h.grace { // only meaningful while the grace surely has not passed
			assert.Equal(t, []string{"1:online"}, seen, "offline must wait for the grace")
			assert.Equal(t, presence.Online, s, "within the grace watchers still see online")
		}
		h.pass(h.grace)
		h.settle(t, func() bool { return len(h.seen.get()) == 2 }, "offline never reported")
		assert.Equal(t, []string{"1:online", "1:offline"}, h.seen.get())
		assert.Equal(t, presence.Offline, status(t, h, 1))
	})

	t.Run("ReconnectWithinGraceIsSilent", func(t *testing.T) {
		t.Parallel()
		h := newH(t)
		require.NoError(t, h.tracker.Connect(ctx, 1, "old"))
		require.NoError(t, h.tracker.Disconnect(ctx, 1, "old"))
		require.NoError(t, h.tracker.Connect(ctx, 1, "new"))
		h.pass(h.grace + h.grace/2) // well past the grace the disconnect started
		assert.Equal(t, []string{"1:online"}, h.seen.get(), "no offline/online pair")
		assert.Equal(t, presence.Online, status(t, h, 1))
		// The pending offline was cancelled, not postponed: a later disconnect gets a full grace.
		require.NoError(t, h.tracker.Disconnect(ctx, 1, "new"))
		h.settle(t, func() bool { return len(h.seen.get()) == 2 }, "offline never reported")
		assert.Equal(t, []string{"1:online", "1:offline"}, h.seen.get())
	})

	t.Run("DeadConnectionExpires", func(t *testing.T) {
		t.Parallel()
		h := newH(t)
		require.NoError(t, h.tracker.Connect(ctx, 1, "dies"))
		require.NoError(t, h.tracker.Connect(ctx, 2, "lives"))
		// user 2 keeps heartbeating, user 1's process died: no heartbeat, no disconnect.
		for range 4 {
			h.pass(h.ttl / 2)
			require.NoError(t, h.tracker.Heartbeat(ctx, 2, "lives", false))
		}
		h.settle(t, func() bool { return len(h.seen.get()) == 3 }, "dead connection never noticed")
		assert.Equal(t, []string{"1:online", "2:online", "1:offline"}, h.seen.get())
		assert.Equal(t, presence.Offline, status(t, h, 1))
		assert.Equal(t, presence.Online, status(t, h, 2), "heartbeats keep a connection alive past its TTL")
	})
}
