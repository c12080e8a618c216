package limittest

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
)

type testCase struct {
	name string
	only func(limit.Algorithm) bool // nil: every algorithm
	run  func(e *env)
}

func is(a limit.Algorithm) func(limit.Algorithm) bool {
	return func(b limit.Algorithm) bool { return a == b }
}

func isRate(a limit.Algorithm) bool { return a != limit.Concurrency }

var cases = []testCase{
	{"admits its capacity at once", nil, atOnce},
	{"cost", nil, cost},
	{"retry after", nil, retryAfter},
	{"keys are independent", nil, independentKeys},
	{"batch", nil, batch},
	{"invalid requests", nil, invalid},
	{"concurrent callers never exceed the limit", nil, concurrentCallers},
	{"never more than the bound in any period", isRate, bound},
	{"refill", bucketLike, refill},
	{"queue delay", is(limit.LeakyQueue), queueDelay},
	{"window resets", is(limit.FixedWindow), windowResets},
	{"boundary burst admits twice the limit", is(limit.FixedWindow), fixedBoundaryBurst},
	{"previous window weighs by its overlap", is(limit.SlidingWindow), slidingWeights},
	{"exact sliding period", is(limit.SlidingLog), slidingLog},
	{"release", is(limit.Concurrency), release},
	{"unreleased lease expires", is(limit.Concurrency), leaseExpiry},
	{"release under contention", is(limit.Concurrency), releaseUnderContention},
}

// atOnce: a fresh key admits exactly its capacity (Burst for the bucket family, Requests for the
// others), and every field of every decision says what it should.
func atOnce(e *env) {
	l, c := e.long(), e.capacity()
	iv := l.Period / reqs
	shots := e.burst("k", l, 1, int(c)+3)
	first, leases := shots[0], map[string]bool{}
	end := func(s shot) time.Duration { // until the end of s's window
		p := int64(l.Period)
		return time.Duration((floorDiv(s.before, p)+1)*p - s.before)
	}
	for i, s := range shots {
		fuzz := time.Duration(s.after - first.before) // how much time may have passed since the first
		msg := fmt.Sprintf("request %d of a burst: %s", i+1, s)
		assert.Equal(e.t, l.Requests, s.Limit, msg)
		used := min(int64(i+1), c)
		var reset, retry time.Duration
		switch e.alg {
		case limit.FixedWindow:
			reset, retry = end(s), end(s)
		case limit.SlidingWindow:
			reset, retry = end(s)+l.Period, end(s)+l.Period/reqs // 10% into the next window
		case limit.SlidingLog, limit.Concurrency:
			reset, retry = l.Period, l.Period
		default:
			reset, retry = time.Duration(used)*iv, iv
		}
		e.near(s.ResetAfter, reset, fuzz, "ResetAfter: "+msg)
		if int64(i) < c {
			require.True(e.t, s.Allowed, msg)
			assert.Equal(e.t, c-used, s.Remaining, msg)
			assert.Zero(e.t, s.RetryAfter, msg)
			if e.alg == limit.LeakyQueue {
				e.near(s.Delay, time.Duration(i)*iv, fuzz, "Delay: "+msg)
			} else {
				assert.Zero(e.t, s.Delay, msg)
			}
			if e.alg == limit.Concurrency {
				assert.NotEmpty(e.t, s.Lease, msg)
				assert.False(e.t, leases[s.Lease], "lease IDs are unique: "+msg)
				leases[s.Lease] = true
			} else {
				assert.Empty(e.t, s.Lease, msg)
			}
			continue
		}
		require.False(e.t, s.Allowed, msg)
		assert.Zero(e.t, s.Remaining, msg)
		require.Positive(e.t, s.RetryAfter, msg)
		e.near(s.RetryAfter, retry, fuzz, "RetryAfter: "+msg)
		assert.Zero(e.t, s.Delay, msg)
		assert.Empty(e.t, s.Lease, msg)
	}
}

// cost: a request is admitted whole or not at all; one that does not fit consumes nothing, so
// smaller ones still pass; Hits 0 costs 1.
func cost(e *env) {
	l, c := e.long(), e.capacity()

	d := e.allow("big", l, c+1)
	assert.False(e.t, d.Allowed, "a cost above capacity can never pass: %s", d)
	assert.Positive(e.t, d.RetryAfter, d.String())
	assert.Equal(e.t, c, d.Remaining, d.String())
	assert.Empty(e.t, d.Lease, d.String())
	d = e.allow("big", l, c)
	assert.True(e.t, d.Allowed, "the oversized request consumed nothing: %s", d)
	assert.Zero(e.t, d.Remaining, d.String())

	// The largest cost (what the APIs clamp an out-of-range hits_addend to) overflows nothing.
	d = e.allow("huge", l, math.MaxInt64)
	assert.False(e.t, d.Allowed, "the largest cost can never pass: %s", d)
	assert.Equal(e.t, c, d.Remaining, d.String())
	d = e.allow("huge", l, c)
	assert.True(e.t, d.Allowed, "the largest cost consumed nothing: %s", d)

	d = e.allow("part", l, 4)
	require.True(e.t, d.Allowed, d.String())
	assert.Equal(e.t, c-4, d.Remaining, d.String())
	d = e.allow("part", l, c-3)
	assert.False(e.t, d.Allowed, "%d units requested, %d left: %s", c-3, c-4, d)
	assert.Positive(e.t, d.RetryAfter, d.String())
	assert.Equal(e.t, c-4, d.Remaining, "the denied request took nothing: %s", d)
	d = e.allow("part", l, c-4)
	assert.True(e.t, d.Allowed, "what is left still passes: %s", d)
	assert.Zero(e.t, d.Remaining, d.String())
	d = e.allow("part", l, 0)
	assert.False(e.t, d.Allowed, "Hits 0 costs 1: %s", d)

	d = e.allow("zero", l, 0)
	assert.True(e.t, d.Allowed, d.String())
	assert.Equal(e.t, c-1, d.Remaining, "Hits 0 costs 1: %s", d)
}

// retryAfter: RetryAfter is when the same request passes, not earlier and not later.
func retryAfter(e *env) {
	l := e.short()
	_, den := e.untilDenied("k", l, int(e.capacity())+reqs+5)
	ra := den.RetryAfter
	require.Positive(e.t, ra, den.String())
	assert.LessOrEqual(e.t, ra, 2*l.Period+slack, den.String())
	// The pass instant X = (denial's time) + ra lies in [den.before+ra, den.after+ra].

	e.sleep(ra / 2)
	early := e.allow("k", l, 1)
	if early.after < den.before+int64(ra-slack) {
		assert.False(e.t, early.Allowed, "passed %s before RetryAfter: %s", time.Duration(den.before+int64(ra)-early.after), early)
	}
	if early.Allowed {
		return // the early retry was late enough to pass, which is right too
	}
	lo := time.Duration(den.before + int64(ra) - early.after)
	hi := time.Duration(den.after + int64(ra) - early.before)
	assert.True(e.t, early.RetryAfter >= lo-slack && early.RetryAfter <= hi+slack,
		"a second denial points at the same instant: RetryAfter %s, want [%s, %s]", early.RetryAfter, lo, hi)

	e.sleepUntil(den.after + int64(ra))
	late := e.allow("k", l, 1)
	assert.True(e.t, late.Allowed, "denied after waiting RetryAfter %s: %s", ra, late)
}

func independentKeys(e *env) {
	l, c := e.long(), e.capacity()
	a, _ := e.untilDenied("a", l, int(c)+1)
	assert.Len(e.t, a, int(c))
	assert.Equal(e.t, int(c), countAllowed(e.burst("b", l, 1, int(c))), "key b is not limited by key a")
}

// batch: decisions are independent, in order, and an invalid request refuses the whole batch.
func batch(e *env) {
	l, c := e.long(), e.capacity()
	reqsA := make([]limit.Request, c+2)
	for i := range reqsA {
		reqsA[i] = limit.Request{Key: "a", Limit: l}
	}
	ds, err := e.h.Store.AllowBatch(e.ctx, reqsA)
	require.NoError(e.t, err)
	require.Len(e.t, ds, len(reqsA))
	for i, d := range ds {
		assert.Equal(e.t, int64(i) < c, d.Allowed, "request %d: %+v", i, d)
		if int64(i) < c {
			assert.Equal(e.t, c-1-int64(i), d.Remaining, "request %d: %+v", i, d)
		}
	}

	ds, err = e.h.Store.AllowBatch(e.ctx, []limit.Request{
		{Key: "b", Limit: l, Hits: c}, {Key: "c", Limit: l}, {Key: "b", Limit: l},
	})
	require.NoError(e.t, err)
	require.Len(e.t, ds, 3)
	assert.True(e.t, ds[0].Allowed, "%+v", ds[0])
	assert.True(e.t, ds[1].Allowed, "%+v", ds[1])
	assert.False(e.t, ds[2].Allowed, "b is full: %+v", ds[2])

	_, err = e.h.Store.AllowBatch(e.ctx, []limit.Request{{Key: "d", Limit: l, Hits: c}, {Key: "", Limit: l}})
	require.ErrorIs(e.t, err, limit.ErrInvalid)
	d := e.allow("d", l, c)
	assert.True(e.t, d.Allowed, "a refused batch consumes nothing: %s", d)

	ds, err = e.h.Store.AllowBatch(e.ctx, nil)
	require.NoError(e.t, err)
	assert.Empty(e.t, ds)
}

func (e *env) requireInvalid(req limit.Request) {
	e.t.Helper()
	_, err := e.h.Store.Allow(e.ctx, req)
	require.ErrorIs(e.t, err, limit.ErrInvalid, "Allow(%+v)", req)
	_, err = e.h.Store.AllowBatch(e.ctx, []limit.Request{req})
	require.ErrorIs(e.t, err, limit.ErrInvalid, "AllowBatch(%+v)", req)
}

func invalid(e *env) {
	ok := e.long()
	with := func(f func(l *limit.Limit)) limit.Limit { l := ok; f(&l); return l }
	for _, c := range []struct {
		name string
		req  limit.Request
	}{
		{"empty key", limit.Request{Limit: ok}},
		{"negative hits", limit.Request{Key: "k", Limit: ok, Hits: -1}},
		{"zero requests", limit.Request{Key: "k", Limit: with(func(l *limit.Limit) { l.Requests = 0 })}},
		{"negative requests", limit.Request{Key: "k", Limit: with(func(l *limit.Limit) { l.Requests = -5 })}},
		{"zero period", limit.Request{Key: "k", Limit: with(func(l *limit.Limit) { l.Period = 0 })}},
		{"negative period", limit.Request{Key: "k", Limit: with(func(l *limit.Limit) { l.Period = -time.Second })}},
		{"negative burst", limit.Request{Key: "k", Limit: with(func(l *limit.Limit) { l.Burst = -1 })}},
	} {
		e.t.Run(c.name, func(t *testing.T) {
			(&env{t: t, h: e.h, ctx: e.ctx, alg: e.alg}).requireInvalid(c.req)
		})
	}
	d := e.allow("k", ok, 1)
	assert.True(e.t, d.Allowed, d.String())
	assert.Equal(e.t, e.capacity()-1, d.Remaining, "the invalid requests consumed nothing: %s", d)
}

// concurrentCallers: 50 goroutines racing on one key admit exactly the capacity.
func concurrentCallers(e *env) {
	l, c := e.long(), e.capacity()
	const goroutines, calls = 50, 20
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range calls {
				d, err := e.h.Store.Allow(e.ctx, limit.Request{Key: "k", Limit: l})
				if !assert.NoError(e.t, err) {
					return
				}
				if d.Allowed {
					admitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(e.t, c, admitted.Load(), "%d callers × %d requests", goroutines, calls)
}

// bound: requests as fast as they pass, for two periods, and in no interval of one period more
// than the algorithm's bound is admitted: Requests for the sliding log, Burst + Requests for the
// bucket family, 2×Requests for the window counters. The bucket family's total is exact too.
func bound(e *env) {
	l, c := e.short(), e.capacity()
	p := int64(l.Period)
	var adm, dens []shot
	for range 40 {
		a, d := e.untilDenied("k", l, int(c)+reqs+5)
		adm, dens = append(adm, a...), append(dens, d)
		e.sleep(l.Period / 20)
	}
	limitInPeriod := map[limit.Algorithm]int{limit.SlidingLog: reqs, limit.FixedWindow: 2 * reqs, limit.SlidingWindow: 2 * reqs}[e.alg]
	if bucketLike(e.alg) {
		limitInPeriod = burst + reqs
	}
	for i, a := range adm {
		n := 0
		for _, b := range adm[i:] {
			if b.after-a.before < p { // certainly within one period of each other
				n++
			}
		}
		require.LessOrEqual(e.t, n, limitInPeriod, "admitted in the period from request %d: %s", i, a)
	}
	if !bucketLike(e.alg) {
		return
	}
	// From a full bucket at the first request, the requests admitted by the last denial are
	// Burst + (elapsed)/T — as long as the bucket never filled up again (a long stall).
	iv, last := p/reqs, dens[len(dens)-1]
	stall := int64(0)
	for i := 1; i < len(dens); i++ {
		stall = max(stall, dens[i].before-dens[i-1].after)
	}
	e.skipIf(stall >= int64(burst-1)*iv, "a %s stall let the bucket refill to full", time.Duration(stall))
	lo := burst + floorDiv(last.before-adm[0].after, iv)
	hi := burst + floorDiv(last.after-adm[0].before, iv)
	assert.True(e.t, int64(len(adm)) >= lo && int64(len(adm)) <= hi, "admitted %d in %s, want [%d, %d]",
		len(adm), time.Duration(last.after-adm[0].before), lo, hi)
}

// refill: the bucket family refills one unit per T = Period/Requests, up to Burst.
func refill(e *env) {
	l := e.short()
	iv := int64(l.Period / reqs)
	adm, den := e.untilDenied("k", l, 40)
	spanned := den.after - adm[0].before
	assert.True(e.t, int64(len(adm)) >= burst && int64(len(adm)) <= burst+floorDiv(spanned, iv),
		"a full bucket admits Burst = %d (plus what refills meanwhile), admitted %d", burst, len(adm))
	if len(adm) == burst {
		e.near(adm[burst-1].ResetAfter, time.Duration(burst*iv), time.Duration(spanned), "empty: full again after Burst×T")
	}
	ra := den.RetryAfter
	require.Positive(e.t, ra, den.String())
	assert.LessOrEqual(e.t, int64(ra), iv+int64(slack), "the next unit comes within T: %s", den)

	// probe waits d, then takes everything; the count follows from the previous denial: the
	// next unit arrives RetryAfter after it, then one every T, and no more than Burst are held.
	probe := func(d time.Duration, prev shot) (int, shot) {
		e.sleep(d)
		adm, den := e.untilDenied("k", l, 40)
		first := den
		if len(adm) > 0 {
			first = adm[0]
		}
		units := func(x int64) int64 { return max(floorDiv(x-int64(prev.RetryAfter), iv)+1, 0) }
		lo := min(units(den.before-prev.after), burst)
		hi := min(units(den.after-prev.before), burst+floorDiv(den.after-first.before, iv))
		assert.True(e.t, int64(len(adm)) >= lo && int64(len(adm)) <= hi,
			"after %s: admitted %d, want [%d, %d]", d, len(adm), lo, hi)
		return len(adm), den
	}
	n, den := probe(l.Period/5, den) // two units refill
	e.t.Logf("after Period/5: %d admitted", n)
	n, _ = probe(l.Period, den) // full again: Burst, not Requests
	e.t.Logf("after Period: %d admitted", n)
}

// queueDelay: each queued request waits T = Period/Requests per unit ahead of it; the queue
// holds Burst units.
func queueDelay(e *env) {
	l := e.long()
	iv := l.Period / reqs
	shots := e.burst("k", l, 1, 3)
	shots = append(shots, e.allow("k", l, 2), e.allow("k", l, 1))
	last := e.allow("k", l, 1)
	for i, want := range []time.Duration{0, iv, 2 * iv, 3 * iv, 5 * iv} {
		s := shots[i]
		require.True(e.t, s.Allowed, s.String())
		e.near(s.Delay, want, time.Duration(s.after-shots[0].before), "request %d waits for the units ahead: %s", i+1, s)
	}
	assert.Zero(e.t, shots[4].Remaining, shots[4].String())
	e.near(shots[4].ResetAfter, 6*iv, time.Duration(shots[4].after-shots[0].before), shots[4].String())
	assert.False(e.t, last.Allowed, "the queue holds Burst = %d units: %s", burst, last)
	assert.Zero(e.t, last.Delay, last.String())
	e.near(last.RetryAfter, iv, time.Duration(last.after-shots[0].before), last.String())
}

// windowResets: a fixed window admits Requests, then nothing until the next window, which
// admits Requests again.
func windowResets(e *env) {
	l := e.short()
	e.alignTo(l.Period, 0.25)
	a := e.burst("k", l, 1, reqs+3)
	w := e.window(l.Period, a...)
	b := e.burst("k", l, 1, reqs+3)
	e.window(l.Period, append(a, b...)...)
	for i, s := range append(a, b...) {
		assert.Equal(e.t, i < reqs, s.Allowed, "request %d in one window: %s", i+1, s)
	}
	e.sleep(l.Period)
	c := e.burst("k", l, 1, reqs+3)
	require.Equal(e.t, w+1, e.window(l.Period, c...), "a sleep of one period from mid-window lands in the next window")
	for i, s := range c {
		assert.Equal(e.t, i < reqs, s.Allowed, "request %d in the next window: %s", i+1, s)
	}
}

// fixedBoundaryBurst: Requests just before a boundary and Requests just after: 2×Requests admitted
// in a fraction of one period — the fixed window's known weakness.
func fixedBoundaryBurst(e *env) {
	l := e.short()
	p := int64(l.Period)
	e.alignTo(l.Period, 0.75)
	a := e.burst("k", l, 1, reqs)
	w := e.window(l.Period, a...)
	e.sleepUntil((w+1)*p + p/10)
	b := e.burst("k", l, 1, reqs+1)
	e.skipIf(e.window(l.Period, b...) != w+1, "the second burst missed the next window")
	inside := b[reqs-1].after - a[0].before
	e.skipIf(inside >= p, "the two bursts were %s apart", time.Duration(inside))
	assert.Equal(e.t, 2*reqs, countAllowed(a)+countAllowed(b[:reqs]),
		"2×Requests admitted within %s < Period", time.Duration(inside))
	assert.False(e.t, b[reqs].Allowed, b[reqs].String())
}

// slidingWeights: the sliding window counter weighs the previous window by how much of it the
// last period still covers: estimate = prev·(1 − elapsed/P) + cur, admitted while ≤ Requests.
func slidingWeights(e *env) {
	l := e.short()
	p := int64(l.Period)
	e.alignTo(l.Period, 0.75)
	a := e.burst("k", l, 1, reqs+2)
	w := e.window(l.Period, a...)
	for i, s := range a {
		assert.Equal(e.t, i < reqs, s.Allowed, "request %d: %s", i+1, s)
	}
	// allowed is how many units cur may reach at elapsed x into a window whose previous window
	// holds prev: ⌊(Requests·P − prev·(P − x))/P⌋.
	allowed := func(prev, x int64) int64 {
		return min(max(floorDiv(reqs*p-prev*(p-x), p), 0), reqs)
	}
	// probe takes everything the window starting at ws admits now, and checks the count.
	probe := func(ws, prev, cur int64, what string) int64 {
		adm, den := e.untilDenied("k", l, reqs+2)
		e.skipIf(floorDiv(den.after, p) != floorDiv(ws, p) || (len(adm) > 0 && adm[0].before < ws),
			"the probe (%s) missed its window", what)
		cur += int64(len(adm))
		lo, hi := allowed(prev, den.before-ws), allowed(prev, den.after-ws)
		assert.True(e.t, cur >= lo && cur <= hi, "%s: current window holds %d, want [%d, %d]", what, cur, lo, hi)
		return cur
	}
	ws := (w + 1) * p
	e.sleepUntil(ws + 15*p/100)
	cur := probe(ws, reqs, 0, "15% into the next window the previous one weighs 85%: 1 passes")
	e.sleepUntil(ws + p/2)
	cur = probe(ws, reqs, cur, "half-way, the previous window weighs half: 5 in all")
	e.sleepUntil(ws + p + p/2)
	probe(ws+p, cur, 0, "half-way into the window after, prev=5 weighs 2.5: 7 pass")
	e.sleepUntil(ws + 3*p + p/10)
	probe(ws+3*p, 0, 0, "two windows later both counters are gone: 10 pass")
}

// slidingLog: exact — what was admitted in the last period counts, and nothing older.
func slidingLog(e *env) {
	l := e.short()
	p := int64(l.Period)
	a := e.burst("k", l, 1, 4)
	e.sleep(l.Period / 2)
	b := e.burst("k", l, 1, 7)
	e.skipIf(b[6].after >= a[0].before+p, "the first hits aged out before the second burst")
	for i, s := range append(a, b...) {
		assert.Equal(e.t, i < reqs, s.Allowed, "request %d within one period: %s", i+1, s)
	}
	e.sleepUntil(a[3].after + p + p/10) // a's four have aged out, b's six have not
	c, den := e.untilDenied("k", l, reqs+2)
	e.skipIf(den.after >= b[0].before+p, "the second burst aged out too")
	assert.Len(e.t, c, 4, "exactly the aged-out units pass again")
	e.sleepUntil(b[5].after + p + p/10) // b's six are gone, c's four remain
	c2, den2 := e.untilDenied("k", l, reqs+2)
	e.skipIf(len(c) > 0 && den2.after >= c[0].before+p, "the third burst aged out too")
	assert.Len(e.t, c2, 6)
}

// release: Release frees a lease's slots, once; unknown leases and keys are not an error.
func release(e *env) {
	l := e.long()
	adm := e.burst("k", l, 1, reqs)
	for _, s := range adm {
		require.True(e.t, s.Allowed, s.String())
	}
	assert.False(e.t, e.allow("k", l, 1).Allowed, "all slots held")
	require.NoError(e.t, e.h.Store.Release(e.ctx, "k", adm[0].Lease))
	d := e.allow("k", l, 1)
	assert.True(e.t, d.Allowed, "the released slot is free: %s", d)
	assert.NotEqual(e.t, adm[0].Lease, d.Lease, "a new lease, not the released one")
	require.NoError(e.t, e.h.Store.Release(e.ctx, "k", adm[0].Lease))
	assert.False(e.t, e.allow("k", l, 1).Allowed, "releasing a lease twice frees its slots once")
	require.NoError(e.t, e.h.Store.Release(e.ctx, "k", "no-such-lease"))
	require.NoError(e.t, e.h.Store.Release(e.ctx, "no-such-key", "no-such-lease"))

	for _, s := range append(adm[1:], d) {
		require.NoError(e.t, e.h.Store.Release(e.ctx, "k", s.Lease))
	}
	big := e.allow("k", l, 4)
	require.True(e.t, big.Allowed, big.String())
	assert.Equal(e.t, int64(reqs-4), big.Remaining, big.String())
	assert.False(e.t, e.allow("k", l, reqs-3).Allowed, "a lease holds its cost")
	require.NoError(e.t, e.h.Store.Release(e.ctx, "k", big.Lease))
	d = e.allow("k", l, reqs)
	assert.True(e.t, d.Allowed, "releasing a lease of cost 4 frees 4 slots: %s", d)
}

// leaseExpiry: a lease never released stops counting one Period after it was granted.
func leaseExpiry(e *env) {
	l := e.short()
	p := int64(l.Period)
	adm := e.burst("k", l, 1, reqs)
	den := e.allow("k", l, 1)
	for _, s := range adm {
		require.True(e.t, s.Allowed, s.String())
	}
	require.False(e.t, den.Allowed, den.String())
	e.near(den.RetryAfter, l.Period, time.Duration(den.after-adm[0].before), "the first lease expires a Period after it was granted: %s", den)
	e.sleep(l.Period / 2)
	mid := e.allow("k", l, 1)
	if mid.after < adm[0].before+p {
		assert.False(e.t, mid.Allowed, "leases still live half a period later: %s", mid)
	}
	e.sleepUntil(adm[reqs-1].after + p + p/20)
	again, _ := e.untilDenied("k", l, reqs+2)
	assert.Len(e.t, again, reqs-countAllowed([]shot{mid}), "the expired leases freed every slot")
}

// releaseUnderContention: 50 goroutines acquire and release; in flight never exceeds Requests
// and no slot leaks.
func releaseUnderContention(e *env) {
	l := e.long()
	const goroutines, calls = 50, 10
	var inFlight, peak, admitted atomic.Int64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range calls {
				d, err := e.h.Store.Allow(e.ctx, limit.Request{Key: "k", Limit: l})
				if !assert.NoError(e.t, err) || !d.Allowed {
					continue
				}
				admitted.Add(1)
				n := inFlight.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				runtime.Gosched()
				inFlight.Add(-1)
				assert.NoError(e.t, e.h.Store.Release(e.ctx, "k", d.Lease))
			}
		})
	}
	wg.Wait()
	assert.LessOrEqual(e.t, peak.Load(), int64(reqs), "in flight at once")
	assert.GreaterOrEqual(e.t, admitted.Load(), int64(reqs), "admitted in all")
	assert.Equal(e.t, reqs, countAllowed(e.burst("k", l, 1, reqs)), "every released slot is free again")
}
