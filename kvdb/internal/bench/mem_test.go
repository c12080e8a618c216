package bench

import (
	"bytes"
	"slices"
	"sync"
)

// memEngine is an in-memory reference Engine (a sorted slice under a lock): the contract suite
// runs against it to show its expectations are right, and faulty variants of it show that the
// workloads catch an adapter that loses or mangles data.
type memEngine struct {
	mu    sync.RWMutex
	items []KV // sorted by key
	fault fault
}

// fault is a way for an adapter to be wrong.
type fault int

const (
	faultNone      fault = iota
	faultFlipValue       // Get returns a value with one bit flipped
	faultDropLast        // Write loses the last pair of each batch
	faultSkipScan        // a short Scan skips the second pair
	faultMissAll         // Get reports every key absent
)

// memDirs keeps each directory's memEngine across a close, as a disk would.
var memDirs sync.Map // dir -> *memEngine

func openMem(dir string, _ Options) (Engine, error) {
	m, _ := memDirs.LoadOrStore(dir, &memEngine{})
	return m.(*memEngine), nil
}

func openFaulty(f fault) Opener {
	return func(string, Options) (Engine, error) { return &memEngine{fault: f}, nil }
}

func (m *memEngine) find(key []byte) (int, bool) {
	return slices.BinarySearchFunc(m.items, key, func(kv KV, k []byte) int { return bytes.Compare(kv.Key, k) })
}

func (m *memEngine) put(key, value []byte) {
	kv := KV{Key: bytes.Clone(key), Value: bytes.Clone(value)}
	if i, ok := m.find(key); ok {
		m.items[i] = kv
	} else {
		m.items = slices.Insert(m.items, i, kv)
	}
}

func (m *memEngine) Put(key, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.put(key, value)
	return nil
}

func (m *memEngine) Write(kvs []KV) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fault == faultDropLast && len(kvs) > 0 {
		kvs = kvs[:len(kvs)-1]
	}
	for _, kv := range kvs {
		m.put(kv.Key, kv.Value)
	}
	return nil
}

func (m *memEngine) Get(dst, key []byte) ([]byte, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	i, ok := m.find(key)
	if !ok || m.fault == faultMissAll {
		return dst[:0], false, nil
	}
	dst = append(dst[:0], m.items[i].Value...)
	if m.fault == faultFlipValue {
		dst[len(dst)-1] ^= 1
	}
	return dst, true, nil
}

func (m *memEngine) Scan(start []byte, n int, fn func(k, v []byte)) (int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	i, _ := m.find(start)
	seen := 0
	for ; i < len(m.items) && seen < n; i++ {
		// Only short scans, so that the full-scan check after the fill passes and the scan
		// workload's own check is what must catch it.
		if m.fault == faultSkipScan && seen == 1 && n <= 100 {
			i++
			if i == len(m.items) {
				break
			}
		}
		fn(m.items[i].Key, m.items[i].Value)
		seen++
	}
	return seen, nil
}

func (m *memEngine) Close() error { return nil }
