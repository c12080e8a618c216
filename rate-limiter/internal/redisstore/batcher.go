package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
)

// call is one script run, or one request of a decision script, waiting for its reply.
type call struct {
	op    *namedScript
	group string // calls of one op and group may share a script run (see Store.group)
	keys  []string
	args  []any

	val any
	err error
}

// job is one caller's calls (one Allow, or one AllowBatch whole): queued, sent and answered
// together, never split across pipelines.
type job struct {
	ctx    context.Context // the caller's
	calls  []*call
	queued time.Time
	state  atomic.Int32  // jobQueued → jobTaken by a worker, or jobAbandoned by its caller
	done   chan struct{} // closed when every call's val or err is set
}

// A job's states. Whoever moves it out of jobQueued decides its fate: a taken job is answered
// (sent, or failed by the store), an abandoned one is never sent.
const (
	jobQueued int32 = iota
	jobTaken
	jobAbandoned
)

// errDeadline marks a pipeline that was written to Redis and not answered within the store's
// timeout. It deliberately does not wrap context.DeadlineExceeded: that is the caller's own
// deadline, which is no sign of an unhealthy Redis.
var errDeadline = errors.New("no reply from redis within the deadline")

// batcher coalesces concurrent calls into pipelines. Each of its workers takes the first queued
// job, then every other job already queued (up to maxBatch calls), and sends them as one
// pipeline. While every worker waits on Redis, new jobs pile up in the queue and leave together
// in the next pipeline: batches grow with load, and an idle store sends a lone call at once.
//
// The queue holds at most queueLimit calls: beyond that a caller is refused at once with
// limit.ErrOverloaded (backpressure), and is never counted nor admitted. Time spent queued is
// not part of the store's deadline: a busy process makes callers wait, it does not make Redis
// look down. The deadline starts when a pipeline is written, and only a pipeline that misses it
// (or a lost connection, or an error reply) is a store failure. Jobs queued behind a failed
// pipeline are still sent: they were never sent, so nothing says Redis failed them. Once the
// engine's breaker opens (after a few failed round trips), new checks stop coming.
//
// Within a pipeline, requests for the same decision script and the same Redis Cluster slot (on
// a single server: all of them) share one EVALSHA, up to perScript requests: the script decides
// them in order, at one reading of TIME. On Redis a script run's fixed cost (the call, its
// argument tables, TIME) is a large part of a decision's: sharing it cuts the server's work per
// request by a third (sliding window) to a half (GCRA, token bucket).
type batcher struct {
	client     redis.UniversalClient
	maxBatch   int
	perScript  int
	timeout    time.Duration // the deadline of a pipeline when round trips are fast
	slowRTT    atomic.Int64  // moving average of answered round trips, in ns (see deadline)
	queueLimit int64
	m          *metrics

	queued  atomic.Int64 // calls in the queue, not yet taken by a worker
	queue   chan *job
	closing chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

func newBatcher(client redis.UniversalClient, o Options, m *metrics) *batcher {
	b := &batcher{
		client:     client,
		maxBatch:   o.MaxBatch,
		perScript:  o.PerScript,
		timeout:    o.Timeout,
		queueLimit: int64(o.QueueLimit),
		m:          m,
		queue:      make(chan *job, o.QueueLimit), // never full: every job holds at least one counted call
		closing:    make(chan struct{}),
	}
	b.wg.Add(o.Pipelines)
	for range o.Pipelines {
		go b.work()
	}
	return b
}

// do queues calls, as one job, for the shared pipelines and waits for their replies. Each call's
// val and err are set when it returns nil. It returns limit.ErrOverloaded when the queue is full,
// and ctx's error when the caller gives up before the calls are sent; once they are sent it waits
// for their outcome (bounded by the store's timeout), so that a store failure is always reported.
func (b *batcher) do(ctx context.Context, calls []*call) error {
	j := &job{ctx: ctx, calls: calls, queued: time.Now(), done: make(chan struct{})}
	n := int64(len(calls))
	// A job larger than the whole queue still goes when the queue is empty.
	if q := b.queued.Add(n); q > b.queueLimit && q != n {
		b.queued.Add(-n)
		b.m.rejected.Add(float64(n))
		return fmt.Errorf("%w (%d requests queued, at most %d)", limit.ErrOverloaded, q-n, b.queueLimit)
	}
	select {
	case b.queue <- j:
	case <-b.closing:
		b.queued.Add(-n)
		return ErrClosed
	}
	select {
	case <-j.done:
		return nil
	case <-b.closing:
		return ErrClosed
	case <-ctx.Done():
	}
	if j.state.CompareAndSwap(jobQueued, jobAbandoned) || j.state.Load() == jobAbandoned {
		return context.Cause(ctx) // never sent: nothing was counted for it
	}
	select { // taken: the pipeline's deadline bounds this wait
	case <-j.done:
		return nil
	case <-b.closing:
		return ErrClosed
	}
}

func (b *batcher) close() {
	b.once.Do(func() {
		close(b.closing)
		b.wg.Wait()
	})
}

func (b *batcher) work() {
	defer b.wg.Done()
	jobs := make([]*job, 0, b.maxBatch)
	calls := make([]*call, 0, b.maxBatch)
	for {
		jobs = jobs[:0]
		n := 0
		select {
		case j := <-b.queue:
			jobs, n = append(jobs, j), len(j.calls)
		case <-b.closing:
			return
		}
	collect:
		for n < b.maxBatch {
			select {
			case j := <-b.queue:
				jobs, n = append(jobs, j), n+len(j.calls)
			default:
				break collect
			}
		}
		b.queued.Add(-int64(n))
		b.run(jobs, calls[:0])
	}
}

// take claims j for sending; false when its caller gave up while it was queued.
func (b *batcher) take(j *job) bool {
	if j.ctx.Err() != nil {
		j.state.CompareAndSwap(jobQueued, jobAbandoned)
	}
	return j.state.CompareAndSwap(jobQueued, jobTaken)
}

// deadline is the time a pipeline written now has to be answered: the configured timeout, or 4×
// the moving average of recent round trips when that is longer — on a machine so busy that
// answered round trips themselves take tens of milliseconds (Redis and this process waiting for
// CPU), a fixed 50 ms would call a healthy Redis failed — but never more than 10× the timeout,
// so a hung Redis is still noticed within half a second by default.
func (b *batcher) deadline() time.Duration {
	d := min(max(b.timeout, 4*time.Duration(b.slowRTT.Load())), 10*b.timeout)
	b.m.deadline.Set(d.Seconds())
	return d
}

// observe feeds an answered round trip into the moving average (weight 1/8, as TCP's SRTT).
func (b *batcher) observe(rtt time.Duration) {
	old := b.slowRTT.Load()
	b.slowRTT.Store(old + (int64(rtt)-old)/8)
}

// finish answers every call of j with err, unsent.
func finish(j *job, err error) {
	for _, c := range j.calls {
		c.err = err
	}
	close(j.done)
}

// run sends one batch from the queue: jobs whose callers gave up are dropped (so that nothing
// is consumed for nobody), the rest go out in one pipeline.
func (b *batcher) run(jobs []*job, calls []*call) {
	closed := false
	select {
	case <-b.closing:
		closed = true // their callers were told ErrClosed: send nothing on their behalf
	default:
	}
	now := time.Now()
	sent := jobs[:0]
	for _, j := range jobs {
		switch {
		case closed:
			finish(j, ErrClosed)
		case !b.take(j):
			finish(j, context.Cause(j.ctx))
		default:
			b.m.queueWait.Observe(now.Sub(j.queued).Seconds())
			sent = append(sent, j)
			calls = append(calls, j.calls...)
		}
	}
	if len(calls) == 0 {
		return
	}
	// Whichever comes first answers the callers: the replies, or the deadline. The client's own
	// I/O ends at the deadline too when it is built with ContextTimeoutEnabled; this holds even
	// when it is not, or when the process is too busy to read the replies in time.
	var mu sync.Mutex
	answered := false
	timeout := b.deadline()
	deadline := time.AfterFunc(timeout, func() {
		mu.Lock()
		defer mu.Unlock()
		if answered {
			return
		}
		answered = true
		err := &limit.RoundTripError{Err: fmt.Errorf("%w of %s", errDeadline, timeout)}
		for _, j := range sent {
			finish(j, err)
		}
	})
	runs := b.exec(calls, timeout)
	deadline.Stop()
	mu.Lock() // waits for the deadline's answers, if they are being given
	late := answered
	answered = true
	mu.Unlock()
	if late {
		return
	}
	for _, r := range runs {
		b.answer(r)
	}
	for _, j := range sent {
		close(j.done)
	}
}

// scriptRun is one EVALSHA in a pipeline and the calls it answers.
type scriptRun struct {
	op    *namedScript
	calls []*call
	cmd   *redis.Cmd
	err   error // the run's error, worded as a missed deadline when the pipeline missed it
}

// exec runs calls as one pipeline and returns its script runs, for answer. Runs that met
// NOSCRIPT (the script cache was flushed, or this is the first use on this server) did not run:
// they are retried at once with EVAL, which also caches the script for the next EVALSHA.
func (b *batcher) exec(calls []*call, timeout time.Duration) []*scriptRun {
	runs := b.plan(calls)
	if err := b.pipeline(runs, false, timeout); err == nil {
		var again []*scriptRun
		for _, r := range runs {
			if isNoScript(r.err) {
				again = append(again, r)
			}
		}
		if len(again) > 0 {
			_ = b.pipeline(again, true, timeout) // its failures are in the runs' errors
		}
	}
	return runs
}

// plan cuts calls into script runs: the calls of one decision script and one group share runs
// of up to perScript requests, in the order they came; other scripts run once per call.
func (b *batcher) plan(calls []*call) []*scriptRun {
	type runKey struct {
		op    *namedScript
		group string
	}
	var runs []*scriptRun
	open := map[runKey]*scriptRun{}
	for _, c := range calls {
		if !c.op.batched {
			runs = append(runs, &scriptRun{op: c.op, calls: []*call{c}})
			continue
		}
		k := runKey{c.op, c.group}
		r := open[k]
		if r == nil || len(r.calls) == b.perScript {
			r = &scriptRun{op: c.op}
			open[k] = r
			runs = append(runs, r)
		}
		r.calls = append(r.calls, c)
	}
	return runs
}

// pipeline sends runs as one pipeline. The store's deadline starts here, when the pipeline is
// written, not when its callers queued. When the pipeline fails as a whole (no reply within the
// deadline, connection lost), every run gets one limit.RoundTripError, which it also returns, so
// that the breaker counts one failure, not one per request; error replies stay with their runs.
func (b *batcher) pipeline(runs []*scriptRun, eval bool, timeout time.Duration) error {
	pipe := b.client.Pipeline()
	for _, r := range runs {
		keys, args := r.calls[0].keys, r.calls[0].args
		if len(r.calls) > 1 {
			keys, args = nil, nil
			for _, c := range r.calls {
				keys = append(keys, c.keys...)
				args = append(args, c.args...)
			}
		}
		// A pipelined command's context is unused: the pipeline's, below, bounds the I/O.
		if eval {
			r.cmd = r.op.script.Eval(context.Background(), pipe, keys, args...)
		} else {
			r.cmd = r.op.script.EvalSha(context.Background(), pipe, keys, args...)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	_, _ = pipe.Exec(ctx) // each command carries its own error
	rtt := time.Since(start)
	var failed *limit.RoundTripError
	for _, r := range runs {
		r.err = r.cmd.Err()
		if r.err == nil || isRedisError(r.err) {
			continue
		}
		if failed == nil {
			failed = &limit.RoundTripError{Err: r.err}
			if ctx.Err() != nil {
				failed.Err = fmt.Errorf("%w of %s (%v)", errDeadline, timeout, r.err)
			}
		}
		r.err = failed
	}
	if failed == nil {
		b.observe(rtt)
		return nil
	}
	return failed
}

// answer hands each call of r its part of the reply: a decision script answers with one reply
// per request, in order.
func (b *batcher) answer(r *scriptRun) {
	err := r.err
	if err == nil && r.op.batched {
		replies, ok := r.cmd.Val().([]any)
		if !ok || len(replies) != len(r.calls) {
			err = fmt.Errorf("script %s answered %d requests with %#v", r.op.name, len(r.calls), r.cmd.Val())
		} else {
			for i, c := range r.calls {
				c.val = replies[i]
			}
		}
	} else if err == nil {
		r.calls[0].val = r.cmd.Val()
	}
	if err != nil {
		for _, c := range r.calls {
			c.err = err
		}
	}
}

func isNoScript(err error) bool {
	return err != nil && (errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT"))
}

// isRedisError reports an error reply from the server, as opposed to a network or context error.
func isRedisError(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled)
}
