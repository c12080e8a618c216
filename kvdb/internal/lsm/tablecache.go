package lsm

// Table cache: a bounded set of open sstable readers.
//
// Opening a table costs a file open plus reading its footer, index and bloom filter, so readers
// stay open between lookups, but file descriptors and index memory are finite, so at most
// maxOpenTables stay open (LevelDB's TableCache, leveldb/db/table_cache.cc). Eviction uses the
// CLOCK algorithm (second chance): each use sets a bit, the clock hand clears bits and evicts
// the first reader whose bit was already clear — an LRU approximation that needs no lock on a
// hit. A hit is lock-free: the table's metadata points at its open reader and a reference count
// keeps the reader open while anyone uses it, so eviction or table deletion closes it only after
// the last user is done.

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/sstable"
)

type tableHandle struct {
	meta *tableMeta
	r    *sstable.Reader
	refs atomic.Int32 // one for the cache while cached, one per user
	used atomic.Bool  // CLOCK reference bit
	tc   *tableCache
}

func (h *tableHandle) tryRef() bool {
	for {
		r := h.refs.Load()
		if r <= 0 {
			return false
		}
		if h.refs.CompareAndSwap(r, r+1) {
			return true
		}
	}
}

func (h *tableHandle) release() {
	if h.refs.Add(-1) == 0 {
		h.tc.retire(h)
	}
}

type tableCache struct {
	db       *DB
	capacity int

	mu   sync.Mutex
	ring []*tableHandle
	hand int

	// Counters of readers already closed, so Metrics stays monotonic across evictions.
	closedChecks, closedNegatives, closedFalsePos atomic.Uint64
	opens                                         atomic.Uint64
}

func newTableCache(db *DB) *tableCache {
	return &tableCache{db: db, capacity: db.opts.maxOpenTables}
}

// get returns t's reader with a reference the caller must release.
func (tc *tableCache) get(t *tableMeta) (*tableHandle, error) {
	if h := t.handle.Load(); h != nil && h.tryRef() {
		h.used.Store(true)
		return h, nil
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if h := t.handle.Load(); h != nil && h.tryRef() {
		return h, nil
	}
	name := tableName(tc.db.dir, t.fileNum)
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open table %06d: %w", t.fileNum, err)
	}
	r, err := sstable.Open(f, int64(t.size), sstable.ReaderOptions{Cache: tc.db.cache, FileNum: t.fileNum, VerifyChecksums: true})
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	tc.opens.Add(1)
	h := &tableHandle{meta: t, r: r, tc: tc}
	h.refs.Store(2)
	t.handle.Store(h)
	for len(tc.ring) >= tc.capacity && tc.evictOneLocked() {
	}
	tc.ring = append(tc.ring, h)
	return h, nil
}

// evictOneLocked runs the clock hand until it evicts one reader.
func (tc *tableCache) evictOneLocked() bool {
	if len(tc.ring) == 0 {
		return false
	}
	for range 2*len(tc.ring) + 1 {
		if tc.hand >= len(tc.ring) {
			tc.hand = 0
		}
		h := tc.ring[tc.hand]
		if h.used.Swap(false) {
			tc.hand++
			continue
		}
		tc.removeAtLocked(tc.hand)
		return true
	}
	return false
}

func (tc *tableCache) removeAtLocked(i int) {
	h := tc.ring[i]
	last := len(tc.ring) - 1
	tc.ring[i] = tc.ring[last]
	tc.ring[last] = nil
	tc.ring = tc.ring[:last]
	h.meta.handle.CompareAndSwap(h, nil)
	h.release() // the cache's reference
}

// evict closes t's reader (once its users are done) because the table is being deleted.
func (tc *tableCache) evict(t *tableMeta) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	for i, h := range tc.ring {
		if h.meta == t {
			tc.removeAtLocked(i)
			return
		}
	}
}

// retire closes a reader nobody references, keeping its counters.
func (tc *tableCache) retire(h *tableHandle) {
	c, n, fp := h.r.FilterStats()
	tc.closedChecks.Add(c)
	tc.closedNegatives.Add(n)
	tc.closedFalsePos.Add(fp)
	_ = h.r.Close()
}

func (tc *tableCache) close() {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	for len(tc.ring) > 0 {
		tc.removeAtLocked(len(tc.ring) - 1)
	}
}

func (tc *tableCache) open() int {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return len(tc.ring)
}

// filterStats sums the bloom counters of open and closed readers.
func (tc *tableCache) filterStats() (checks, negatives, falsePos uint64) {
	checks, negatives, falsePos = tc.closedChecks.Load(), tc.closedNegatives.Load(), tc.closedFalsePos.Load()
	tc.mu.Lock()
	defer tc.mu.Unlock()
	for _, h := range tc.ring {
		c, n, fp := h.r.FilterStats()
		checks += c
		negatives += n
		falsePos += fp
	}
	return checks, negatives, falsePos
}

// tableIter is a table iterator holding a reference on its reader.
type tableIter struct {
	*sstable.Iterator
	h *tableHandle
}

func (it *tableIter) Close() error {
	if it.h == nil {
		return nil
	}
	err := it.Iterator.Close()
	it.h.release()
	it.h = nil
	return err
}

// newCompactionIter reads a table for a compaction through a private reader that bypasses the
// block cache: a compaction reads every block once, and caching them would evict the blocks
// foreground reads need.
func (db *DB) newCompactionIter(t *tableMeta) (internalIterator, error) {
	f, err := os.Open(tableName(db.dir, t.fileNum))
	if err != nil {
		return nil, fmt.Errorf("open table %06d: %w", t.fileNum, err)
	}
	r, err := sstable.Open(f, int64(t.size), sstable.ReaderOptions{FileNum: t.fileNum, VerifyChecksums: true})
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return &privateTableIter{Iterator: r.NewIterator(), r: r}, nil
}

type privateTableIter struct {
	*sstable.Iterator
	r *sstable.Reader
}

func (it *privateTableIter) Close() error {
	err := it.Iterator.Close()
	if cerr := it.r.Close(); err == nil {
		err = cerr
	}
	return err
}

func (db *DB) newTableIter(t *tableMeta) (internalIterator, error) {
	h, err := db.tables.get(t)
	if err != nil {
		return nil, err
	}
	return &tableIter{Iterator: h.r.NewIterator(), h: h}, nil
}
