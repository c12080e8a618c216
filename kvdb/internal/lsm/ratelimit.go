package lsm

// Token bucket rate limiter for compaction writes.
//
// Compaction competes with foreground writes for disk bandwidth; without a cap, a large
// compaction can saturate the device and inflate write and read latency (RocksDB's
// RateLimiter, "Rate Limiter" on the RocksDB wiki). The bucket fills at rate bytes per second up
// to a burst of rate/10 (100 ms worth); a writer takes tokens for each chunk and sleeps for the
// deficit when the bucket runs dry, so over any window the bytes written are at most
// rate × window + burst.

import (
	"io"
	"sync"
	"time"
)

type rateLimiter struct {
	mu     sync.Mutex
	rate   float64 // bytes per second
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
	sleep  func(time.Duration)
}

func newRateLimiter(bytesPerSec int64) *rateLimiter {
	r := float64(bytesPerSec)
	return &rateLimiter{rate: r, burst: max(r/10, 4096), now: time.Now, sleep: time.Sleep}
}

// wait blocks until n bytes may be written. Requests larger than the burst go into debt, which
// later callers pay back, so large chunks are allowed but the average rate still holds.
func (l *rateLimiter) wait(n int) {
	l.mu.Lock()
	now := l.now()
	if l.last.IsZero() {
		l.last = now
		l.tokens = l.burst
	}
	l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	l.tokens -= float64(n)
	var d time.Duration
	if l.tokens < 0 {
		d = time.Duration(-l.tokens / l.rate * float64(time.Second))
	}
	l.mu.Unlock()
	if d > 0 {
		l.sleep(d)
	}
}

type rateLimitedWriter struct {
	w io.Writer
	l *rateLimiter
}

func (w *rateLimitedWriter) Write(p []byte) (int, error) {
	w.l.wait(len(p))
	return w.w.Write(p)
}
