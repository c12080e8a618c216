// Package limittest is the contract every limit.Store keeps: one suite, run against the
// in-memory store with a fake clock and with the real one, and against the Redis store on Redis
// TIME. It checks exact admitted counts, the boundary behaviour of each algorithm, costs,
// Remaining/RetryAfter/ResetAfter/Delay, leases, batches, invalid input and concurrent callers.
//
// Real clocks. The suite never assumes a sleep lasted exactly what was asked. It brackets each
// request between two readings of the store's clock (Harness.Now before and after the call), so it
// knows the store's time for that request to within the call's duration, and computes the
// expected counts from those brackets: with a fake clock the brackets are points and every
// assertion is exact; with a real clock they are a few microseconds to a millisecond wide and an
// assertion only widens when a bracket straddles the instant where the answer changes (a token
// arriving, a window ending). Tests that must not sleep use a one-hour period, so nothing refills
// or rolls over while they run and their counts are exact on any clock. When scheduling jitter is
// so large (over a quarter of a period) that a case's set-up no longer holds, the attempt is
// thrown away and the case runs again on a fresh store; only three disturbed attempts in a row
// skip it, with the reasons, rather than fail it.
package limittest

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
)

// Harness gives the suite a fresh, empty store and control of its clock.
type Harness struct {
	Store limit.Store
	// Now reads the store's clock (a fake clock, or Redis TIME): the same clock the store decides
	// by, because the suite brackets each request with it.
	Now func() time.Time
	// Sleep advances the store's clock by at least d: a fake clock jumps, a real one sleeps.
	Sleep func(d time.Duration)
	// Period is the period tests that wait should use: 1s with a fake clock; short (e.g. 300ms)
	// for a real one. It must be a multiple of 10ms and well above the store's round trip.
	Period time.Duration
}

// Run runs the contract against stores from newHarness, which is called once per case, with
// that case's *testing.T, from parallel tests: each call must return an isolated store (a fresh
// instance, or a fresh key prefix on a shared server), cleaned up with t.Cleanup.
//
// What the suite requires of every store beyond limit's package doc:
//   - RetryAfter is never rounded down (a retry after exactly RetryAfter passes) and durations
//     are accurate to a millisecond;
//   - AllowBatch checks every request before deciding any: a batch holding an invalid request
//     returns an error wrapping limit.ErrInvalid and consumes nothing;
//   - Release of an unknown lease or key returns nil.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Helper()
	t.Run("invalid/unknown algorithm", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, newHarness(t))
		e.requireInvalid(limit.Request{Key: "k", Limit: limit.Limit{Algorithm: "leaky_sieve", Requests: 1, Period: time.Second}})
	})
	for _, alg := range limit.Algorithms {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			for _, c := range cases {
				if c.only != nil && !c.only(alg) {
					continue
				}
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					runCase(t, newHarness, alg, c)
				})
			}
		})
	}
}

// jitterAttempts is how often a case runs before scheduling jitter may skip it: an attempt whose
// set-up was broken by a stall (see the package doc) is thrown away and the case runs again on a
// fresh store, so a busy CI machine skips a case only if it stalls at the wrong moment three
// times in a row — and then says so in the skip reason.
const jitterAttempts = 3

// jittered is the panic with which an attempt gives up when a stall broke its set-up.
type jittered struct{ reason string }

func runCase(t *testing.T, newHarness func(t *testing.T) Harness, alg limit.Algorithm, c testCase) {
	t.Helper()
	var reasons []string
	for range jitterAttempts {
		reason, disturbed := attempt(t, newHarness, alg, c)
		if !disturbed {
			return
		}
		reasons = append(reasons, reason)
	}
	t.Skipf("scheduling jitter in all %d attempts: %s", jitterAttempts, strings.Join(reasons, "; "))
}

func attempt(t *testing.T, newHarness func(t *testing.T) Harness, alg limit.Algorithm, c testCase) (reason string, disturbed bool) {
	defer func() {
		if v := recover(); v != nil {
			j, ok := v.(jittered)
			if !ok {
				panic(v)
			}
			reason, disturbed = j.reason, true
		}
	}()
	e := newEnv(t, newHarness(t))
	e.alg = alg
	c.run(e)
	return "", false
}

// FakeClock is a limit.Clock that moves only when told, safe for concurrent use.
type FakeClock struct {
	ns atomic.Int64
}

// NewFakeClock returns a clock reading start.
func NewFakeClock(start time.Time) *FakeClock {
	c := &FakeClock{}
	c.ns.Store(start.UnixNano())
	return c
}

// Now returns the clock's time.
func (c *FakeClock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// Sleep advances the clock by d, instantly.
func (c *FakeClock) Sleep(d time.Duration) { c.ns.Add(int64(max(d, 0))) }

// env is one case's view of its harness.
type env struct {
	t   *testing.T
	h   Harness
	ctx context.Context
	alg limit.Algorithm
}

func newEnv(t *testing.T, h Harness) *env {
	t.Helper()
	if h.Store == nil || h.Now == nil || h.Sleep == nil || h.Period <= 0 {
		t.Fatal("limittest: the harness needs Store, Now, Sleep and Period")
	}
	return &env{t: t, h: h, ctx: context.Background()}
}
