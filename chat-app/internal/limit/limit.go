// Package limit is chat-app's abuse limit: a token bucket per key (a client IP for signups and
// logins, a user for sends). It is process-local on purpose: it bounds what one client can make
// one process do, and needs no round trip on the hot path.
package limit

import (
	"math"
	"sync"
	"time"
)

// Keyed is a token bucket per key: burst tokens at most, refilled at rate per second, one per
// call of Allow. It is safe for concurrent use.
type Keyed[K comparable] struct {
	rate  float64
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[K]*bucket
	sweepAt int // sweep idle buckets when the map reaches this size
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns a limiter of perSecond tokens per second up to burst per key; now is its clock
// (nil: time.Now). perSecond must be > 0 and burst >= 1.
func New[K comparable](perSecond float64, burst int, now func() time.Time) *Keyed[K] {
	if now == nil {
		now = time.Now
	}
	return &Keyed[K]{rate: perSecond, burst: float64(burst), now: now, buckets: map[K]*bucket{}, sweepAt: 1024}
}

// Allow takes a token of key's bucket. When there is none it returns false and how long until
// there is one (at least a millisecond).
func (l *Keyed[K]) Allow(key K) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.sweepAt {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = l.refill(b, now)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration(math.Ceil((1 - b.tokens) / l.rate * float64(time.Second)))
	return false, max(wait, time.Millisecond)
}

func (l *Keyed[K]) refill(b *bucket, now time.Time) float64 {
	return min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
}

// sweep drops the buckets that have refilled (the same as absent ones), which bounds memory
// under a spray of keys to those active within one refill period; it doubles the threshold
// when that freed too little, so a large active set is not swept on every new key.
func (l *Keyed[K]) sweep(now time.Time) {
	for k, b := range l.buckets {
		if l.refill(b, now) >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= l.sweepAt/2 {
		l.sweepAt *= 2
	}
}

// Len is the number of keys with a bucket (for tests and metrics).
func (l *Keyed[K]) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
