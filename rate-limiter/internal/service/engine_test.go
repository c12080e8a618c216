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

// countingStore counts round trips to the store underneath, and can be made to fail, or to
// answer with a given error.
type countingStore struct {
	limit.Store
	calls   atomic.Int64
	fail    atomic.Bool
	answer  atomic.Pointer[error]
	waitCtx bool // wait for the caller's context to end, then return its error (never sent)
}

func (c *countingStore) AllowBatch(ctx context.Context, reqs []limit.Request) ([]limit.Decision, error) {
	c.calls.Add(1)
	if c.waitCtx {
		<-ctx.Done()
		return nil, fmt.Errorf("not sent: %w", context.Cause(ctx))
	}
	if err := c.answer.Load(); err != nil {
		return nil, *err
	}
	if c.fail.Load() {
		return nil, errors.New("store down")
	}
	return c.Store.AllowBatch(ctx, reqs)
}

func newTestEngine(t *testing.T) (*Engine, *countingStore) {
	e, store, _ := newEngineWith(t, engineRules, &countingStore{}, "")
	return e, store
}

// newEngineWith builds an engine with a shared store over memory, the rules given, and the
// default failure mode m ("" for the engine's default).
func newEngineWith(t *testing.T, rulesYAML string, store *countingStore, m rules.FailureMode) (*Engine, *countingStore, *prometheus.Registry) {
	set, err := rules.Parse("d.yaml", []byte(rulesYAML))
	require.NoError(t, err)
	store.Store = memstore.New(limit.SystemClock{})
	t.Cleanup(func() { _ = store.Close() })
	reg := prometheus.NewRegistry()
	e, err := New(Options{Store: store, Shared: true, Rules: func() *rules.Set { return set }, DefaultFailureMode: m,
		Registry: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close() })
	return e, store, reg
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

// A store that refuses a request unsent because this process is busy has not failed: the check
// fails with ErrOverloaded (the APIs say RESOURCE_EXHAUSTED / 503), nothing is admitted by a
// failure mode, and the breaker stays closed however often it happens.
func TestOverloadIsAnErrorNotAFailureMode(t *testing.T) {
	e, store, reg := newEngineWith(t, engineRules, &countingStore{}, "")
	overloaded := fmt.Errorf("redisstore: allow batch of 1: %w", limit.ErrOverloaded)
	store.answer.Store(&overloaded)
	for range 20 {
		_, _, err := e.Check(context.Background(), "d", []Descriptor{{Entries: []rules.Entry{{Key: "user", Value: "ann"}}}}, 1)
		require.ErrorIs(t, err, limit.ErrOverloaded)
	}
	assert.True(t, e.StoreHealthy(), "overload does not open the breaker")
	assert.Zero(t, counterValue(t, reg, "ratelimit_failure_mode_decisions_total"))
	assert.Zero(t, counterValue(t, reg, "ratelimit_store_errors_total"))
}

// A caller whose context ends before its request is sent gets its context's error: no failure
// mode, and the store's health is not judged by it.
func TestCallerGoneIsNotAFailureMode(t *testing.T) {
	e, _, reg := newEngineWith(t, engineRules, &countingStore{waitCtx: true}, "")
	for range 10 {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, _, err := e.Check(ctx, "d", []Descriptor{{Entries: []rules.Entry{{Key: "user", Value: "ann"}}}}, 1)
		require.ErrorIs(t, err, context.Canceled)
	}
	assert.True(t, e.StoreHealthy())
	assert.Zero(t, counterValue(t, reg, "ratelimit_failure_mode_decisions_total"))
}

const failureModeRules = `
domain: d
descriptors:
  - key: plain
    rate_limit: {unit: minute, requests_per_unit: 2}
  - key: closed
    rate_limit: {unit: minute, requests_per_unit: 2, failure_mode: closed}
  - key: error
    rate_limit: {unit: minute, requests_per_unit: 2, failure_mode: error}
`

// With the store failing, a rule that names no failure mode takes the engine's default; mode
// error answers the whole request with ErrUnavailable, as envoy ratelimit answers an error.
func TestFailureModeErrorAndTheDefault(t *testing.T) {
	check := func(e *Engine, keys ...string) ([]Status, error) {
		descs := make([]Descriptor, len(keys))
		for i, k := range keys {
			descs[i] = Descriptor{Entries: []rules.Entry{{Key: k, Value: "x"}}}
		}
		_, sts, err := e.Check(context.Background(), "d", descs, 1)
		return sts, err
	}
	t.Run("default open", func(t *testing.T) {
		e, store, _ := newEngineWith(t, failureModeRules, &countingStore{}, "")
		store.fail.Store(true)
		sts, err := check(e, "plain")
		require.NoError(t, err)
		assert.Equal(t, OK, sts[0].Code)
		assert.Equal(t, rules.FailOpen, sts[0].FailureMode)
		_, err = check(e, "plain", "error")
		assert.ErrorIs(t, err, ErrUnavailable, "a rule's own error mode fails the whole request")
	})
	t.Run("default error", func(t *testing.T) {
		e, store, reg := newEngineWith(t, failureModeRules, &countingStore{}, rules.FailError)
		store.fail.Store(true)
		_, err := check(e, "plain")
		assert.ErrorIs(t, err, ErrUnavailable)
		sts, err := check(e, "closed")
		require.NoError(t, err, "a rule's own mode wins over the default")
		assert.Equal(t, OverLimit, sts[0].Code)
		assert.Equal(t, rules.FailClosed, sts[0].FailureMode)
		assert.Equal(t, 1.0, counterValue(t, reg, "ratelimit_failure_mode_decisions_total", "mode", "error"))
		assert.Equal(t, rules.FailError, e.FailureMode(""))
		assert.Equal(t, rules.FailLocal, e.FailureMode(rules.FailLocal))
	})
	t.Run("unknown default", func(t *testing.T) {
		_, err := New(Options{Store: memstore.New(limit.SystemClock{}), Rules: func() *rules.Set { return nil }, DefaultFailureMode: "maybe"})
		assert.ErrorContains(t, err, `"maybe"`)
	})
}

// counterValue adds the samples of a counter family whose labels include the pairs given.
func counterValue(t *testing.T, reg *prometheus.Registry, name string, labelPairs ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labelPairs); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == labelPairs[i] && l.GetValue() == labelPairs[i+1])
				}
				if !found {
					continue metrics
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}
