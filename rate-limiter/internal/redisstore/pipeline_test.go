package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// 200 concurrent Allow calls share pipelines: far fewer round trips than calls, and every call
// still gets its own, correct answer.
func TestConcurrentCallsShareRoundTrips(t *testing.T) {
	t.Parallel()
	env := testkit.Redis(t)
	// Each round trip takes 50 ms, so the calls queue behind the one in flight however slowly a
	// loaded machine schedules their goroutines (on a fast link a 2-core CI box may run them so
	// spread out that many go alone, which says nothing about coalescing).
	hook := &countingHook{delay: 50 * time.Millisecond}
	client := newClient(t, env, nil)
	client.AddHook(hook)
	s := New(client, Options{Prefix: env.Prefix, Timeout: 5 * time.Second})
	t.Cleanup(func() { _ = s.Close() })
	require.NoError(t, s.Load(context.Background()))
	before := hook.roundTrips()

	const calls = 200
	l := limit.Limit{Algorithm: limit.FixedWindow, Requests: 150, Period: time.Hour}
	avoidWindowEnd(t, env.Client, l.Period, 5*time.Second)
	var wg sync.WaitGroup
	var ok atomic.Int64
	start := make(chan struct{})
	for i := range calls {
		wg.Go(func() {
			<-start
			key := "shared"
			if i%2 == 1 {
				key = "other"
			}
			d, err := s.Allow(context.Background(), limit.Request{Key: key, Limit: l})
			if assert.NoError(t, err) && d.Allowed {
				ok.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	trips := hook.roundTrips() - before
	t.Logf("%d calls in %d round trips (%d pipelines, %d commands in them)", calls, trips,
		hook.pipelines.Load(), hook.piped.Load())
	assert.Equal(t, int64(calls), ok.Load(), "each key takes 100 of 150")
	assert.Less(t, trips, int64(calls/4), "calls were not coalesced into pipelines")
	assert.Less(t, hook.piped.Load(), int64(calls/4), "requests were not coalesced into script runs")
}

// A lone call is sent at once, in a pipeline of one: batching adds no wait when idle.
func TestLoneCallIsNotDelayed(t *testing.T) {
	t.Parallel()
	env := testkit.Redis(t)
	hook := &countingHook{}
	client := newClient(t, env, nil)
	client.AddHook(hook)
	s := New(client, Options{Prefix: env.Prefix, Timeout: time.Second})
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	l := limit.Limit{Algorithm: limit.GCRA, Requests: 1000, Period: time.Second}
	_, err := s.Allow(ctx, limit.Request{Key: "k", Limit: l}) // loads the script if needed
	require.NoError(t, err)

	// The fastest of many: scheduling noise only ever adds.
	lone, direct := time.Hour, time.Hour
	for range 50 {
		t0 := time.Now()
		_, err := s.Allow(ctx, limit.Request{Key: "k", Limit: l})
		require.NoError(t, err)
		lone = min(lone, time.Since(t0))
		t0 = time.Now()
		require.NoError(t, client.EvalSha(ctx, gcraScript.script.Hash(), []string{s.key("k", "gcra")}, 1000, 1000000, 1000, 1).Err())
		direct = min(direct, time.Since(t0))
	}
	t.Logf("fastest lone Allow %s, fastest plain EVALSHA %s", lone, direct)
	assert.Less(t, lone, direct+500*time.Microsecond, "a lone call waited for company")
}

// AllowBatch is one round trip however many requests it carries.
func TestAllowBatchIsOneRoundTrip(t *testing.T) {
	t.Parallel()
	env := testkit.Redis(t)
	hook := &countingHook{}
	client := newClient(t, env, nil)
	client.AddHook(hook)
	s := New(client, Options{Prefix: env.Prefix, Timeout: time.Second})
	t.Cleanup(func() { _ = s.Close() })
	require.NoError(t, s.Load(context.Background()))
	before := hook.roundTrips()

	reqs := make([]limit.Request, 0, 64)
	for i := range 64 {
		alg := limit.Algorithms[i%len(limit.Algorithms)]
		reqs = append(reqs, limit.Request{Key: "k", Limit: limit.Limit{Algorithm: alg, Requests: 100, Period: time.Minute}})
	}
	ds, err := s.AllowBatch(context.Background(), reqs)
	require.NoError(t, err)
	require.Len(t, ds, 64)
	assert.Equal(t, 64, admitted(ds))
	assert.Equal(t, int64(1), hook.roundTrips()-before)
}

// A script missing from the server's cache (first use, SCRIPT FLUSH, a failover to a fresh
// replica) gets NOSCRIPT inside a pipeline; those runs are retried with EVAL and succeed, each
// call getting its own reply, and the next EVALSHA finds the script cached.
func TestNoScriptInPipelineIsRetried(t *testing.T) {
	t.Parallel()
	env := testkit.Redis(t)
	hook := &countingHook{}
	client := newClient(t, env, nil)
	client.AddHook(hook)
	s := New(client, Options{Prefix: env.Prefix, Timeout: 5 * time.Second})
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()

	// Scripts no server has seen: a unique comment changes their SHA. One plain script, run
	// once per call, and one decision script, which decides several requests per run.
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	comment := "-- " + hex.EncodeToString(nonce) + "\n"
	incr := &namedScript{name: "incr", script: redis.NewScript(comment + "return redis.call('INCR', KEYS[1])")}
	gcra := decider("fresh-gcra", comment+gcraLua)
	counter := env.Key("n")
	l := limit.Limit{Algorithm: limit.GCRA, Requests: 5, Period: time.Minute}

	var calls []*call
	for range 4 {
		calls = append(calls, &call{op: incr, keys: []string{counter}})
	}
	for range 7 {
		c := s.invocation(limit.Request{Key: "k", Limit: l})
		c.op = gcra
		calls = append(calls, c)
	}
	require.NoError(t, s.b.do(ctx, calls))
	for i, c := range calls[:4] {
		require.NoError(t, c.err, "call %d", i)
		assert.Equal(t, int64(i+1), c.val, "call %d ran once, in order", i)
	}
	var ds []limit.Decision
	for i, c := range calls[4:] {
		require.NoError(t, c.err, "request %d", i)
		d, err := decode(c.val, l)
		require.NoError(t, err)
		ds = append(ds, d)
	}
	assert.Equal(t, 5, admitted(ds), "each request decided once")
	assert.Equal(t, int64(0), ds[4].Remaining)
	assert.Equal(t, int64(2), hook.pipelines.Load(), "one pipeline met NOSCRIPT, one retried")
	assert.Equal(t, int64(5+5), hook.piped.Load(), "4 + 1 runs, twice")

	c := s.invocation(limit.Request{Key: "k", Limit: l})
	c.op = gcra
	require.NoError(t, s.b.do(ctx, []*call{c}))
	require.NoError(t, c.err)
	d, err := decode(c.val, l)
	require.NoError(t, err)
	assert.False(t, d.Allowed)
	assert.Equal(t, int64(3), hook.pipelines.Load(), "the script is cached now")
	require.NoError(t, client.Expire(ctx, counter, time.Minute).Err())
}

// stallProxy forwards TCP to a backend until stall is called; from then on it reads and drops
// everything and answers nothing, like a server that hangs. release closes every connection.
type stallProxy struct {
	ln      net.Listener
	backend string
	stalled atomic.Bool
	mu      sync.Mutex
	conns   []net.Conn
}

func newStallProxy(t *testing.T, backend string) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &stallProxy{ln: ln, backend: backend}
	go p.serve()
	t.Cleanup(p.release)
	return p
}

func (p *stallProxy) addr() string { return p.ln.Addr().String() }
func (p *stallProxy) stall()       { p.stalled.Store(true) }

func (p *stallProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.backend)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go p.pump(up, c)
		go p.pump(c, up)
	}
}

func (p *stallProxy) pump(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			_ = dst.Close()
			return
		}
		if p.stalled.Load() {
			continue // swallowed: the other side waits forever
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

func (p *stallProxy) release() {
	_ = p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

// When Redis hangs, a sent call fails with a deadline error once the store's timeout has passed,
// not when the client's socket timeout (seconds) would end it: the pipeline's own timer answers
// it even from a client built without ContextTimeoutEnabled.
func TestStalledRedisFailsWithinTheTimeout(t *testing.T) {
	t.Parallel()
	env := testkit.Redis(t)
	proxy := newStallProxy(t, env.Addr)
	client := newClient(t, env, func(o *redis.Options) {
		o.Addr = proxy.addr()
		o.ReadTimeout = 5 * time.Second // a client that would wait long on its own
		o.MaxRetries = -1
	})
	// Bounds far apart, so a loaded machine cannot blur them: the store's timeout (1 s) is far
	// below the client's ReadTimeout (5 s) and far above the caller's own deadline below (20 ms).
	const timeout = time.Second
	s := New(client, Options{Prefix: env.Prefix, Timeout: timeout})
	defer func() {
		proxy.release() // unblock the pipelines in flight so that Close returns
		require.NoError(t, s.Close())
	}()
	ctx := context.Background()
	l := limit.Limit{Algorithm: limit.GCRA, Requests: 100, Period: time.Second}
	_, err := s.Allow(ctx, limit.Request{Key: "k", Limit: l})
	require.NoError(t, err, "through the proxy before it stalls")

	proxy.stall()
	t0 := time.Now()
	_, err = s.Allow(ctx, limit.Request{Key: "k", Limit: l})
	took := time.Since(t0)
	assert.ErrorIs(t, err, errDeadline)
	var trip *limit.RoundTripError
	assert.ErrorAs(t, err, &trip, "a failed round trip, for the breaker to count once")
	assert.GreaterOrEqual(t, took, timeout-time.Millisecond)
	assert.Less(t, took, 2*timeout, "took %s: bounded by the store, not the client's 5 s", took)

	// A caller's own, shorter deadline ends its wait while its request is still queued (here
	// behind the pipeline the client still holds): its context's error, and nothing was sent.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	t0 = time.Now()
	_, err = s.AllowBatch(short, []limit.Request{{Key: "k", Limit: l}})
	took = time.Since(t0)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)
	assert.Less(t, took, timeout/2, "the caller's 20 ms deadline, not the store's 1 s")
}

// A caller that gives up while queued is dropped before its script is sent, so nothing is
// consumed for it, while the live calls of the same batch go ahead.
func TestAbandonedCallIsNotSent(t *testing.T) {
	t.Parallel()
	s, env := newStore(t, Options{})
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	l := limit.Limit{Algorithm: limit.SlidingLog, Requests: 5, Period: time.Minute}
	newJob := func(ctx context.Context, key string) *job {
		return &job{ctx: ctx, calls: []*call{s.invocation(limit.Request{Key: key, Limit: l})}, done: make(chan struct{})}
	}
	abandoned, live := newJob(gone, "gone"), newJob(context.Background(), "live")
	s.b.run([]*job{abandoned, live}, nil)
	<-abandoned.done
	<-live.done
	assert.ErrorIs(t, abandoned.calls[0].err, context.Canceled)
	require.NoError(t, live.calls[0].err)
	keys := keysUnder(t, env.Client, env.Prefix)
	assert.Equal(t, []string{s.key("live", "sl")}, keys)
}

// gateHook holds every pipeline of scripts until the test lets it go, and says when one is held.
type gateHook struct {
	held chan struct{}
	open chan struct{}
}

func (h *gateHook) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *gateHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *gateHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && isEval(cmds[0]) {
			h.held <- struct{}{}
			<-h.open
		}
		return next(ctx, cmds)
	}
}

// The queue in front of Redis is bounded: with the one pipeline in flight held and the queue
// full, the next call is refused at once with ErrOverloaded, unsent and counted in the metric,
// while the queued calls are answered once Redis is reached again.
func TestFullQueueRefusesWithErrOverloaded(t *testing.T) {
	t.Parallel()
	env := testkit.Redis(t)
	gate := &gateHook{held: make(chan struct{}, 10), open: make(chan struct{})}
	client := newClient(t, env, nil)
	client.AddHook(gate)
	s := New(client, Options{Prefix: env.Prefix, Timeout: 10 * time.Second, QueueLimit: 2, Pipelines: 1})
	t.Cleanup(func() { _ = s.Close() })
	require.NoError(t, s.Load(context.Background()))
	l := limit.Limit{Algorithm: limit.GCRA, Requests: 100, Period: time.Minute}
	allow := func(key string) error {
		_, err := s.Allow(context.Background(), limit.Request{Key: key, Limit: l})
		return err
	}

	var wg sync.WaitGroup
	errs := make([]error, 3)
	wg.Go(func() { errs[0] = allow("first") })
	<-gate.held // the first call's pipeline is in flight, held
	for i := 1; i <= 2; i++ {
		wg.Go(func() { errs[i] = allow("queued") })
	}
	for s.b.queued.Load() < 2 { // the two calls are in the queue
		runtime.Gosched()
	}
	err := allow("refused")
	assert.ErrorIs(t, err, limit.ErrOverloaded)
	assert.Equal(t, 1.0, testutil.ToFloat64(s.b.m.rejected))

	close(gate.open)
	wg.Wait()
	for i, err := range errs {
		assert.NoError(t, err, "call %d", i)
	}
	assert.Equal(t, uint64(3), histogramCount(t, s.b.m.queueWait), "every sent call's queue wait is observed")
	assert.NotContains(t, keysUnder(t, env.Client, env.Prefix), s.key("refused", "gcra"), "the refused call was never sent")
}

func histogramCount(t *testing.T, h prometheus.Histogram) uint64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(h))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	require.Len(t, mfs, 1)
	return mfs[0].GetMetric()[0].GetHistogram().GetSampleCount()
}
