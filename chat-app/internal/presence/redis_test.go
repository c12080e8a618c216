package presence_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/presence"
	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
)

// Short real durations; nothing asserts that something happened by a deadline except with
// generous Eventually bounds.
const (
	redisGrace = 400 * time.Millisecond
	redisTTL   = 1200 * time.Millisecond // well above the 1.5 grace that ReconnectWithinGraceIsSilent sleeps with a live connection
)

func newRedisTracker(t *testing.T, env testkit.RedisEnv, seen *recorder) *presence.Redis {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: env.Addr})
	r, err := presence.NewRedis(client, env.Prefix, presence.Options{
		Notify: seen.notify, Grace: redisGrace, TTL: redisTTL, SweepEvery: 50 * time.Millisecond,
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = r.Close()
		_ = client.Close()
	})
	return r
}

func TestRedis(t *testing.T) {
	t.Parallel()
	runSuite(t, func(t *testing.T) harness {
		env := testkit.Redis(t)
		seen := &recorder{}
		r := newRedisTracker(t, env, seen)
		return harness{
			tracker: r, seen: seen, grace: redisGrace, ttl: redisTTL,
			pass: func(d time.Duration) {
				time.Sleep(d)
				require.NoError(t, r.Sweep(context.Background()))
			},
			settle: func(t *testing.T, cond func() bool, msg string) {
				require.Eventually(t, cond, 15*time.Second, 20*time.Millisecond, msg)
			},
		}
	})
}

// A node dies with its users' connections open: another node, sharing the Redis, notices the
// expired connections and reports them offline exactly once, although both sweep.
func TestRedisDeadNodeNoticedByAnother(t *testing.T) {
	t.Parallel()
	env := testkit.Redis(t)
	seenA, seenB, seenC := &recorder{}, &recorder{}, &recorder{}
	a := newRedisTracker(t, env, seenA)
	b := newRedisTracker(t, env, seenB)
	c := newRedisTracker(t, env, seenC)
	ctx := context.Background()
	require.NoError(t, a.Connect(ctx, 7, "on-a"))
	require.NoError(t, b.Connect(ctx, 7, "on-b")) // same user on two nodes: already online
	require.NoError(t, a.Close())                 // node a dies: no Disconnect, no heartbeat
	require.NoError(t, b.Disconnect(ctx, 7, "on-b"))

	require.Eventually(t, func() bool { return len(seenB.get())+len(seenC.get()) == 1 },
		15*time.Second, 20*time.Millisecond, "offline never reported")
	// Give a second report a chance to (wrongly) appear: both b and c keep sweeping.
	time.Sleep(3 * redisGrace)
	assert.Equal(t, []string{"7:online"}, seenA.get())
	assert.Len(t, append(seenB.get(), seenC.get()...), 1)
	assert.Equal(t, []string{"7:offline"}, append(seenB.get(), seenC.get()...))
	s, err := c.Status(ctx, 7)
	require.NoError(t, err)
	assert.Equal(t, presence.Offline, s)
}
