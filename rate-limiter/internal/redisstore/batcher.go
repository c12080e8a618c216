package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// call is one script run, or one request of a decision script, waiting for its reply.
type call struct {
	ctx   context.Context // the caller's
	op    *namedScript
	group string // calls of one op and group may share a script run (see Store.group)
	keys  []string
	args  []any

	val  any
	err  error
	done chan struct{} // closed when val and err are set
}

// batcher coalesces concurrent calls into pipelines. Each of its workers takes the first queued
// group of calls (one Allow, or one AllowBatch whole), then every other group already queued (up
// to maxBatch calls), and sends them as one pipeline.
// While every worker waits on Redis, new calls pile up in the queue and leave together in the
// next pipeline: batches grow with load, and an idle store sends a lone call at once.
//
// Within a pipeline, requests for the same decision script and the same Redis Cluster slot (on
// a single server: all of them) share one EVALSHA, up to perScript requests: the script decides
// them in order, at one reading of TIME. On Redis a script run's fixed cost (the call, its
// argument tables, TIME) is a large part of a decision's: sharing it cuts the server's work per
// request by a third (sliding window) to a half (GCRA, token bucket).
type batcher struct {
	client    redis.UniversalClient
	maxBatch  int
	perScript int
	timeout   time.Duration

	queue   chan []*call
	closing chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

func newBatcher(client redis.UniversalClient, maxBatch, perScript, workers int, timeout time.Duration) *batcher {
	b := &batcher{
		client:    client,
		maxBatch:  maxBatch,
		perScript: perScript,
		timeout:   timeout,
		queue:     make(chan []*call, 4*maxBatch*workers),
		closing:   make(chan struct{}),
	}
	b.wg.Add(workers)
	for range workers {
		go b.work()
	}
	return b
}

// do queues calls, as one group, for the shared pipelines and waits for all their replies, or
// for ctx. Each call's val and err are set when it returns nil.
func (b *batcher) do(ctx context.Context, calls []*call) error {
	for _, c := range calls {
		c.ctx, c.done = ctx, make(chan struct{})
	}
	select {
	case b.queue <- calls:
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-b.closing:
		return ErrClosed
	}
	for _, c := range calls {
		select {
		case <-c.done:
		case <-ctx.Done():
			// The scripts may still run; whatever they decide is lost with the caller.
			return context.Cause(ctx)
		case <-b.closing:
			return ErrClosed
		}
	}
	return nil
}

func (b *batcher) close() {
	b.once.Do(func() {
		close(b.closing)
		b.wg.Wait()
	})
}

func (b *batcher) work() {
	defer b.wg.Done()
	batch := make([]*call, 0, b.maxBatch)
	for {
		batch = batch[:0]
		select {
		case g := <-b.queue:
			batch = append(batch, g...)
		case <-b.closing:
			return
		}
	collect:
		for len(batch) < b.maxBatch {
			select {
			case g := <-b.queue:
				batch = append(batch, g...)
			default:
				break collect
			}
		}
		b.run(batch)
	}
}

// run sends one batch from the queue: calls whose callers gave up are dropped (so that nothing
// is consumed for nobody), the rest go out in one pipeline bounded by the store's timeout.
func (b *batcher) run(batch []*call) {
	closed := false
	select {
	case <-b.closing:
		closed = true // their callers were told ErrClosed: send nothing on their behalf
	default:
	}
	live := batch[:0]
	for _, c := range batch {
		if closed {
			c.err = ErrClosed
			close(c.done)
			continue
		}
		if err := c.ctx.Err(); err != nil {
			c.err = err
			close(c.done)
			continue
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	b.exec(ctx, live)
	cancel()
	for _, c := range live {
		close(c.done)
	}
}

// scriptRun is one EVALSHA in a pipeline and the calls it answers.
type scriptRun struct {
	op    *namedScript
	calls []*call
	cmd   *redis.Cmd
}

// exec runs calls as one pipeline and sets each call's val and err. Runs that met NOSCRIPT (the
// script cache was flushed, or this is the first use on this server) did not run: they are
// retried at once with EVAL, which also caches the script for the next EVALSHA.
func (b *batcher) exec(ctx context.Context, calls []*call) {
	runs := b.plan(calls)
	b.pipeline(ctx, runs, false)
	var again []*scriptRun
	for _, r := range runs {
		if isNoScript(r.cmd.Err()) {
			again = append(again, r)
		}
	}
	if len(again) > 0 {
		b.pipeline(ctx, again, true)
	}
	for _, r := range runs {
		b.answer(ctx, r)
	}
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

func (b *batcher) pipeline(ctx context.Context, runs []*scriptRun, eval bool) {
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
		if eval {
			r.cmd = r.op.script.Eval(ctx, pipe, keys, args...)
		} else {
			r.cmd = r.op.script.EvalSha(ctx, pipe, keys, args...)
		}
	}
	_, _ = pipe.Exec(ctx) // each command carries its own error
}

// answer hands each call of r its part of the reply: a decision script answers with one reply
// per request, in order.
func (b *batcher) answer(ctx context.Context, r *scriptRun) {
	val, err := r.cmd.Result()
	if err != nil && ctx.Err() != nil && !isRedisError(err) {
		// The pipeline's deadline passed: say so rather than "i/o timeout".
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	if err == nil && r.op.batched {
		replies, ok := val.([]any)
		if !ok || len(replies) != len(r.calls) {
			err = fmt.Errorf("script %s answered %d requests with %#v", r.op.name, len(r.calls), val)
		} else {
			for i, c := range r.calls {
				c.val = replies[i]
			}
		}
	} else if err == nil {
		r.calls[0].val = val
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
