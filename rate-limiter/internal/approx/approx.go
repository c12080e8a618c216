// Package approx is the rate limiter's approximate mode: each process decides fixed-window limits
// from its local view of the counters and ships its increments to Redis in the background, once
// per flush interval, in one pipeline. A decision then costs no network round trip at all — the
// trade gubernator's GLOBAL behaviour and Stripe's local-then-sync limiters make.
//
// The price is accuracy. Between two flushes each process admits against the global count it last
// saw plus its own unsent hits, so N processes can together over-admit by up to (N-1) × (what one
// process admits in one interval), and only while a key is near its limit. The test measures it
// (TestErrorWithThreeProcesses) and the README reports it. Other algorithms pass through to the
// exact store: their state is not a sum of increments, so it cannot be merged late.
package approx

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
)

// Options configure a Store.
type Options struct {
	Prefix string        // Redis key prefix (default "rla:")
	Flush  time.Duration // how often increments go to Redis (default 20ms)
	Now    func() time.Time
	Logger *slog.Logger
}

// Store decides fixed windows locally and syncs them; everything else goes to Exact.
type Store struct {
	exact  limit.Store
	rdb    redis.UniversalClient
	o      Options
	mu     sync.Mutex
	counts map[string]*counter // by Redis key (which names the window)
	stop   chan struct{}
	done   chan struct{}
}

type counter struct {
	global  int64     // the total Redis returned at the last flush (every process's hits)
	pending int64     // this process's hits not yet sent
	end     time.Time // the window's end: the counter is dropped after it
}

// New starts the flush loop; Close stops it after a last flush.
func New(exact limit.Store, rdb redis.UniversalClient, o Options) *Store {
	if o.Prefix == "" {
		o.Prefix = "rla:"
	}
	if o.Flush <= 0 {
		o.Flush = 20 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Store{exact: exact, rdb: rdb, o: o, counts: map[string]*counter{}, stop: make(chan struct{}), done: make(chan struct{})}
	go s.loop()
	return s
}

// Allow decides a fixed-window request locally; other algorithms ask the exact store.
func (s *Store) Allow(ctx context.Context, req limit.Request) (limit.Decision, error) {
	if err := limit.Check(req); err != nil {
		return limit.Decision{}, err
	}
	if req.Limit.Algorithm != limit.FixedWindow {
		return s.exact.Allow(ctx, req)
	}
	now := s.o.Now()
	l, cost := req.Limit, req.Cost()
	// Windows are aligned to the Unix epoch, as the exact fixed window's, so every process
	// counts into the same Redis key (clocks are NTP-synced; the error budget absorbs the rest).
	w := now.UnixNano() / int64(l.Period)
	end := time.Unix(0, (w+1)*int64(l.Period))
	key := s.o.Prefix + "{" + req.Key + "}:" + strconv.FormatInt(w, 10)

	s.mu.Lock()
	c := s.counts[key]
	if c == nil {
		c = &counter{end: end}
		s.counts[key] = c
	}
	used := c.global + c.pending
	d := limit.Decision{Limit: l.Requests, ResetAfter: end.Sub(now)}
	if cost <= l.Requests-used { // not used+cost: a cost near MaxInt64 would wrap and pass
		c.pending += cost
		d.Allowed, d.Remaining = true, l.Requests-used-cost
	} else {
		d.Remaining, d.RetryAfter = max(0, l.Requests-used), end.Sub(now)
	}
	s.mu.Unlock()
	return d, nil
}

// AllowBatch decides each request (local ones cost nothing to loop over).
func (s *Store) AllowBatch(ctx context.Context, reqs []limit.Request) ([]limit.Decision, error) {
	out := make([]limit.Decision, len(reqs))
	for i, r := range reqs {
		d, err := s.Allow(ctx, r)
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}

// Release passes through: concurrency leases are never approximate.
func (s *Store) Release(ctx context.Context, key, lease string) error {
	return s.exact.Release(ctx, key, lease)
}

// Close flushes what is pending, stops the loop and closes the exact store it was given.
func (s *Store) Close() error {
	close(s.stop)
	<-s.done
	return s.exact.Close()
}

func (s *Store) loop() {
	defer close(s.done)
	t := time.NewTicker(s.o.Flush)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			s.flush()
			return
		case <-t.C:
			s.flush()
		}
	}
}

// flush sends every live counter's pending hits (INCRBY 0 for those with none, which reads the
// other processes' progress) in one pipeline, and adopts the totals Redis returns.
func (s *Store) flush() {
	now := s.o.Now()
	type sent struct {
		key string
		n   int64
		end time.Time
		cmd *redis.IntCmd
	}
	s.mu.Lock()
	batch := make([]sent, 0, len(s.counts))
	for k, c := range s.counts {
		if !now.Before(c.end) {
			delete(s.counts, k) // the window is over: nothing about it matters any more
			continue
		}
		batch = append(batch, sent{key: k, n: c.pending, end: c.end})
	}
	s.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*s.o.Flush)
	defer cancel()
	pipe := s.rdb.Pipeline()
	for i := range batch {
		batch[i].cmd = pipe.IncrBy(ctx, batch[i].key, batch[i].n)
		pipe.PExpireAt(ctx, batch[i].key, batch[i].end.Add(time.Second)) // gone soon after its window
	}
	if _, err := pipe.Exec(ctx); err != nil {
		// Hits stay pending and go with the next flush; decisions go on from the local view.
		s.o.Logger.Warn("approximate mode: flush to redis failed; will retry", "keys", len(batch), "err", err)
		return
	}
	s.mu.Lock()
	for _, b := range batch {
		if c := s.counts[b.key]; c != nil {
			c.pending -= b.n // hits admitted during the flush stay pending
			c.global = b.cmd.Val()
		}
	}
	s.mu.Unlock()
}

var _ limit.Store = (*Store)(nil)
