package limit

import (
	"math/bits"
	"time"
)

// State is what one key remembers under one algorithm, with the algorithm's transition. Each
// algorithm's file defines its state as a small value and its math as methods on it: pure
// functions of (state, now, limit, cost), with no maps, locks or I/O, so that the in-memory store
// runs them under its shard lock and the Redis scripts mirror them line by line.
//
// Every implementation keeps the package's semantics: a request is admitted whole or not at all;
// a denied request leaves the state deciding exactly as before (it may forget what has expired);
// Remaining ≥ 0; RetryAfter > 0 exactly when denied.
type State interface {
	// Allow decides a request of cost units (cost ≥ 1) at now under l, updating the state when
	// the request is admitted.
	Allow(now time.Time, l Limit, cost int64) Decision
	// Expiry is the instant from which the state no longer affects any decision under l: from
	// then on a fresh state decides the same, so a store may forget it (in memory: delete the
	// entry; on Redis: PEXPIREAT). It may be in the past.
	Expiry(l Limit) time.Time
}

// NewState returns a fresh (zero) state for the algorithm, or nil for an unknown one.
func NewState(a Algorithm) State {
	switch a {
	case TokenBucket:
		return &TokenBucketState{}
	case LeakyBucket:
		return &LeakyBucketState{}
	case LeakyQueue:
		return &LeakyQueueState{}
	case FixedWindow:
		return &FixedWindowState{}
	case SlidingLog:
		return &SlidingLogState{}
	case SlidingWindow:
		return &SlidingWindowState{}
	case GCRA:
		return &GCRAState{}
	case Concurrency:
		return &ConcurrencyState{}
	}
	return nil
}

// EmissionInterval is T = Period/Requests, the time one unit of the rate takes to come back,
// rounded up to whole nanoseconds (at least 1 ns) so that rounding never admits more than the
// limit: 3 per second is one unit every 333,333,334 ns. The bucket algorithms and GCRA count
// capacity in these nanoseconds (a full bucket of Burst units is Burst×T), which keeps their
// arithmetic in integers and makes GCRA and the token bucket agree exactly. The Redis scripts use
// the same formula in microseconds.
func EmissionInterval(l Limit) time.Duration {
	if l.Requests <= 0 || l.Period <= 0 {
		return 0
	}
	p, r := int64(l.Period), l.Requests
	iv := p / r
	if iv*r != p {
		iv++
	}
	return time.Duration(max(iv, 1))
}

// maxSpan caps a bucket's capacity in time (Burst × T) at about 36 years, so that adding it to a
// Unix time in nanoseconds cannot overflow int64, and a zero state (last touched at the epoch) is
// always older than its capacity. Limits that large are configuration mistakes; they behave as an
// effectively unlimited burst instead of wrapping around.
const maxSpan = int64(1) << 60

// span returns n×iv (n units in nanoseconds of the emission interval iv), capped at maxSpan.
func span(n, iv int64) int64 {
	if n <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(n), uint64(iv))
	if hi != 0 || lo > uint64(maxSpan) {
		return maxSpan
	}
	return int64(lo)
}

// floorDiv is ⌊a/b⌋ for b > 0, also for negative a.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// windowStart is the start of the window of length p holding t, aligned to multiples of p since
// the Unix epoch (ADR 0004), so every process and Redis agree on the boundaries.
func windowStart(t, p int64) int64 {
	return floorDiv(t, p) * p
}

// unixNano is the inverse of time.Time.UnixNano, for expiries.
func unixNano(ns int64) time.Time {
	return time.Unix(0, ns)
}

// impossible is the answer to a request whose cost exceeds the limit's capacity: it can never
// pass, however long the caller waits. RetryAfter must still be positive on a denial, so it is one
// Period: a client honouring it backs off for a whole period instead of retrying in a loop, and the
// server's logs show the same oversized request at most once a period per client.
func impossible(l Limit, remaining int64, resetAfter int64) Decision {
	return Decision{
		Limit:      l.Requests,
		Remaining:  max(remaining, 0),
		ResetAfter: time.Duration(max(resetAfter, 0)),
		RetryAfter: l.Period,
	}
}
