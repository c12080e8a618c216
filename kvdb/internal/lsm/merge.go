package lsm

// Merging iterator: a k-way merge of sorted internal-key streams with a binary min-heap.
//
// Every source of entries (the memtable, each immutable memtable, each L0 table, and one
// concatenating iterator per deeper level) is sorted by format.CompareInternal. The merge keeps
// one cursor per source in a heap ordered by the cursor's current key, so the smallest key
// overall is at the root and advancing costs O(log k) comparisons. Because internal keys order
// newer versions of a user key first, the merged stream presents each user key's versions
// newest to oldest; the DB iterator (iterator.go) and compaction (compaction.go) rely on that
// to keep the first visible version and skip the rest. Same structure as LevelDB's
// MergingIterator (leveldb/table/merger.cc) with a heap instead of a linear scan.

import "github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/format"

// internalIterator is the cursor interface shared by memtables, tables, levels and the merge.
// Key returns an internal key; Key and Value stay valid until the next positioning call.
type internalIterator interface {
	First() bool
	SeekGE(ikey []byte) bool
	Next() bool
	Valid() bool
	Key() []byte
	Value() []byte
	Error() error
	Close() error
}

type mergingIter struct {
	iters []internalIterator
	heap  []int // indices into iters of the valid cursors; heap[0] is the smallest key
	err   error
}

func newMergingIter(iters []internalIterator) *mergingIter {
	return &mergingIter{iters: iters, heap: make([]int, 0, len(iters))}
}

func (m *mergingIter) less(i, j int) bool {
	return format.CompareInternal(m.iters[m.heap[i]].Key(), m.iters[m.heap[j]].Key()) < 0
}

func (m *mergingIter) down(i int) {
	n := len(m.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		s := l
		if r := l + 1; r < n && m.less(r, l) {
			s = r
		}
		if !m.less(s, i) {
			return
		}
		m.heap[i], m.heap[s] = m.heap[s], m.heap[i]
		i = s
	}
}

// rebuild collects the valid cursors and heapifies them; a cursor that stopped on an error
// ends the merge with that error rather than silently skipping its entries.
func (m *mergingIter) rebuild() bool {
	m.heap = m.heap[:0]
	for i, it := range m.iters {
		if it.Valid() {
			m.heap = append(m.heap, i)
		} else if err := it.Error(); err != nil {
			m.err = err
			m.heap = m.heap[:0]
			return false
		}
	}
	for i := len(m.heap)/2 - 1; i >= 0; i-- {
		m.down(i)
	}
	return len(m.heap) > 0
}

func (m *mergingIter) First() bool {
	m.err = nil
	for _, it := range m.iters {
		it.First()
	}
	return m.rebuild()
}

func (m *mergingIter) SeekGE(ikey []byte) bool {
	m.err = nil
	for _, it := range m.iters {
		it.SeekGE(ikey)
	}
	return m.rebuild()
}

func (m *mergingIter) Next() bool {
	if len(m.heap) == 0 {
		return false
	}
	top := m.iters[m.heap[0]]
	if top.Next() {
		m.down(0)
		return true
	}
	if err := top.Error(); err != nil {
		m.err = err
		m.heap = m.heap[:0]
		return false
	}
	last := len(m.heap) - 1
	m.heap[0] = m.heap[last]
	m.heap = m.heap[:last]
	if last > 0 {
		m.down(0)
	}
	return len(m.heap) > 0
}

func (m *mergingIter) Valid() bool   { return len(m.heap) > 0 }
func (m *mergingIter) Key() []byte   { return m.iters[m.heap[0]].Key() }
func (m *mergingIter) Value() []byte { return m.iters[m.heap[0]].Value() }
func (m *mergingIter) Error() error  { return m.err }

func (m *mergingIter) Close() error {
	var err error
	for _, it := range m.iters {
		if cerr := it.Close(); err == nil {
			err = cerr
		}
	}
	m.heap = m.heap[:0]
	return err
}
