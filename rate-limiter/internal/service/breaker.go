package service

import (
	"errors"
	"sync"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
)

// breaker is a circuit breaker in front of the shared store. After `threshold` consecutive
// failed round trips (requests that failed in the same round trip count once) it opens: calls fail fast (no 50 ms wait per decision while Redis is down) and go
// straight to the rule's failure mode. After `cooldown` it lets one probe through (half-open);
// success closes it, failure re-opens it. A short cooldown is what lets the service recover
// within a second of Redis returning.
type breaker struct {
	threshold int
	cooldown  time.Duration
	now       func() time.Time
	onChange  func(open bool) // called outside the lock on every open/close transition

	mu        sync.Mutex
	failures  int
	lastTrip  *limit.RoundTripError // the round trip last counted: its other requests do not count again
	openUntil time.Time             // zero when closed
	probing   bool                  // a half-open probe is in flight
}

func newBreaker(threshold int, cooldown time.Duration, now func() time.Time, onChange func(open bool)) *breaker {
	return &breaker{threshold: threshold, cooldown: cooldown, now: now, onChange: onChange}
}

// allow reports whether a call may go to the store now.
func (b *breaker) allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.openUntil.IsZero() {
		return true
	}
	if b.now().Before(b.openUntil) || b.probing {
		return false
	}
	b.probing = true // half-open: exactly one caller probes
	return true
}

// done records the outcome of a call that allow let through.
func (b *breaker) done(err error) {
	b.mu.Lock()
	var changed, open bool
	if err == nil {
		changed = !b.openUntil.IsZero()
		b.failures, b.openUntil, b.probing = 0, time.Time{}, false
	} else {
		var trip *limit.RoundTripError
		if errors.As(err, &trip) && trip == b.lastTrip && !b.probing {
			b.mu.Unlock()
			return // one round trip, many requests: already counted
		}
		b.lastTrip = trip
		b.failures++
		if b.probing || (b.openUntil.IsZero() && b.failures >= b.threshold) {
			changed, open = b.openUntil.IsZero(), true
			b.openUntil, b.probing = b.now().Add(b.cooldown), false
		}
	}
	b.mu.Unlock()
	if changed && b.onChange != nil {
		b.onChange(open)
	}
}

// release ends a call that allow let through without an outcome (the store never heard of it):
// a half-open breaker lets the next caller probe instead.
func (b *breaker) release() {
	b.mu.Lock()
	if !b.openUntil.IsZero() {
		b.probing = false
	}
	b.mu.Unlock()
}

// isOpen reports whether the breaker currently refuses calls (for /readyz and metrics).
func (b *breaker) isOpen() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.openUntil.IsZero()
}
