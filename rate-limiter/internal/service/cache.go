package service

import (
	"hash/maphash"
	"sync"
	"time"
)

// overLimitCache remembers keys the store has just denied, until the time their denial lifts
// (Decision.RetryAfter). While a key is in it, a request of at least the same cost is denied
// locally, with no round trip to Redis: under attack, the hottest keys are the ones over their
// limit, so this removes most of the load exactly when it matters (envoy ratelimit's
// "local cache" does the same for fixed windows). It is safe because a denied request consumes
// nothing and other traffic can only delay, never hasten, the moment a key admits again — except
// for concurrency leases (a Release frees slots early), which are never cached.
type overLimitCache struct {
	seed   maphash.Seed
	shards [32]cacheShard
}

type cacheShard struct {
	mu sync.Mutex
	m  map[string]cached
}

type cached struct {
	until time.Time
	cost  int64 // the smallest cost known to be denied until then
}

func newOverLimitCache() *overLimitCache {
	c := &overLimitCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = map[string]cached{}
	}
	return c
}

func (c *overLimitCache) shard(key string) *cacheShard {
	return &c.shards[maphash.String(c.seed, key)%uint64(len(c.shards))]
}

// deniedUntil returns when a request of this cost on key will stop being denied, if known.
func (c *overLimitCache) deniedUntil(key string, cost int64, now time.Time) (time.Time, bool) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[key]
	if !ok {
		return time.Time{}, false
	}
	if !now.Before(e.until) {
		delete(s.m, key)
		return time.Time{}, false
	}
	return e.until, cost >= e.cost
}

// remember records that cost on key is denied until until.
func (c *overLimitCache) remember(key string, cost int64, until time.Time) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[key]; ok && e.until.After(until) && e.cost <= cost {
		return // what we know already is stronger
	}
	s.m[key] = cached{until: until, cost: cost}
}

// sweep drops expired entries; the engine calls it periodically so memory follows live keys.
func (c *overLimitCache) sweep(now time.Time) (left int) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			if !now.Before(e.until) {
				delete(s.m, k)
			}
		}
		left += len(s.m)
		s.mu.Unlock()
	}
	return left
}
