package api

import (
	"math"
	"sync"
	"time"
)

// limiter is a token bucket per key (client IP). Idle keys whose bucket has refilled are the
// same as absent ones, so they are dropped when the map grows, which bounds memory under a
// spray of addresses to the keys active within one refill period.
type limiter struct {
	rate  float64 // tokens per second
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	sweepAt int // sweep when the map reaches this size
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(perSecond float64, burst int, now func() time.Time) *limiter {
	return &limiter{rate: perSecond, burst: float64(burst), now: now, buckets: map[string]*bucket{}, sweepAt: 1024}
}

// allow takes a token for key; when there is none it returns false and how long until one.
func (l *limiter) allow(key string) (bool, time.Duration) {
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
	return false, wait
}

func (l *limiter) refill(b *bucket, now time.Time) float64 {
	return min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
}

// sweep drops full buckets and doubles the threshold if that freed too little.
func (l *limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if l.refill(b, now) >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= l.sweepAt/2 {
		l.sweepAt *= 2
	}
}
