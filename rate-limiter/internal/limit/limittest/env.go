package limittest

import (
	"fmt"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
)

// The limits every case uses: 10 requests per period; the bucket family with a burst of 6, so
// that a bucket's capacity and its rate give different answers.
const (
	reqs  = 10
	burst = 6
	// still is the period of cases that must not see time pass: nothing refills or rolls over
	// within the few milliseconds they run, so their counts are exact on any clock.
	still = time.Hour
	// slack is how accurate the durations in a decision must be (Redis works in microseconds).
	slack = time.Millisecond
)

func bucketLike(a limit.Algorithm) bool {
	switch a {
	case limit.TokenBucket, limit.LeakyBucket, limit.LeakyQueue, limit.GCRA:
		return true
	}
	return false
}

// capacity is what a fresh key admits at once.
func (e *env) capacity() int64 {
	if bucketLike(e.alg) {
		return burst
	}
	return reqs
}

func (e *env) limitOf(p time.Duration) limit.Limit {
	l := limit.Limit{Algorithm: e.alg, Requests: reqs, Period: p}
	if bucketLike(e.alg) {
		l.Burst = burst
	}
	return l
}

// long is the limit of cases that must not see time pass. Its windows are an hour long, aligned
// to the hour; if the clock is within a few seconds of an hour boundary, wait until it is past.
func (e *env) long() limit.Limit {
	e.awayFromBoundary(still, 5*time.Second)
	return e.limitOf(still)
}

// short is the limit of cases that wait: the harness's period.
func (e *env) short() limit.Limit {
	return e.limitOf(e.h.Period)
}

// shot is one decided request and the store's clock read just before and just after it: the
// store decided at some instant in [before, after].
type shot struct {
	limit.Decision
	before, after int64 // Unix nanoseconds
}

func (s shot) String() string {
	return fmt.Sprintf("%+v in [%d, %d]", s.Decision, s.before, s.after)
}

func (e *env) now() int64 { return e.h.Now().UnixNano() }

func (e *env) allow(key string, l limit.Limit, hits int64) shot {
	e.t.Helper()
	before := e.now()
	d, err := e.h.Store.Allow(e.ctx, limit.Request{Key: key, Limit: l, Hits: hits})
	after := e.now()
	require.NoError(e.t, err)
	return shot{Decision: d, before: before, after: after}
}

// burst sends n requests of hits each, as fast as it can.
func (e *env) burst(key string, l limit.Limit, hits int64, n int) []shot {
	e.t.Helper()
	out := make([]shot, n)
	for i := range out {
		out[i] = e.allow(key, l, hits)
	}
	return out
}

// untilDenied sends requests of cost 1 until one is denied (at most limit of them) and returns
// the admitted ones and the denial.
func (e *env) untilDenied(key string, l limit.Limit, most int) (admitted []shot, denial shot) {
	e.t.Helper()
	for range most {
		s := e.allow(key, l, 1)
		if !s.Allowed {
			return admitted, s
		}
		admitted = append(admitted, s)
	}
	require.FailNow(e.t, "no denial", "%d requests in a row admitted under %+v", most, l)
	return nil, shot{}
}

func countAllowed(shots []shot) int {
	n := 0
	for _, s := range shots {
		if s.Allowed {
			n++
		}
	}
	return n
}

func (e *env) sleep(d time.Duration) {
	if d > 0 {
		e.h.Sleep(d)
	}
}

// sleepUntil waits until the store's clock reads at least ts.
func (e *env) sleepUntil(ts int64) {
	for now := e.now(); now < ts; now = e.now() {
		e.sleep(time.Duration(ts - now))
	}
}

// alignTo waits until the store's clock is frac of the way into a window of length p.
func (e *env) alignTo(p time.Duration, frac float64) {
	now, pp := e.now(), int64(p)
	target := floorDiv(now, pp)*pp + int64(frac*float64(pp))
	if target <= now {
		target += pp
	}
	e.sleepUntil(target)
}

// awayFromBoundary waits, if needed, until the clock is at least margin away from the boundaries
// of windows of length p.
func (e *env) awayFromBoundary(p, margin time.Duration) {
	now, pp, m := e.now(), int64(p), int64(margin)
	pos := now - floorDiv(now, pp)*pp
	switch {
	case pos < m:
		e.sleepUntil(now - pos + m)
	case pos > pp-m:
		e.sleepUntil(now - pos + pp + m)
	}
}

// window returns the index of the window of length p all the shots were decided in, and gives up
// on the attempt when scheduling delays spread them over two windows (its set-up no longer holds).
func (e *env) window(p time.Duration, shots ...shot) int64 {
	e.t.Helper()
	w := floorDiv(shots[0].before, int64(p))
	for _, s := range shots {
		if floorDiv(s.before, int64(p)) != w || floorDiv(s.after, int64(p)) != w {
			panic(jittered{fmt.Sprintf("requests meant for one window of %s straddled a boundary", p)})
		}
	}
	return w
}

// skipIf gives up on the attempt when scheduling delays broke its set-up (runCase retries it).
func (e *env) skipIf(cond bool, format string, args ...any) {
	e.t.Helper()
	if cond {
		panic(jittered{fmt.Sprintf(format, args...)})
	}
}

// near checks got is within fuzz (plus the store's accuracy) of want.
func (e *env) near(got, want, fuzz time.Duration, msgAndArgs ...any) {
	e.t.Helper()
	assert.InDelta(e.t, float64(want), float64(got), float64(fuzz+slack), msgAndArgs...)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}
