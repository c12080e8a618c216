// Package memstore is the embedded default limit.Store: every key's algorithm state in process
// memory, in sharded maps, decided by the pure transitions of package limit. One process only —
// replicas that must share limits use the Redis store.
package memstore

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
)

// Store keeps every key's state in one of a power-of-two number of shards, each a map guarded by
// its own mutex, so requests for different keys rarely wait for each other. A background reaper
// deletes the states whose expiry has passed (limit.State.Expiry); a state found expired on
// access is reset in place, so memory follows the live keys.
//
// The number of keys is capped (WithMaxKeys, ADR 0007): a new key arriving at a full shard
// first deletes the expired keys among a sample of that shard's keys, and if none has expired,
// evicts the sampled key that expires soonest — the state closest to a fresh one, so forgetting
// it admits the fewest extra units. Keys in use are never refused.
type Store struct {
	clock    limit.Clock
	seed     maphash.Seed
	shards   []shard
	mask     uint64
	perShard int          // most keys a shard holds; 0: no cap
	evicted  atomic.Int64 // live keys evicted to make room

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type shard struct {
	mu   sync.Mutex
	m    map[string]*entry
	peak int      // the map's largest size since it was last rebuilt
	_    [40]byte // keep neighbouring shards' mutexes off one cache line
}

// entry is one key's state. The state is allocated once, when the key is first seen.
type entry struct {
	alg limit.Algorithm
	exp int64 // Unix nanoseconds from which the state no longer matters
	st  limit.State
}

// slot holds an entry and its state in one allocation, so a decision on a cold key misses the
// cache once for both.
type slot[S any, P interface {
	*S
	limit.State
}] struct {
	e entry
	s S
}

func newSlot[S any, P interface {
	*S
	limit.State
}](a limit.Algorithm) *entry {
	sl := &slot[S, P]{}
	sl.e.alg, sl.e.st = a, P(&sl.s)
	return &sl.e
}

// newEntry returns a fresh entry for the algorithm (known: the request passed limit.Check).
func newEntry(a limit.Algorithm) *entry {
	switch a {
	case limit.TokenBucket:
		return newSlot[limit.TokenBucketState](a)
	case limit.LeakyBucket:
		return newSlot[limit.LeakyBucketState](a)
	case limit.LeakyQueue:
		return newSlot[limit.LeakyQueueState](a)
	case limit.FixedWindow:
		return newSlot[limit.FixedWindowState](a)
	case limit.SlidingLog:
		return newSlot[limit.SlidingLogState](a)
	case limit.SlidingWindow:
		return newSlot[limit.SlidingWindowState](a)
	case limit.GCRA:
		return newSlot[limit.GCRAState](a)
	}
	return newSlot[limit.ConcurrencyState](a)
}

type options struct {
	shards  int
	reap    time.Duration
	maxKeys int
}

// DefaultMaxKeys caps a store built without WithMaxKeys. A GCRA key of ~35 bytes takes ~140 bytes
// of live heap (131 MB per million, README), so this bounds what a caller sending distinct
// descriptor values can make one process hold, well above any one process's real clients.
const DefaultMaxKeys = 1_000_000

// evictSample is how many of a full shard's keys are looked at to make room (Redis samples 5
// for its maxmemory policies; a few more make the choice closer to the true soonest expiry).
const evictSample = 8

// minPerShard is the fewest keys a shard of a capped store holds: rounding the cap down to a
// multiple of the shards then loses under 1/16 of it.
const minPerShard = 16

// Option configures New.
type Option func(*options)

// WithShards sets the number of shards, rounded up to a power of two (default 64).
func WithShards(n int) Option {
	return func(o *options) { o.shards = n }
}

// WithMaxKeys caps the keys held at n (default DefaultMaxKeys; n ≤ 0: no cap). The cap is split
// evenly over the shards (fewer shards for a cap below 16 per shard) and rounded down to a
// multiple of them, so the store holds at most n keys and starts evicting when one shard is full.
func WithMaxKeys(n int) Option {
	return func(o *options) { o.maxKeys = n }
}

// WithReapInterval sets how often the reaper deletes expired keys (default 10s). Between reaps
// an expired key costs memory but never a wrong decision.
func WithReapInterval(d time.Duration) Option {
	return func(o *options) { o.reap = d }
}

// New returns a store deciding by clock (limit.SystemClock{} when nil) and starts its reaper;
// Close stops it.
func New(clock limit.Clock, opts ...Option) *Store {
	o := options{shards: 64, reap: 10 * time.Second, maxKeys: DefaultMaxKeys}
	for _, opt := range opts {
		opt(&o)
	}
	if clock == nil {
		clock = limit.SystemClock{}
	}
	n := 1
	for n < o.shards {
		n <<= 1
	}
	perShard := 0
	if o.maxKeys > 0 {
		for n > 1 && n*minPerShard > o.maxKeys { // a small cap: fewer shards, so little is lost to rounding
			n >>= 1
		}
		perShard = o.maxKeys / n
	}
	s := &Store{
		clock:    clock,
		seed:     maphash.MakeSeed(),
		shards:   make([]shard, n),
		mask:     uint64(n - 1),
		perShard: perShard,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	for i := range s.shards {
		s.shards[i].m = make(map[string]*entry)
	}
	go s.reapEvery(max(o.reap, time.Millisecond))
	return s
}

func (s *Store) shard(key string) *shard {
	return &s.shards[maphash.String(s.seed, key)&s.mask]
}

// Allow decides one request. It never blocks on I/O, so it ignores ctx.
func (s *Store) Allow(_ context.Context, req limit.Request) (limit.Decision, error) {
	if err := limit.Check(req); err != nil {
		return limit.Decision{}, err
	}
	return s.decide(req, s.clock.Now()), nil
}

// AllowBatch decides the requests in order, each independently. It checks them all first, so a
// batch holding an invalid request is refused whole and decides nothing.
func (s *Store) AllowBatch(_ context.Context, reqs []limit.Request) ([]limit.Decision, error) {
	for i, req := range reqs {
		if err := limit.Check(req); err != nil {
			return nil, fmt.Errorf("request %d: %w", i, err)
		}
	}
	now := s.clock.Now()
	out := make([]limit.Decision, len(reqs))
	for i, req := range reqs {
		out[i] = s.decide(req, now)
	}
	return out, nil
}

func (s *Store) decide(req limit.Request, now time.Time) limit.Decision {
	sh := s.shard(req.Key)
	sh.mu.Lock()
	e := sh.m[req.Key]
	if e == nil && s.perShard > 0 && len(sh.m) >= s.perShard {
		s.makeRoom(sh, now.UnixNano())
	}
	switch {
	case e == nil || e.alg != req.Limit.Algorithm: // new, or the rule changed algorithm: start afresh
		e = newEntry(req.Limit.Algorithm)
		// Clone: the caller's key may share memory with a larger buffer we must not pin.
		sh.m[strings.Clone(req.Key)] = e
		sh.peak = max(sh.peak, len(sh.m))
	case e.exp <= now.UnixNano():
		reset(e.st) // lazily: an expired state decides like a fresh one; drop what it holds
	}
	d := e.st.Allow(now, req.Limit, req.Cost())
	e.exp = e.st.Expiry(req.Limit).UnixNano()
	sh.mu.Unlock()
	return d
}

// makeRoom frees at least one place in a full shard: it deletes the expired keys among a sample
// of evictSample keys (Go's map iteration starts at a random place) or, when none has expired,
// evicts the sampled key that expires soonest.
func (s *Store) makeRoom(sh *shard, now int64) {
	victim, soonest, freed, seen := "", int64(math.MaxInt64), false, 0
	for k, e := range sh.m {
		switch {
		case e.exp <= now:
			delete(sh.m, k)
			freed = true
		case victim == "" || e.exp < soonest:
			victim, soonest = k, e.exp
		}
		if seen++; seen == evictSample {
			break
		}
	}
	if !freed {
		delete(sh.m, victim)
		s.evicted.Add(1)
	}
}

// reset zeroes an expired state in place, without allocating, releasing large logs.
func reset(st limit.State) {
	const keep = 64 // a log this small is kept for reuse
	switch v := st.(type) {
	case *limit.TokenBucketState:
		*v = limit.TokenBucketState{}
	case *limit.LeakyBucketState:
		*v = limit.LeakyBucketState{}
	case *limit.LeakyQueueState:
		*v = limit.LeakyQueueState{}
	case *limit.FixedWindowState:
		*v = limit.FixedWindowState{}
	case *limit.SlidingWindowState:
		*v = limit.SlidingWindowState{}
	case *limit.GCRAState:
		*v = limit.GCRAState{}
	case *limit.SlidingLogState:
		if cap(v.Log) > keep {
			v.Log = nil
		}
		v.Log, v.Total = v.Log[:0], 0
	case *limit.ConcurrencyState:
		clear(v.Leases)
		if cap(v.Leases) > keep {
			v.Leases = nil
		}
		v.Leases, v.Held = v.Leases[:0], 0
	}
}

// Release returns a Concurrency lease's slots. Unknown keys and leases are not an error.
func (s *Store) Release(_ context.Context, key, lease string) error {
	sh := s.shard(key)
	sh.mu.Lock()
	if e := sh.m[key]; e != nil {
		if c, ok := e.st.(*limit.ConcurrencyState); ok {
			c.Release(lease) // the expiry can only move earlier; the reaper copes with a late one
		}
	}
	sh.mu.Unlock()
	return nil
}

// MaxKeys is the most keys the store holds (the cap rounded down to a multiple of the shards);
// 0 when there is no cap.
func (s *Store) MaxKeys() int { return s.perShard * len(s.shards) }

// Evicted is the number of live keys evicted to keep the store within its cap.
func (s *Store) Evicted() int64 { return s.evicted.Load() }

// Len is the number of keys held, expired or not.
func (s *Store) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// Close stops the reaper and waits for it to exit. The store still decides afterwards (expired
// states are then only reset on access, never deleted). Close is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.done
	return nil
}

func (s *Store) reapEvery(interval time.Duration) {
	defer close(s.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			s.reap(s.clock.Now().UnixNano())
		}
	}
}

// reap deletes every key expired at now and returns how many. A shard whose map has shrunk to a
// quarter of its peak is rebuilt, because a Go map never gives back the memory of deleted keys.
func (s *Store) reap(now int64) int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, e := range sh.m {
			if e.exp <= now {
				delete(sh.m, k)
				n++
			}
		}
		if sh.peak >= 1024 && len(sh.m) <= sh.peak/4 {
			m := make(map[string]*entry, len(sh.m))
			for k, e := range sh.m {
				m[k] = e
			}
			sh.m, sh.peak = m, len(m)
		}
		sh.mu.Unlock()
	}
	return n
}
