package resp

import (
	"bytes"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// MemStore is the in-memory Store: a map under a read-write mutex, with expiry checked against
// an injectable clock. It is the reference for what a Store must do, and the backend of the
// package's tests. Expired keys are dropped lazily (when a write meets them) and by sampling a
// few keys on each write, as Redis's active expiry does, so they cannot pile up forever.
type MemStore struct {
	now func() time.Time

	mu   sync.RWMutex
	data map[string]memEntry
	// sorted holds the keys in order for Scan; rebuilt lazily when keys were added or removed.
	sorted []string
	dirty  bool
}

type memEntry struct {
	value    []byte
	expireAt time.Time // zero: never
}

func (e memEntry) live(now time.Time) bool {
	return e.expireAt.IsZero() || now.Before(e.expireAt)
}

// expireSample is how many keys each write inspects for expiry.
const expireSample = 3

// NewMemStore returns an empty store using now as its clock (time.Now when nil).
func NewMemStore(now func() time.Time) *MemStore {
	if now == nil {
		now = time.Now
	}
	return &MemStore{now: now, data: make(map[string]memEntry)}
}

var _ Store = (*MemStore)(nil)
var _ Sizer = (*MemStore)(nil)
var _ Batcher = (*MemStore)(nil)

// NewSetBatch implements Batcher.
func (m *MemStore) NewSetBatch() SetBatch { return &memSetBatch{m: m} }

type memSetBatch struct {
	m    *MemStore
	sets []memSet
	size int
}

type memSet struct {
	key, value []byte
	expireAt   time.Time
}

func (b *memSetBatch) Set(key, value []byte, expireAt time.Time) {
	b.sets = append(b.sets, memSet{bytes.Clone(key), bytes.Clone(nonNil(value)), expireAt})
	b.size += len(key) + len(value)
}

func (b *memSetBatch) Size() int { return b.size }

func (b *memSetBatch) Commit() error {
	m := b.m
	now := m.now()
	m.mu.Lock()
	m.expireSome(now)
	for _, s := range b.sets {
		m.put(s.key, s.value, s.expireAt)
	}
	m.mu.Unlock()
	clear(b.sets)
	b.sets, b.size = b.sets[:0], 0
	return nil
}

// lookup returns the live entry of key. Callers hold mu (read or write).
func (m *MemStore) lookup(key []byte, now time.Time) (memEntry, bool) {
	e, ok := m.data[string(key)] // no allocation: the compiler keys the map with the bytes
	if !ok || !e.live(now) {
		return memEntry{}, false
	}
	return e, true
}

// Get implements Store.
func (m *MemStore) Get(key []byte) ([]byte, bool, error) {
	now := m.now()
	m.mu.RLock()
	e, ok := m.lookup(key, now)
	m.mu.RUnlock()
	return e.value, ok, nil
}

// MGet implements Store.
func (m *MemStore) MGet(dst []Value, keys [][]byte) ([]Value, error) {
	now := m.now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, k := range keys {
		e, ok := m.lookup(k, now)
		dst = append(dst, Value{Bytes: e.value, Found: ok})
	}
	return dst, nil
}

// put stores a copy of key and value. Callers hold mu for writing.
func (m *MemStore) put(key, value []byte, expireAt time.Time) {
	k := string(key) // copies
	if _, ok := m.data[k]; !ok {
		m.dirty = true
	}
	// The stored value is never modified afterwards, which is what lets Get return it.
	m.data[k] = memEntry{value: bytes.Clone(nonNil(value)), expireAt: expireAt}
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// expireSome drops a few expired keys. Go's map iteration starts at a random place, which is
// what makes this a sample. Callers hold mu for writing.
func (m *MemStore) expireSome(now time.Time) {
	n := 0
	for k, e := range m.data {
		if !e.live(now) {
			delete(m.data, k)
			m.dirty = true
		}
		if n++; n >= expireSample {
			return
		}
	}
}

// Set implements Store.
func (m *MemStore) Set(key, value []byte, opts SetOptions) (SetResult, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireSome(now)
	old, exists := m.lookup(key, now)
	var res SetResult
	if opts.Get {
		res.Old, res.OldFound = old.value, exists
	}
	if (opts.NX && exists) || (opts.XX && !exists) {
		return res, nil
	}
	expireAt := opts.ExpireAt
	if opts.KeepTTL {
		expireAt = old.expireAt
	}
	m.put(key, value, expireAt)
	res.Written = true
	return res, nil
}

// MSet implements Store.
func (m *MemStore) MSet(pairs [][]byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireSome(m.now())
	for i := 0; i+1 < len(pairs); i += 2 {
		m.put(pairs[i], pairs[i+1], time.Time{})
	}
	return nil
}

// Delete implements Store.
func (m *MemStore) Delete(keys [][]byte) (int, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, k := range keys {
		e, ok := m.data[string(k)]
		if !ok {
			continue
		}
		delete(m.data, string(k))
		m.dirty = true
		if e.live(now) {
			n++
		}
	}
	return n, nil
}

// Exists implements Store.
func (m *MemStore) Exists(keys [][]byte) (int, error) {
	now := m.now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	n := 0
	for _, k := range keys {
		if _, ok := m.lookup(k, now); ok {
			n++
		}
	}
	return n, nil
}

// Expire implements Store.
func (m *MemStore) Expire(key []byte, at time.Time, cond ExpireCond) (bool, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.lookup(key, now)
	if !ok || !cond.Allows(e.expireAt, at) {
		return false, nil
	}
	if !now.Before(at) {
		delete(m.data, string(key))
		m.dirty = true
		return true, nil
	}
	e.expireAt = at
	m.data[string(key)] = e
	return true, nil
}

// ExpireTime implements Store.
func (m *MemStore) ExpireTime(key []byte) (time.Time, bool, error) {
	now := m.now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.lookup(key, now)
	return e.expireAt, ok, nil
}

// Scan implements Store.
func (m *MemStore) Scan(after, prefix []byte, count int) ([][]byte, bool, error) {
	now := m.now()
	m.mu.Lock() // may rebuild m.sorted
	defer m.mu.Unlock()
	if m.dirty {
		m.sorted = m.sorted[:0]
		for k := range m.data {
			m.sorted = append(m.sorted, k)
		}
		slices.Sort(m.sorted)
		m.dirty = false
	}
	start := string(prefix)
	if after != nil && string(after) >= start {
		// First key strictly greater than after.
		start = string(after) + "\x00"
	}
	i := sort.SearchStrings(m.sorted, start)
	var keys [][]byte
	for ; i < len(m.sorted) && strings.HasPrefix(m.sorted[i], string(prefix)); i++ {
		k := m.sorted[i]
		e, ok := m.data[k]
		if !ok || !e.live(now) {
			continue
		}
		if len(keys) == count {
			return keys, false, nil // a live key remains
		}
		keys = append(keys, []byte(k))
	}
	return keys, true, nil
}

// Len implements Sizer. It counts expired keys not yet dropped, as Redis's DBSIZE does.
func (m *MemStore) Len() (int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.data), nil
}
