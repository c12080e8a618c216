// Package cache is the block cache shared by every open SSTable: decompressed data blocks keyed by
// (file number, block offset), bounded in bytes.
//
// Replacement is CLOCK (Corbató 1968; see also "CLOCK-Pro", Jiang et al., USENIX ATC 2005), an
// approximation of LRU that needs no list manipulation on a hit: a hit only sets the entry's
// reference bit. On insertion the clock hand sweeps the slots, clearing set bits and evicting
// the first entry whose bit is already clear. The cache is split into shards by a hash of the
// key, each with its own lock and its own share of the byte budget, so concurrent readers of
// different blocks rarely contend.
package cache

import (
	"sync"
	"sync/atomic"
)

// numShards must be a power of two.
const numShards = 32

// EntryOverhead is the bookkeeping charged per cached block on top of its length (slot, map
// entry, slice header), so the byte bound holds for small blocks too.
const EntryOverhead = 64

type key struct{ fileNum, offset uint64 }

type slot struct {
	key   key
	block []byte
	ref   atomic.Bool
	live  bool
}

type shard struct {
	mu       sync.RWMutex
	index    map[key]int32 // key -> slot
	slots    []slot
	free     []int32 // indexes of dead slots, reused before growing
	hand     int
	size     int64
	capacity int64
}

// Cache is a sharded CLOCK block cache bounded to a number of bytes. It is safe for concurrent
// use. Blocks handed to Set must not be modified afterwards; Get returns them as they are.
type Cache struct {
	shards       [numShards]shard
	hits, misses atomic.Uint64
	size         atomic.Int64
}

// New returns a cache holding at most capacityBytes bytes of blocks (including EntryOverhead per
// block). A capacity of zero or less gives a cache that stores nothing.
func New(capacityBytes int64) *Cache {
	c := &Cache{}
	per := max(capacityBytes, 0) / numShards
	for i := range c.shards {
		c.shards[i].index = make(map[key]int32)
		c.shards[i].capacity = per
	}
	return c
}

func (c *Cache) shard(k key) *shard {
	// splitmix64 finaliser: file numbers and offsets are both highly regular.
	h := k.fileNum*0x9e3779b97f4a7c15 ^ k.offset
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return &c.shards[h&(numShards-1)]
}

// Get returns the block cached for (fileNum, offset).
func (c *Cache) Get(fileNum, offset uint64) ([]byte, bool) {
	k := key{fileNum, offset}
	s := c.shard(k)
	s.mu.RLock()
	i, ok := s.index[k]
	var b []byte
	if ok {
		sl := &s.slots[i]
		b = sl.block
		if !sl.ref.Load() {
			sl.ref.Store(true)
		}
	}
	s.mu.RUnlock()
	if ok {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
	return b, ok
}

// Set caches block for (fileNum, offset), evicting other blocks as needed. A block larger than a
// shard's share of the capacity is not cached.
func (c *Cache) Set(fileNum, offset uint64, block []byte) {
	k := key{fileNum, offset}
	s := c.shard(k)
	charge := int64(len(block)) + EntryOverhead
	if charge > s.capacity {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.index[k]; ok {
		// Same block read twice concurrently: the bytes are equal, keep the old copy.
		s.slots[i].ref.Store(true)
		return
	}
	for s.size+charge > s.capacity {
		c.evictOne(s)
	}
	var i int32
	if n := len(s.free); n > 0 {
		i = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		s.slots = append(s.slots, slot{})
		i = int32(len(s.slots) - 1)
	}
	sl := &s.slots[i]
	sl.key, sl.block, sl.live = k, block, true
	// New entries start unreferenced: a block read once by a scan is the first to go, as in
	// CLOCK-Pro's treatment of cold pages.
	sl.ref.Store(false)
	s.index[k] = i
	s.size += charge
	c.size.Add(charge)
}

// evictOne advances the clock hand until it evicts one live entry. s.mu must be held and the
// shard must hold at least one live entry (guaranteed when size > 0).
func (c *Cache) evictOne(s *shard) {
	for {
		if s.hand >= len(s.slots) {
			s.hand = 0
		}
		sl := &s.slots[s.hand]
		s.hand++
		if !sl.live {
			continue
		}
		if sl.ref.Load() {
			sl.ref.Store(false)
			continue
		}
		c.remove(s, int32(s.hand-1))
		return
	}
}

func (c *Cache) remove(s *shard, i int32) {
	sl := &s.slots[i]
	charge := int64(len(sl.block)) + EntryOverhead
	delete(s.index, sl.key)
	sl.block, sl.live = nil, false
	sl.ref.Store(false)
	s.free = append(s.free, i)
	s.size -= charge
	c.size.Add(-charge)
}

// EvictFile drops every block of fileNum; the DB calls it when a table is deleted.
func (c *Cache) EvictFile(fileNum uint64) {
	for si := range c.shards {
		s := &c.shards[si]
		s.mu.Lock()
		for k, i := range s.index {
			if k.fileNum == fileNum {
				c.remove(s, i)
			}
		}
		s.mu.Unlock()
	}
}

// Stats returns hit and miss counts and the bytes currently charged.
func (c *Cache) Stats() (hits, misses uint64, sizeBytes int64) {
	return c.hits.Load(), c.misses.Load(), c.size.Load()
}

// Capacity returns the byte bound.
func (c *Cache) Capacity() int64 { return c.shards[0].capacity * numShards }
