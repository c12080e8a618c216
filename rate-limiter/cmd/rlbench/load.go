package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	rlv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/grpc/status"
)

// phase is what one throughput phase measured over its window.
type phase struct {
	window    time.Duration
	ok        int64 // answered OK
	overLimit int64 // answered OVER_LIMIT (a decision too; rare with -limit well above the load)
	errors    int64
	errKinds  map[string]int64
	samples   []time.Duration // latency of every answered call in the window, sorted
	lat       latency
	svcCPU    time.Duration // CPU the service process spent in the window
	redisCPU  time.Duration // CPU the Redis server spent in the window (0 when not local)
	selfCPU   time.Duration // CPU rlbench (the callers) spent in the window
	load      float64       // 1-minute load average at the end of the window
	// store is what our service's counters say about the window (nil for envoy, which has
	// no such counters): decisions made without Redis inflate decisions/s.
	store *oursMetrics
}

// rate is decisions (answered calls) per second.
func (ph *phase) rate() float64 {
	if ph.window <= 0 {
		return 0
	}
	return float64(ph.ok+ph.overLimit) / ph.window.Seconds()
}

// latency is a distribution in brief.
type latency struct{ p50, p99, p999, max time.Duration }

// summarize takes percentiles from sorted samples: the nearest-rank definition, exact for the
// samples (no histogram buckets), which a few hundred thousand calls can afford.
func summarize(sorted []time.Duration) latency {
	if len(sorted) == 0 {
		return latency{}
	}
	return latency{p50: rank(sorted, 0.50), p99: rank(sorted, 0.99), p999: rank(sorted, 0.999), max: sorted[len(sorted)-1]}
}

// rank is the nearest-rank q-quantile of sorted: the smallest sample with at least q of all
// samples at or below it.
func rank(sorted []time.Duration, q float64) time.Duration {
	i := int(float64(len(sorted))*q+0.999999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// worker is one caller's tally; merged after the phase, so the hot loop shares nothing.
type worker struct {
	ok, over, errs int64
	errKinds       map[string]int64
	samples        []time.Duration
}

// throughput runs o.callers closed loops of ShouldRateLimit against s for o.warmup+o.duration,
// each call for a user picked at random, and records the calls that start and end inside the
// measured window.
func throughput(ctx context.Context, s *server, o options, users []string, redisPID int) (*phase, error) {
	reqs := make([]*rlv3.RateLimitRequest, len(users))
	for i, u := range users {
		reqs[i] = request(u) // read-only from here on: concurrent marshalling is safe
	}
	start := time.Now()
	measureStart, measureEnd := start.Add(o.warmup), start.Add(o.warmup+o.duration)

	// CPU and load are sampled at the window's edges, off the callers' path.
	var svc0, svc1, red0, red1, self0, self1 time.Duration
	var m0, m1 oursMetrics
	var load float64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		if !sleepUntil(ctx, measureStart) {
			return
		}
		svc0, red0, self0 = cpuTime(s.pid()), cpuTime(redisPID), cpuTime(os.Getpid())
		m0 = s.metrics(ctx)
		if !sleepUntil(ctx, measureEnd) {
			return
		}
		svc1, red1, self1 = cpuTime(s.pid()), cpuTime(redisPID), cpuTime(os.Getpid())
		m1 = s.metrics(ctx)
		load = loadAvg()
	}()

	expect := int(float64(o.duration.Seconds())*50_000)/o.callers + 1024 // calls per caller at 50k/s
	workers := make([]worker, o.callers)
	var wg sync.WaitGroup
	for i := range workers {
		w := &workers[i]
		w.errKinds = map[string]int64{}
		w.samples = make([]time.Duration, 0, expect)
		client := s.clients[i%len(s.clients)]
		wg.Go(func() {
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(measureEnd) {
					return
				}
				req := reqs[rand.IntN(len(reqs))]
				cctx, cancel := context.WithTimeout(ctx, o.timeout)
				resp, err := client.ShouldRateLimit(cctx, req)
				cancel()
				t1 := time.Now()
				if t0.Before(measureStart) || t1.After(measureEnd) {
					continue
				}
				w.tally(resp, err, t1.Sub(t0))
			}
		})
	}
	wg.Wait()
	<-sampled
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	ph := &phase{window: o.duration, errKinds: map[string]int64{}, load: load}
	if svc1 > 0 {
		ph.svcCPU = svc1 - svc0
	}
	if red1 > 0 {
		ph.redisCPU = red1 - red0
	}
	if self1 > 0 {
		ph.selfCPU = self1 - self0
	}
	if m0.Scraped && m1.Scraped {
		d := m1.sub(m0)
		ph.store = &d
	}
	n := 0
	for i := range workers {
		n += len(workers[i].samples)
	}
	ph.samples = make([]time.Duration, 0, n)
	for i := range workers {
		w := &workers[i]
		ph.ok += w.ok
		ph.overLimit += w.over
		ph.errors += w.errs
		for k, v := range w.errKinds {
			ph.errKinds[k] += v
		}
		ph.samples = append(ph.samples, w.samples...)
		w.samples = nil
	}
	slices.Sort(ph.samples)
	ph.lat = summarize(ph.samples)
	return ph, nil
}

// tally counts one call. An answer without the rule's limit is an error: the service did not
// decide (unknown domain or rule), so it must not count as a decision.
func (w *worker) tally(resp *rlv3.RateLimitResponse, err error, d time.Duration) {
	switch {
	case err != nil:
		w.errs++
		w.errKinds[errKind(err)]++
	case limitOf(resp) == 0:
		w.errs++
		w.errKinds["answer without a limit"]++
	case resp.GetOverallCode() == rlv3.RateLimitResponse_OK:
		w.ok++
		w.samples = append(w.samples, d)
	case resp.GetOverallCode() == rlv3.RateLimitResponse_OVER_LIMIT:
		w.over++
		w.samples = append(w.samples, d)
	default:
		w.errs++
		w.errKinds["code "+resp.GetOverallCode().String()]++
	}
}

// errKind is a short, low-cardinality name for a call's error.
func errKind(err error) string {
	st := status.Convert(err)
	msg := st.Message()
	if len(msg) > 60 {
		msg = msg[:60] + "…"
	}
	return st.Code().String() + ": " + msg
}

// exactResult is what one exact-admission phase counted.
type exactResult struct {
	ok, over, errors int64
	wrongLimit       int64 // answers that carried a limit other than -exact-limit
	crossed          bool  // the phase spanned two minute windows: the count proves nothing
	elapsed          time.Duration
	firstErr         string
	store            *oursMetrics // our service's counters over the phase; nil for envoy
}

func (e exactResult) note() string {
	switch {
	case e.crossed:
		return " — INVALID: the phase crossed a minute boundary"
	case e.errors > 0:
		return fmt.Sprintf(" — %d errors, first: %s", e.errors, e.firstErr)
	case e.wrongLimit > 0:
		return fmt.Sprintf(" — %d answers with a limit other than the exact rule's", e.wrongLimit)
	case e.store != nil && e.store.FailureMode > 0:
		return fmt.Sprintf(" — %.0f decided by failure_mode without Redis (%.0f store errors)", e.store.FailureMode, e.store.StoreErrors)
	}
	return fmt.Sprintf(" in %v", e.elapsed.Round(time.Millisecond))
}

// exact fires o.exactCalls calls from o.callers goroutines, released together, at one fresh
// key limited to o.exactLimit per minute, and counts the admissions.
func exact(ctx context.Context, s *server, o options, user string) (exactResult, error) {
	req := request(user)
	var next, ok, over, errs, wrong atomic.Int64
	var firstErr atomic.Value
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i := range o.callers {
		client := s.clients[i%len(s.clients)]
		wg.Go(func() {
			<-release
			for next.Add(1) <= int64(o.exactCalls) && ctx.Err() == nil {
				cctx, cancel := context.WithTimeout(ctx, o.timeout)
				resp, err := client.ShouldRateLimit(cctx, req)
				cancel()
				switch {
				case err != nil:
					errs.Add(1)
					firstErr.CompareAndSwap(nil, errKind(err))
					continue
				case limitOf(resp) != uint32(o.exactLimit):
					wrong.Add(1)
				}
				switch resp.GetOverallCode() {
				case rlv3.RateLimitResponse_OK:
					ok.Add(1)
				case rlv3.RateLimitResponse_OVER_LIMIT:
					over.Add(1)
				default:
					errs.Add(1)
					firstErr.CompareAndSwap(nil, "code "+resp.GetOverallCode().String())
				}
			}
		})
	}
	m0 := s.metrics(ctx)
	start := time.Now()
	close(release)
	wg.Wait()
	end := time.Now()
	if err := ctx.Err(); err != nil {
		return exactResult{}, err
	}
	m1 := s.metrics(ctx)
	r := exactResult{
		ok: ok.Load(), over: over.Load(), errors: errs.Load(), wrongLimit: wrong.Load(),
		crossed: !start.Truncate(time.Minute).Equal(end.Truncate(time.Minute)),
		elapsed: end.Sub(start),
	}
	if m0.Scraped && m1.Scraped {
		d := m1.sub(m0)
		r.store = &d
	}
	if v, isStr := firstErr.Load().(string); isStr {
		r.firstErr = v
	}
	return r, nil
}

// limitOf is the requests per unit of the answer's one descriptor, 0 when it carries none.
func limitOf(resp *rlv3.RateLimitResponse) uint32 {
	if len(resp.GetStatuses()) != 1 {
		return 0
	}
	return resp.GetStatuses()[0].GetCurrentLimit().GetRequestsPerUnit()
}

// sleepUntil returns at t, or false as soon as ctx is done.
func sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}
