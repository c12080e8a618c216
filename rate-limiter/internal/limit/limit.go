// Package limit is the rate limiter's core: the algorithms' shared vocabulary (a Limit, a
// Request, a Decision) and the Store port that every implementation — in memory, on Redis —
// satisfies with identical semantics, checked by one contract suite (package limittest).
//
// Semantics every Store keeps, so that the in-memory and Redis stores are interchangeable:
//   - A request asks for Hits units (its cost; 0 means 1). It is admitted whole or not at all.
//   - A denied request consumes nothing: it does not count against the limit.
//   - Time comes from one clock per store (the process clock in memory, Redis TIME on Redis),
//     never from the callers, so callers with skewed clocks cannot disagree.
//   - Every piece of state expires on its own once it no longer affects a decision.
package limit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Algorithm names a rate-limiting algorithm, as written in the rules file.
type Algorithm string

// The algorithms. Each file that implements one starts with its math and a reference; the ADRs
// in docs/adr compare their accuracy, memory and Redis round trips.
const (
	// TokenBucket holds up to Burst tokens, refilled continuously at Requests per Period; a request
	// takes Hits tokens. Allows bursts of Burst, then the average rate.
	TokenBucket Algorithm = "token_bucket"
	// LeakyBucket as a meter: a bucket of capacity Burst drains at Requests per Period; a request
	// pours Hits in and is denied when it would overflow. (Same admission as GCRA; kept separately
	// because it is the textbook form and stores a level, not a time.)
	LeakyBucket Algorithm = "leaky_bucket"
	// LeakyQueue is the leaky bucket as a queue (a shaper): requests are admitted while the queue
	// holds fewer than Burst, and each is told how long to wait (Decision.Delay) so that they leave
	// at exactly Requests per Period. Smooths bursts instead of rejecting them.
	LeakyQueue Algorithm = "leaky_queue"
	// FixedWindow counts hits in windows aligned to multiples of Period since the Unix epoch. One
	// counter per key; admits up to 2×Requests across a window boundary.
	FixedWindow Algorithm = "fixed_window"
	// SlidingLog keeps the time of every admitted hit in the last Period: exact, memory ∝ Requests.
	SlidingLog Algorithm = "sliding_log"
	// SlidingWindow estimates the last Period's count as current + previous×(overlap fraction)
	// (Cloudflare's sliding-window counter): two counters per key, never more than Requests in
	// any window under its assumption of evenly spread hits.
	SlidingWindow Algorithm = "sliding_window"
	// GCRA, the generic cell rate algorithm: one stored time (the theoretical arrival time) per
	// key; admission identical to a token bucket of Burst refilled at Requests per Period.
	GCRA Algorithm = "gcra"
	// Concurrency limits requests in flight to Requests; each admitted request holds Hits slots
	// until Release or, if never released (a crashed caller), until its lease of Period expires.
	Concurrency Algorithm = "concurrency"
)

// Algorithms lists every algorithm, in the order the docs present them.
var Algorithms = []Algorithm{TokenBucket, LeakyBucket, LeakyQueue, FixedWindow, SlidingLog, SlidingWindow, GCRA, Concurrency}

// Limit is one rule's parameters.
type Limit struct {
	Algorithm Algorithm
	Requests  int64         // requests allowed per Period (for Concurrency: max in flight)
	Period    time.Duration // the unit: second, minute, hour, day (for Concurrency: lease TTL)
	Burst     int64         // bucket or queue capacity for the bucket algorithms and GCRA; 0 means Requests
}

// Capacity is Burst, or Requests when Burst is unset.
func (l Limit) Capacity() int64 {
	if l.Burst > 0 {
		return l.Burst
	}
	return l.Requests
}

// Validate reports a limit no algorithm can run.
func (l Limit) Validate() error {
	known := false
	for _, a := range Algorithms {
		known = known || a == l.Algorithm
	}
	switch {
	case !known:
		return fmt.Errorf("unknown algorithm %q (want one of %v)", l.Algorithm, Algorithms)
	case l.Requests <= 0:
		return fmt.Errorf("requests must be positive, got %d", l.Requests)
	case l.Period <= 0:
		return fmt.Errorf("period must be positive, got %s", l.Period)
	case l.Burst < 0:
		return fmt.Errorf("burst must not be negative, got %d", l.Burst)
	}
	return nil
}

// Request asks to admit Hits units under Limit for Key.
type Request struct {
	Key   string // the full key: rule and descriptor values; stores add their own prefix
	Limit Limit
	Hits  int64 // cost; 0 means 1
}

// Cost is Hits, or 1 when Hits is unset.
func (r Request) Cost() int64 {
	if r.Hits > 0 {
		return r.Hits
	}
	return 1
}

// Decision is a Store's answer. The durations feed the response headers (Retry-After,
// RateLimit-Reset, X-RateLimit-*).
type Decision struct {
	Allowed    bool
	Limit      int64         // the limit's Requests
	Remaining  int64         // units still admissible right after this decision (≥ 0)
	ResetAfter time.Duration // until the key is back to full capacity (windows: until the window ends)
	RetryAfter time.Duration // when denied: the earliest a retry of the same cost can pass; 0 when allowed
	Delay      time.Duration // LeakyQueue only: how long the admitted caller waits before proceeding
	Lease      string        // Concurrency only: the token to pass to Release
}

// Store decides requests. Implementations must be safe for concurrent use.
type Store interface {
	// Allow decides one request atomically.
	Allow(ctx context.Context, req Request) (Decision, error)
	// AllowBatch decides several requests in one round trip where the backend allows it; the
	// decisions are independent (a denied one does not undo the others).
	AllowBatch(ctx context.Context, reqs []Request) ([]Decision, error)
	// Release returns a Concurrency lease's slots. Releasing an unknown or expired lease is not an error.
	Release(ctx context.Context, key, lease string) error
	// Close frees the store's resources.
	Close() error
}

// Clock is the time source of the in-memory store; tests inject a fake one.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// ErrInvalid wraps a request that cannot be decided (bad limit, empty key).
var ErrInvalid = errors.New("invalid rate-limit request")

// ErrOverloaded wraps a request a store refused before sending it anywhere, because the queue in
// front of its backend was full: nothing was counted and the backend may be healthy. It is this
// process being busy, not the store failing, so no failure mode applies: the caller is told to
// retry (gRPC RESOURCE_EXHAUSTED, HTTP 503 with Retry-After).
var ErrOverloaded = errors.New("rate limiter overloaded: the queue in front of the store is full")

// RoundTripError is a store failure shared by every request of one round trip to the backend (a
// pipeline that got no reply within its deadline, or lost its connection). All of them carry
// the same *RoundTripError, so a circuit breaker can count the round trip once rather than once
// per request: one late pipeline of a hundred requests is one failure, not a hundred.
type RoundTripError struct{ Err error }

func (e *RoundTripError) Error() string { return e.Err.Error() }
func (e *RoundTripError) Unwrap() error { return e.Err }

// Check validates a request; stores call it first so both reject the same inputs.
func Check(req Request) error {
	if req.Key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalid)
	}
	if req.Hits < 0 {
		return fmt.Errorf("%w: negative hits %d", ErrInvalid, req.Hits)
	}
	if err := req.Limit.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}
