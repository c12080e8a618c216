package presence

import (
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
)

// Statuses pipelines EVALSHA: a script missing from Redis's cache (first use, SCRIPT FLUSH, a
// failover) fails the pipeline with NOSCRIPT, and Statuses loads it and runs the pipeline again.
// A unique comment gives the script a SHA no server has seen, without flushing the shared Redis.
func TestStatusesLoadsAMissingScript(t *testing.T) {
	env := testkit.Redis(t)
	client := redis.NewClient(&redis.Options{Addr: env.Addr})
	t.Cleanup(func() { _ = client.Close() })
	r, err := NewRedis(client, env.Prefix, Options{SweepEvery: -1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	r.status = redis.NewScript("-- " + hex.EncodeToString(nonce) + "\n" + statusLua)
	ctx := t.Context()
	exists, err := r.status.Exists(ctx, client).Result()
	require.NoError(t, err)
	require.Equal(t, []bool{false}, exists, "a script Redis has never seen")

	require.NoError(t, r.Connect(ctx, 1, "c1"))
	got, err := r.Statuses(ctx, []int64{1, 2})
	require.NoError(t, err)
	assert.Equal(t, []Status{Online, Offline}, got)
	exists, err = r.status.Exists(ctx, client).Result()
	require.NoError(t, err)
	assert.Equal(t, []bool{true}, exists, "loaded by the retry")
}
