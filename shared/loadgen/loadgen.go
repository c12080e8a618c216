package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Target performs one request. A nil error is a success. A non-nil error is a
// failure whose text is its kind in Result.Errors, so return short,
// low-cardinality errors such as errors.New("http 503"). Failures caused by the
// per-request deadline are counted as "timeout" and those caused by cancelling
// Run's context as "canceled", whatever the target returned.
type Target func(ctx context.Context) error

// Config describes one scenario.
type Config struct {
	Name        string        // scenario name for the report
	Rate        float64       // arrivals per second; fixed, whatever the target does (open loop)
	Duration    time.Duration // how long arrivals are recorded
	Warmup      time.Duration // optional: arrivals before Duration that are sent but not recorded
	MaxInFlight int           // bound on concurrent requests (default 10 000); arrivals beyond it are dropped
	Timeout     time.Duration // per request (default 10s)
	// Progress receives a live progress line: redrawn in place on a terminal,
	// a plain line every few seconds otherwise (logs, CI). nil = none.
	Progress io.Writer
	// Start is when arrival 0 is due (default: when Run is called), so a caller
	// that measures something on its own (receivers of a fan-out) knows the
	// measured window, [Start+Warmup, Start+Warmup+Duration), before the first
	// request. A Start already past when Run begins means now: the schedule is
	// never compressed into a catch-up burst.
	Start time.Time
}

// Result is what one scenario measured. Sent+Dropped is the number of
// arrivals scheduled in the measured window, and OK+Failed = Sent.
type Result struct {
	Name     string
	Rate     float64       // target arrivals per second
	Duration time.Duration // measured window; shorter than Config.Duration when Run was canceled
	Sent     int64         // requests started
	OK       int64
	Failed   int64
	Dropped  int64            // arrivals not sent because MaxInFlight requests were outstanding
	Errors   map[string]int64 // failures by kind
	Achieved float64          // successful requests per second over Duration
	// MaxLag is how late the generator itself launched a request. Lag counts as
	// latency (it is measured from the schedule), so a large MaxLag means the
	// load generator, not the target, may be the bottleneck.
	MaxLag time.Duration
	// Latency and Timeline cover successful requests only: a fast error would
	// flatter the percentiles and a timeout is only "Timeout or more", so
	// failures are counted in Errors instead (as the Google SRE book advises,
	// ch. 6, keep the latency of errors apart).
	Latency  Summary
	Timeline []Second // one entry per second of the measured window

	// Histogram holds every successful request's latency in microseconds, for
	// charts or percentiles that Summary does not carry.
	Histogram *hdrhistogram.Histogram `json:"-"`
}

// Summary is a latency distribution in brief.
type Summary struct {
	Min, P50, P90, P99, P999, Max, Mean time.Duration
}

// Second is one second of the timeline. Requests belong to the second in which
// they were scheduled, so a stall shows up at the moment users arrived into it.
type Second struct {
	At            time.Duration // offset from the start of the measured window
	OK, Failed    int64
	P50, P99, Max time.Duration // latency of the second's successful requests
}

const (
	defaultMaxInFlight = 10_000
	defaultTimeout     = 10 * time.Second
	// minHighest is the histogram's upper bound unless the timeout asks for more;
	// larger values are clamped to it rather than lost.
	minHighest = 60 * time.Second
	sigFigs    = 3
	// secondSigFigs: a per-second histogram only feeds a chart, and at 2
	// digits (1%) it takes 20 KB instead of 140 KB, so a 10-minute run holds
	// 12 MB of them rather than 84 MB.
	secondSigFigs = 2
	// preciseFor is how much of a wait is left to preciseSleep: more than the
	// runtime timer's worst lateness, little enough that cancel stays prompt.
	preciseFor = 2 * time.Millisecond
	// drainSlack lets requests that hit their deadline get back to us.
	drainSlack = 100 * time.Millisecond
	// cancelGrace bounds how long Run waits for in-flight requests after its
	// context is canceled, so that a target that ignores its context cannot
	// keep an interrupted run alive.
	cancelGrace = time.Second
	// maxKinds and maxKindLen keep Errors small when a target returns
	// high-cardinality error texts (URLs, IDs).
	maxKinds   = 32
	maxKindLen = 64
	otherKind  = "other"
)

// Run drives target at cfg.Rate for cfg.Warmup+cfg.Duration from cfg.Start (or
// now), waits for in-flight requests (up to cfg.Timeout), and returns what it
// measured. When ctx is canceled it stops early, cancels in-flight requests and
// returns the partial Result together with an error wrapping ctx.Err(), so
// that an interrupted run can still be reported.
func Run(ctx context.Context, cfg Config, target Target) (*Result, error) {
	r, err := newRunner(cfg, target)
	if err != nil {
		return nil, err
	}
	return r.run(ctx)
}

// runner holds the state of one Run.
type runner struct {
	cfg     Config
	target  Target
	highest int64 // histogram upper bound in µs

	start        time.Time // arrival 0, beginning of the warmup
	measureStart time.Time // first recorded arrival
	interval     float64   // nanoseconds between arrivals
	total        int64     // arrivals in warmup + measured window
	warm         int64     // arrivals [0, warm) are warmup
	stoppedAt    time.Time // end of the measured window (early if canceled)

	// sent, dropped and maxLag are written only by the scheduling goroutine,
	// inFlight also by finishing requests; the counters are atomics because
	// the progress line reads them concurrently.
	inFlight atomic.Int64
	sent     atomic.Int64
	dropped  atomic.Int64
	maxLag   time.Duration
	wg       sync.WaitGroup

	// One mutex guards the recordings: a lock costs tens of nanoseconds, far
	// below the per-request cost of a goroutine and a context, and it keeps
	// the histograms exact (BenchmarkRun measures the resulting ceiling).
	mu      sync.Mutex
	closed  bool // set when Run gives up on stragglers; later recordings are ignored
	ok      int64
	failed  int64
	errs    map[string]int64
	hist    *hdrhistogram.Histogram
	seconds []second

	// stallHook, when set by a test, runs in the scheduling loop before each
	// batch of launches; it simulates the generator itself pausing (GC, CPU).
	stallHook func(next int64)
}

type second struct {
	ok, failed int64
	hist       *hdrhistogram.Histogram // nil until the second's first success
}

func newRunner(cfg Config, target Target) (*runner, error) {
	switch {
	case target == nil:
		return nil, errors.New("loadgen: target is nil")
	case !(cfg.Rate > 0) || math.IsInf(cfg.Rate, 0):
		return nil, fmt.Errorf("loadgen: rate must be a positive number, got %v", cfg.Rate)
	case cfg.Duration <= 0:
		return nil, fmt.Errorf("loadgen: duration must be positive, got %v", cfg.Duration)
	case cfg.Warmup < 0:
		return nil, fmt.Errorf("loadgen: warmup must not be negative, got %v", cfg.Warmup)
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = defaultMaxInFlight
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTimeout
	}
	highest := max(minHighest, 2*cfg.Timeout).Microseconds()
	// Arrival i is at i/Rate; the schedule holds every i with i/Rate < end.
	// The epsilon keeps 2000/s × 1s at 2000 arrivals despite float rounding.
	count := func(d time.Duration) int64 { return int64(math.Ceil(cfg.Rate*d.Seconds() - 1e-9)) }
	return &runner{
		cfg:      cfg,
		target:   target,
		highest:  highest,
		interval: float64(time.Second) / cfg.Rate,
		total:    count(cfg.Warmup + cfg.Duration),
		warm:     count(cfg.Warmup),
		errs:     make(map[string]int64),
		hist:     hdrhistogram.New(1, highest, sigFigs),
		seconds:  make([]second, int(math.Ceil(cfg.Duration.Seconds()))),
	}, nil
}

func (r *runner) run(parent context.Context) (*Result, error) {
	// ctx also cancels requests still running when Run returns.
	ctx, cancel := context.WithCancel(parent)
	defer cancel()

	r.start = time.Now()
	if r.cfg.Start.After(r.start) {
		r.start = r.cfg.Start
	}
	r.measureStart = r.start.Add(r.cfg.Warmup)
	stopProgress := r.startProgress()
	r.schedule(ctx)
	r.drain(ctx)
	stopProgress()

	res := r.result()
	if err := parent.Err(); err != nil {
		return res, fmt.Errorf("loadgen: scenario %q interrupted: %w", r.cfg.Name, err)
	}
	return res, nil
}

// at is the scheduled time of arrival i. Computing it from i rather than
// adding an interval to the previous time keeps rounding from drifting.
func (r *runner) at(i int64) time.Time {
	return r.start.Add(time.Duration(float64(i) * r.interval))
}

// schedule launches every arrival at its scheduled time. One loop sleeps until
// the next arrival is due and then launches all that are due, so when the
// generator wakes late (timer granularity, GC, a busy CPU) it catches up in a
// burst instead of silently sending fewer requests.
func (r *runner) schedule(ctx context.Context) {
	// The window ends at the end of the schedule, not at the last arrival,
	// which comes up to 1/Rate earlier; only a cancel cuts it short.
	r.stoppedAt = r.measureStart.Add(r.cfg.Duration)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for next := int64(0); next < r.total; {
		if r.stallHook != nil {
			r.stallHook(next)
		}
		now := time.Now()
		for ; next < r.total; next++ {
			at := r.at(next)
			if at.After(now) {
				break
			}
			r.launch(ctx, next, at)
		}
		if next < r.total && !waitUntil(ctx, timer, r.at(next)) {
			r.stoppedAt = time.Now()
			return
		}
	}
}

// waitUntil returns at t, or false as soon as ctx is done. The bulk of a long
// wait uses a runtime timer, which can be interrupted; the last couple of
// milliseconds use preciseSleep, because the runtime timer may wake ~1ms late
// and every bit of that lateness would be reported as latency.
func waitUntil(ctx context.Context, timer *time.Timer, t time.Time) bool {
	for {
		d := time.Until(t)
		switch {
		case ctx.Err() != nil:
			return false
		case d <= 0:
			return true
		case d > preciseFor:
			// Since Go 1.23 Reset needs no drain: a stale tick is never delivered.
			timer.Reset(d - preciseFor)
			select {
			case <-ctx.Done():
				return false
			case <-timer.C:
			}
		default:
			preciseSleep(d)
		}
	}
}

func (r *runner) launch(ctx context.Context, i int64, at time.Time) {
	recorded := i >= r.warm
	// Only this goroutine increments inFlight, so the check cannot be raced
	// past the bound. Waiting for a free slot instead of dropping would turn
	// the generator back into a closed loop.
	if r.inFlight.Load() >= int64(r.cfg.MaxInFlight) {
		if recorded {
			r.dropped.Add(1)
		}
		return
	}
	if recorded {
		r.sent.Add(1)
		r.maxLag = max(r.maxLag, time.Since(at))
	}
	r.inFlight.Add(1)
	r.wg.Go(func() { r.do(ctx, at, recorded) })
}

func (r *runner) do(ctx context.Context, at time.Time, recorded bool) {
	defer r.inFlight.Add(-1)
	reqCtx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	reqCtx = context.WithValue(reqCtx, scheduledKey{}, at)
	err := r.target(reqCtx)
	// Latency runs from the scheduled time, not from when the request really
	// started: this is what keeps a stall, or a late generator, from being
	// coordinated out of the measurement.
	latency := time.Since(at)
	if !recorded {
		return
	}
	kind := ""
	if err != nil {
		kind = errKind(ctx, reqCtx, err)
	}
	r.record(at, latency, kind)
}

// scheduledKey is the context key of a request's scheduled time. An empty
// struct key costs no allocation; the time.Time value costs one small one.
type scheduledKey struct{}

// Scheduled returns the time at which the request whose context the Target
// got was scheduled, and false for a context that did not come from Run. A
// target that stamps its message with this time (rather than time.Now) lets a
// receiver measure end-to-end latency from the schedule too, so a late
// generator or a queue in front of the target is not coordinated out of it.
func Scheduled(ctx context.Context) (time.Time, bool) {
	at, ok := ctx.Value(scheduledKey{}).(time.Time)
	return at, ok
}

// errKind classifies by the contexts first, because targets report a missed
// deadline in many shapes (url.Error, gRPC status, wrapped or not).
func errKind(runCtx, reqCtx context.Context, err error) string {
	switch {
	case runCtx.Err() != nil:
		return "canceled"
	case reqCtx.Err() != nil, errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	kind := err.Error()
	if len(kind) > maxKindLen {
		kind = strings.ToValidUTF8(kind[:maxKindLen], "") // don't leave half a rune
	}
	return kind
}

func (r *runner) record(at time.Time, latency time.Duration, kind string) {
	s := min(int(at.Sub(r.measureStart)/time.Second), len(r.seconds)-1)
	us := min(max(latency.Microseconds(), 1), r.highest)

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	sec := &r.seconds[s]
	if kind != "" {
		r.failed++
		sec.failed++
		r.countError(kind, 1)
		return
	}
	r.ok++
	sec.ok++
	if sec.hist == nil {
		sec.hist = hdrhistogram.New(1, r.highest, secondSigFigs)
	}
	// us is within the histograms' range, so recording cannot fail.
	_ = r.hist.RecordValue(us)
	_ = sec.hist.RecordValue(us)
}

// countError must be called with r.mu held.
func (r *runner) countError(kind string, n int64) {
	if _, seen := r.errs[kind]; !seen && len(r.errs) >= maxKinds {
		kind = otherKind
	}
	r.errs[kind] += n
}

// drain waits for in-flight requests. Each has its own deadline, so a target
// that honours its context is done within Timeout; one that does not is
// abandoned and counted as failed rather than allowed to hang the run.
func (r *runner) drain(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	deadline := time.NewTimer(r.cfg.Timeout + drainSlack)
	defer deadline.Stop()
	kind := "timeout"
	select {
	case <-done:
		return
	case <-deadline.C:
	case <-ctx.Done():
		kind = "canceled"
		grace := time.NewTimer(min(r.cfg.Timeout, cancelGrace))
		defer grace.Stop()
		select {
		case <-done:
			return
		case <-grace.C:
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if n := r.sent.Load() - r.ok - r.failed; n > 0 {
		r.failed += n
		r.countError(kind, n)
	}
}

func (r *runner) result() *Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true

	window := min(max(r.stoppedAt.Sub(r.measureStart), 0), r.cfg.Duration)
	res := &Result{
		Name:      r.cfg.Name,
		Rate:      r.cfg.Rate,
		Duration:  window,
		Sent:      r.sent.Load(),
		OK:        r.ok,
		Failed:    r.failed,
		Dropped:   r.dropped.Load(),
		Errors:    make(map[string]int64, len(r.errs)),
		MaxLag:    r.maxLag,
		Latency:   summarize(r.hist),
		Histogram: r.hist,
	}
	for k, v := range r.errs {
		res.Errors[k] = v
	}
	if window > 0 {
		res.Achieved = float64(r.ok) / window.Seconds()
	}
	n := min(int(math.Ceil(window.Seconds())), len(r.seconds))
	res.Timeline = make([]Second, n)
	for i, s := range r.seconds[:n] {
		res.Timeline[i] = Second{At: time.Duration(i) * time.Second, OK: s.ok, Failed: s.failed}
		if s.hist != nil {
			res.Timeline[i].P50 = micros(s.hist.ValueAtQuantile(50))
			res.Timeline[i].P99 = micros(s.hist.ValueAtQuantile(99))
			res.Timeline[i].Max = micros(s.hist.Max())
		}
	}
	return res
}

func summarize(h *hdrhistogram.Histogram) Summary {
	if h.TotalCount() == 0 {
		return Summary{}
	}
	return Summary{
		Min:  micros(h.Min()),
		P50:  micros(h.ValueAtQuantile(50)),
		P90:  micros(h.ValueAtQuantile(90)),
		P99:  micros(h.ValueAtQuantile(99)),
		P999: micros(h.ValueAtQuantile(99.9)),
		Max:  micros(h.Max()),
		Mean: time.Duration(h.Mean() * float64(time.Microsecond)),
	}
}

func micros(us int64) time.Duration { return time.Duration(us) * time.Microsecond }
