package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/memstore"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/rules"
)

const engineRules = `
domain: d
descriptors:
  - key: user
    rate_limit: {unit: minute, requests_per_unit: 2, algorithm: gcra}
  - key: blocked
    rate_limit: {unit: minute, requests_per_unit: 0}
  - key: jobs
    rate_limit: {unit: minute, requests_per_unit: 1, algorithm: concurrency}
`

// countingStore counts round trips to the store underneath, and can be made to fail.
type countingStore struct {
	limit.Store
	calls atomic.Int64
	fail  atomic.Bool
}

func (c *countingStore) AllowBatch(ctx context.Context, reqs []limit.Request) ([]limit.Decision, error) {
	c.calls.Add(1)
	if c.fail.Load() {
		return nil, errors.New("store down")
	}
	return c.Store.AllowBatch(ctx, reqs)
}

func newTestEngine(t *testing.T) (*Engine, *countingStore) {
	set, err := rules.Parse("d.yaml", []byte(engineRules))
	require.NoError(t, err)
	store := &countingStore{Store: memstore.New(limit.SystemClock{})}
	t.Cleanup(func() { _ = store.Close() })
	e, err := New(Options{Store: store, Shared: true, Rules: func() *rules.Set { return set },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close() })
	return e, store
}

func one(t *testing.T, e *Engine, key, value string) Status {
	_, sts, err := e.Check(context.Background(), "d", []Descriptor{{Entries: []rules.Entry{{Key: key, Value: value}}}}, 1)
	require.NoError(t, err)
	return sts[0]
}

// Once the store denies a key, the over-limit cache answers for it without a round trip.
func TestOverLimitCacheSavesRoundTrips(t *testing.T) {
	e, store := newTestEngine(t)
	for range 2 {
		assert.Equal(t, OK, one(t, e, "user", "ann").Code)
	}
	st := one(t, e, "user", "ann")
	require.Equal(t, OverLimit, st.Code)
	assert.False(t, st.Cached, "the first denial comes from the store")
	before := store.calls.Load()
	for range 10 {
		st = one(t, e, "user", "ann")
		assert.Equal(t, OverLimit, st.Code)
		assert.True(t, st.Cached)
		assert.Positive(t, st.Decision.RetryAfter)
	}
	assert.Equal(t, before, store.calls.Load(), "no round trip while the key is known to be over")
	assert.Equal(t, OK, one(t, e, "user", "bob").Code, "other keys still go to the store")
}

// Concurrency leases are never cached: a release frees a slot before any RetryAfter.
func TestConcurrencyIsNotCached(t *testing.T) {
	e, _ := newTestEngine(t)
	first := one(t, e, "jobs", "export")
	require.Equal(t, OK, first.Code)
	require.Equal(t, OverLimit, one(t, e, "jobs", "export").Code)
	require.NoError(t, e.Release(context.Background(), first.Key, first.Decision.Lease))
	assert.Equal(t, OK, one(t, e, "jobs", "export").Code)
}

func TestDenyAllNeedsNoStore(t *testing.T) {
	e, store := newTestEngine(t)
	store.fail.Store(true)
	st := one(t, e, "blocked", "x")
	assert.Equal(t, OverLimit, st.Code)
	assert.Empty(t, st.FailureMode)
	assert.Equal(t, int64(0), store.calls.Load())
}

// A failing store opens the breaker: later decisions skip the store and use the failure mode
// (open by default here), then a probe after the cooldown closes it again.
func TestBreakerAndFailOpen(t *testing.T) {
	e, store := newTestEngine(t)
	store.fail.Store(true)
	for range 5 {
		st := one(t, e, "user", "carol")
		assert.Equal(t, OK, st.Code)
		assert.Equal(t, rules.FailOpen, st.FailureMode)
	}
	assert.False(t, e.StoreHealthy())
	calls := store.calls.Load()
	one(t, e, "user", "carol")
	assert.Equal(t, calls, store.calls.Load(), "breaker open: no call")
	store.fail.Store(false)
	time.Sleep(300 * time.Millisecond) // past the 250 ms cooldown
	st := one(t, e, "user", "carol")
	assert.Empty(t, st.FailureMode, "the probe reached the store")
	assert.True(t, e.StoreHealthy())
}

func TestInvalidRequests(t *testing.T) {
	e, _ := newTestEngine(t)
	_, _, err := e.Check(context.Background(), "", []Descriptor{{Entries: []rules.Entry{{Key: "user", Value: "a"}}}}, 1)
	assert.ErrorIs(t, err, limit.ErrInvalid)
	_, _, err = e.Check(context.Background(), "d", []Descriptor{{}}, 1)
	assert.ErrorIs(t, err, limit.ErrInvalid)
}

// A domain no rule names is counted under one label, however many callers invent.
func TestUnknownDomainsShareOneSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	set, err := rules.Parse("d.yaml", []byte(engineRules))
	require.NoError(t, err)
	e, err := New(Options{Store: memstore.New(limit.SystemClock{}), Rules: func() *rules.Set { return set },
		Registry: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close() })
	for i := range 50 {
		_, _, err := e.Check(context.Background(), fmt.Sprintf("made-up-%d", i), []Descriptor{{Entries: []rules.Entry{{Key: "user", Value: "u"}}}}, 1)
		require.NoError(t, err)
	}
	one(t, e, "user", "u")
	got := map[string]float64{}
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "ratelimit_decisions_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "domain" {
					got[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	assert.Equal(t, map[string]float64{unknownDomain: 50, "d": 1}, got)
}
