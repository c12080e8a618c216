package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/rules"
)

// The rules file is the one thing both services must read alike: our parser must accept it, give
// every exact-admission user the exact limit and every other user the throughput limit, so that
// the readiness probe and the exact phase test what they claim to.
func TestRulesFileMatchesThePlan(t *testing.T) {
	t.Parallel()
	o := options{rounds: 2, users: 3, limit: 1000, exactLimit: 500}
	p := newPlan(o)
	set, err := rules.Parse("bench.yaml", []byte(p.yaml))
	require.NoError(t, err, p.yaml)

	limitFor := func(user string) int64 {
		r, _, ok := set.Match(domain, []rules.Entry{{Key: "user", Value: user}})
		require.True(t, ok, "no rule for user %q", user)
		assert.Equal(t, "minute", r.Unit)
		assert.Equal(t, limit.FixedWindow, r.Limit.Algorithm, "envoy ratelimit counts fixed windows only")
		return r.Limit.Requests
	}
	for r := range o.rounds {
		for _, name := range []string{nameOurs, nameEnvoy} {
			assert.EqualValues(t, 500, limitFor(p.exactValue(name, r)), "exact user of %s, round %d", name, r+1)
		}
	}
	assert.NotEqual(t, p.exactValue(nameOurs, 0), p.exactValue(nameEnvoy, 0), "each service gets a key of its own")
	assert.NotEqual(t, p.exactValue(nameOurs, 0), p.exactValue(nameOurs, 1), "each round gets a fresh key")
	for _, u := range append(p.users, "probe-ours", "probe-envoy") {
		assert.EqualValues(t, 1000, limitFor(u), "user %q", u)
	}
}

func TestRankIsNearestRank(t *testing.T) {
	t.Parallel()
	sorted := make([]time.Duration, 1000)
	for i := range sorted {
		sorted[i] = time.Duration(i+1) * time.Microsecond // 1..1000 µs
	}
	tests := []struct {
		q    float64
		want time.Duration
	}{
		{0.50, 500 * time.Microsecond},
		{0.99, 990 * time.Microsecond},
		{0.999, 999 * time.Microsecond},
		{1, 1000 * time.Microsecond},
		{0, 1 * time.Microsecond},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, rank(sorted, tt.q), "q=%v", tt.q)
	}
	assert.Equal(t, 7*time.Microsecond, rank([]time.Duration{7 * time.Microsecond}, 0.999))
	assert.Equal(t, latency{}, summarize(nil))
}

func TestEnvListWantsKeyValue(t *testing.T) {
	t.Parallel()
	var e envList
	require.NoError(t, e.Set("REDIS_TIMEOUT=1s"))
	require.NoError(t, e.Set("EMPTY="))
	assert.Error(t, e.Set("REDIS_TIMEOUT"))
	assert.Error(t, e.Set("=1s"))
	assert.Equal(t, envList{"REDIS_TIMEOUT=1s", "EMPTY="}, e)
}
