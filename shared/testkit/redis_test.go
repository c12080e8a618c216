package testkit

import (
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRedis(t *testing.T) {
	t.Parallel()
	var a, b RedisEnv
	outside := "testkit-outside:" + randomHex(6)

	t.Run("isolated", func(t *testing.T) {
		a, b = Redis(t), Redis(t)
		ctx := t.Context()
		assert.NotEqual(t, a.Prefix, b.Prefix)
		assert.True(t, strings.HasPrefix(a.Prefix, "test:TestRedis_isolated:"), a.Prefix)
		assert.Equal(t, a.Prefix+"user:42", a.Key("user", "42"))

		// More keys than one SCAN page, so cleanup has to follow the cursor.
		pipe := a.Client.Pipeline()
		for i := range 2500 {
			pipe.Set(ctx, a.Key("k", strconv.Itoa(i)), i, 0)
		}
		pipe.Set(ctx, b.Key("k"), "b", 0)
		pipe.Set(ctx, outside, "survives", 0)
		_, err := pipe.Exec(ctx)
		require.NoError(t, err)
		n, err := a.Client.Exists(ctx, a.Key("k", "0"), a.Key("k", "2499"), b.Key("k"), outside).Result()
		require.NoError(t, err)
		assert.EqualValues(t, 4, n)
	})
	if a.Client == nil {
		return // skipped: no Redis
	}

	opts, err := redis.ParseURL(a.URL)
	require.NoError(t, err)
	c := redis.NewClient(opts)
	defer c.Close()
	ctx := t.Context()
	for _, prefix := range []string{a.Prefix, b.Prefix} {
		keys, _, err := c.Scan(ctx, 0, globEscape(prefix)+"*", 100_000).Result()
		require.NoError(t, err)
		assert.Empty(t, keys, "keys under %s survived cleanup", prefix)
	}
	v, err := c.Get(ctx, outside).Result()
	require.NoError(t, err, "a key outside the prefix was deleted")
	assert.Equal(t, "survives", v)
	require.NoError(t, c.Del(ctx, outside).Err())
	assert.ErrorIs(t, a.Client.Ping(ctx).Err(), redis.ErrClosed, "cleanup did not close the client")
}
