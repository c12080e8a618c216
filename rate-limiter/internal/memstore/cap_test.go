package memstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
)

// Inserting far more distinct live keys than the cap keeps the store at the cap, evicting one
// key per insertion past it, and the metrics say so.
func TestCapHoldsKeysAtTheCap(t *testing.T) {
	t.Parallel()
	s, _ := newFake(t, WithMaxKeys(1024), WithReapInterval(time.Hour)) // 64 shards of 16
	reg := prometheus.NewRegistry()
	require.NoError(t, s.Register(reg, "memory"))
	fill(t, s, 20_000, gcra) // the clock stands still: every key stays live
	assert.Equal(t, 1024, s.Len())
	assert.Equal(t, int64(20_000-1024), s.Evicted())
	assert.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP ratelimit_memory_keys Keys held by an in-memory store (live, or expired and awaiting the reaper), by store (memory, local).
# TYPE ratelimit_memory_keys gauge
ratelimit_memory_keys{store="memory"} 1024
# HELP ratelimit_memory_keys_evicted_total Live keys an in-memory store evicted to stay within MEMORY_MAX_KEYS, by store (memory, local).
# TYPE ratelimit_memory_keys_evicted_total counter
ratelimit_memory_keys_evicted_total{store="memory"} 18976
`)))
}

// The policy of ADR 0007, decision by decision, on one shard of 4 keys (the sample covers it):
// a new key evicts the key that expires soonest, the state closest to a fresh one; a key over
// its limit expires last and keeps its denial; expired keys are reclaimed without an eviction.
func TestCapEvictsTheSoonestExpiry(t *testing.T) {
	t.Parallel()
	s, clock := newFake(t, WithShards(1), WithMaxKeys(4), WithReapInterval(time.Hour))
	ctx := context.Background()
	perMinute := limit.Limit{Algorithm: limit.GCRA, Requests: 10, Period: time.Minute} // T = 6s
	allow := func(key string) limit.Decision {
		t.Helper()
		d, err := s.Allow(ctx, limit.Request{Key: key, Limit: perMinute})
		require.NoError(t, err)
		return d
	}
	for range 10 {
		require.True(t, allow("hot").Allowed) // full debt: expires in 60s
	}
	require.False(t, allow("hot").Allowed)
	for _, k := range []string{"a", "b", "c"} { // one hit each, 1s apart: expire at 7, 8, 9s
		clock.Sleep(time.Second)
		require.True(t, allow(k).Allowed)
	}
	held := func() []string {
		var ks []string
		for k := range s.shards[0].m {
			ks = append(ks, k)
		}
		return ks
	}

	clock.Sleep(time.Second) // t = 4s
	assert.True(t, allow("new").Allowed)
	assert.ElementsMatch(t, []string{"hot", "b", "c", "new"}, held(), "a expired soonest")
	assert.Equal(t, int64(1), s.Evicted())
	assert.False(t, allow("hot").Allowed, "the key over its limit kept its state")

	d := allow("a") // back as a new key: it starts fresh and evicts b (8s) before c (9s) and new (10s)
	assert.Equal(t, int64(9), d.Remaining)
	assert.ElementsMatch(t, []string{"hot", "c", "new", "a"}, held())
	assert.Equal(t, int64(2), s.Evicted())

	clock.Sleep(time.Minute) // everything has expired
	assert.True(t, allow("x").Allowed)
	assert.Equal(t, []string{"x"}, held(), "the expired keys were reclaimed, not evicted")
	assert.Equal(t, int64(2), s.Evicted())
}

// A small cap shrinks the shards (16 keys each at least), so the store never holds more than the
// cap and rounding loses little of it;
// 0 turns the cap off; no option means DefaultMaxKeys, so every store (the failure_mode local
// one inside the engine, the client's embedded one) is bounded.
func TestCapSizes(t *testing.T) {
	t.Parallel()
	small, _ := newFake(t, WithMaxKeys(10), WithReapInterval(time.Hour))
	assert.Len(t, small.shards, 1)
	fill(t, small, 1000, gcra)
	assert.Equal(t, 10, small.Len())
	hundred, _ := newFake(t, WithMaxKeys(100), WithReapInterval(time.Hour))
	assert.Len(t, hundred.shards, 4)
	fill(t, hundred, 1000, gcra)
	assert.Equal(t, 100, hundred.Len())

	off, _ := newFake(t, WithShards(1), WithMaxKeys(0), WithReapInterval(time.Hour))
	fill(t, off, 5000, gcra)
	assert.Equal(t, 5000, off.Len())
	assert.Zero(t, off.Evicted())

	def, _ := newFake(t)
	assert.Equal(t, DefaultMaxKeys, def.MaxKeys())
	assert.Equal(t, 10, small.MaxKeys())
	assert.Equal(t, 100, hundred.MaxKeys())
	rounded, _ := newFake(t, WithMaxKeys(1000))
	assert.Equal(t, 992, rounded.MaxKeys(), "32 shards of 31")
	assert.Zero(t, off.MaxKeys())
}

// Evicting never allocates beyond the new key's own state, and an existing key's decision
// stays allocation-free in a full store.
func TestFullStoreDoesNotAllocateForExistingKeys(t *testing.T) {
	s, _ := newFake(t, WithShards(1), WithMaxKeys(64), WithReapInterval(time.Hour))
	fill(t, s, 64, gcra)
	req := limit.Request{Key: fmt.Sprint("key-", 63), Limit: limit.Limit{Algorithm: limit.GCRA, Requests: 1 << 40, Period: time.Hour}}
	_, err := s.Allow(context.Background(), req) // an existing key: no eviction
	require.NoError(t, err)
	assert.Zero(t, s.Evicted())
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _, _ = s.Allow(context.Background(), req) }))
}
