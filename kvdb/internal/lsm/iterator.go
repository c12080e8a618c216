package lsm

// Iterators: the user-facing view of the merged, versioned, tombstoned LSM.
//
// An Iterator pins one read state (memtables + version, so no table it reads can be deleted)
// and one sequence number (its snapshot), then runs a merging iterator (merge.go) over the
// memtable, the immutable memtables, the L0 tables overlapping its bounds and one concatenating
// levelIter per deeper level. The merged stream yields every version of every key, newest
// first per key; the Iterator keeps the newest version with seq <= its snapshot, and skips the
// key entirely when that version is a tombstone or an expired TTL value. It copies only the
// current user key (into a reused buffer) and never allocates per entry.

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/format"
)

// IterOptions bound an iteration to [Lower, Upper), or to the keys starting with Prefix
// (which overrides the bounds). nil means unbounded.
type IterOptions struct {
	Lower, Upper []byte
	Prefix       []byte
}

// Iterator walks live keys in ascending order as of its creation. Key, Value and Item's Value
// are valid until the next positioning call. An Iterator is not safe for concurrent use; Close
// it to release the tables it pins.
type Iterator struct {
	db           *DB
	s            *readState
	seq          uint64
	now          int64
	lower, upper []byte
	mi           *mergingIter
	seekBuf      []byte

	key     []byte
	value   []byte
	version uint64
	expires int64
	valid   bool
	err     error
	closed  bool
}

// NewIterator returns an iterator over the latest state.
func (db *DB) NewIterator(o IterOptions) *Iterator {
	if db.closed.Load() {
		return &Iterator{err: ErrClosed, closed: true}
	}
	return db.newIterator(db.visibleSeq.Load(), o)
}

func (db *DB) newIterator(seq uint64, o IterOptions) *Iterator {
	it := &Iterator{db: db, seq: seq, now: db.opts.Now().UnixNano(), lower: o.Lower, upper: o.Upper}
	if o.Prefix != nil {
		it.lower, it.upper = o.Prefix, prefixSuccessor(o.Prefix)
	}
	it.lower, it.upper = bytes.Clone(it.lower), bytes.Clone(it.upper)
	it.s = db.acquireState()

	iters := make([]internalIterator, 0, 2+len(it.s.imm)+len(it.s.v.levels[0])+numLevels)
	iters = append(iters, it.s.mem.newIter())
	for _, m := range it.s.imm {
		iters = append(iters, m.newIter())
	}
	inRange := func(t *tableMeta) bool {
		if it.upper != nil && bytes.Compare(t.smallestUser(), it.upper) >= 0 {
			return false
		}
		return t.overlapsUser(it.lower, nil) && t.smallestSeq <= seq
	}
	for _, t := range it.s.v.levels[0] {
		if !inRange(t) {
			continue
		}
		ti, err := db.newTableIter(t)
		if err != nil {
			it.err = err
			break
		}
		iters = append(iters, ti)
	}
	for l := 1; l < numLevels && it.err == nil; l++ {
		tables := it.s.v.levels[l]
		// Keep only the tables meeting [lower, upper): a contiguous run of a sorted level.
		start := 0
		if it.lower != nil {
			start, _ = slices.BinarySearchFunc(tables, it.lower, func(t *tableMeta, k []byte) int {
				return bytes.Compare(t.largestUser(), k)
			})
		}
		end := len(tables)
		if it.upper != nil {
			end, _ = slices.BinarySearchFunc(tables, it.upper, func(t *tableMeta, k []byte) int {
				return bytes.Compare(t.smallestUser(), k)
			})
		}
		if start < end {
			iters = append(iters, newLevelIter(db, tables[start:end], it.upper))
		}
	}
	it.mi = newMergingIter(iters)
	return it
}

// prefixSuccessor returns the smallest key greater than every key with prefix p, nil if none.
func prefixSuccessor(p []byte) []byte {
	s := bytes.Clone(p)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] != 0xff {
			s[i]++
			return s[:i+1]
		}
	}
	return nil
}

// First moves to the first live key >= Lower.
func (it *Iterator) First() bool {
	if it.closed || it.err != nil {
		it.valid = false
		return false
	}
	if it.lower != nil {
		return it.SeekGE(it.lower)
	}
	it.mi.First()
	return it.findNext(false)
}

// SeekGE moves to the first live key >= key (and >= Lower).
func (it *Iterator) SeekGE(key []byte) bool {
	if it.closed || it.err != nil {
		it.valid = false
		return false
	}
	if it.lower != nil && bytes.Compare(key, it.lower) < 0 {
		key = it.lower
	}
	it.seekBuf = format.MakeInternalKey(it.seekBuf[:0], key, it.seq, format.KindMax)
	it.mi.SeekGE(it.seekBuf)
	return it.findNext(false)
}

// Next moves to the next live key.
func (it *Iterator) Next() bool {
	if !it.valid {
		return false
	}
	it.mi.Next()
	return it.findNext(true)
}

// findNext settles on the newest visible version of the next user key that is live, skipping
// the rest of the current key's versions when skipCurrent.
func (it *Iterator) findNext(skipCurrent bool) bool {
	it.valid = false
	for mi := it.mi; mi.Valid(); mi.Next() {
		ukey, seq, kind, ok := format.ParseInternalKey(mi.Key())
		if !ok {
			it.err = fmt.Errorf("iterate: bad internal key: %w", errCorrupt)
			return false
		}
		if it.upper != nil && bytes.Compare(ukey, it.upper) >= 0 {
			return false
		}
		if seq > it.seq || (skipCurrent && bytes.Equal(ukey, it.key)) {
			continue
		}
		it.key = append(it.key[:0], ukey...)
		skipCurrent = true
		switch kind {
		case format.KindDelete:
			continue
		case format.KindSetTTL:
			exp, v, err := format.DecodeTTLValue(mi.Value())
			if err != nil {
				it.err = err
				return false
			}
			if exp <= it.now {
				continue
			}
			it.value, it.expires = v, exp
		default:
			it.value, it.expires = mi.Value(), 0
		}
		it.version = seq
		it.valid = true
		return true
	}
	it.err = it.mi.Error()
	return false
}

// Valid reports whether the iterator is at a key.
func (it *Iterator) Valid() bool { return it.valid }

// Key returns the current key.
func (it *Iterator) Key() []byte { return it.key }

// Value returns the current value.
func (it *Iterator) Value() []byte { return it.value }

// Item returns the current value with its version and expiry.
func (it *Iterator) Item() Item {
	item := Item{Value: it.value, Version: it.version}
	if it.expires != 0 {
		item.ExpiresAt = time.Unix(0, it.expires)
	}
	return item
}

// Error returns the error that stopped the iteration, if any.
func (it *Iterator) Error() error { return it.err }

// Close releases the iterator's tables. It returns the iteration error, if any.
func (it *Iterator) Close() error {
	if it.closed {
		return it.err
	}
	it.closed = true
	it.valid = false
	if err := it.mi.Close(); err != nil && it.err == nil {
		it.err = err
	}
	it.s.v.unref()
	it.s = nil
	return it.err
}

// levelIter concatenates the tables of one sorted level (L1+), opening each only when the
// iteration reaches it, and stopping before tables that start at or after upper.
type levelIter struct {
	tables []*tableMeta
	upper  []byte
	idx    int
	cur    internalIterator
	err    error
	open   func(*tableMeta) (internalIterator, error) // through the table cache, or private
}

func newLevelIter(db *DB, tables []*tableMeta, upper []byte) *levelIter {
	return &levelIter{tables: tables, upper: upper, idx: -1, open: db.newTableIter}
}

func (l *levelIter) openAt(i int) bool {
	if l.cur != nil {
		if err := l.cur.Close(); err != nil && l.err == nil {
			l.err = err
		}
		l.cur = nil
	}
	l.idx = i
	if i >= len(l.tables) || l.err != nil {
		return false
	}
	if l.upper != nil && bytes.Compare(l.tables[i].smallestUser(), l.upper) >= 0 {
		return false
	}
	cur, err := l.open(l.tables[i])
	if err != nil {
		l.err = err
		return false
	}
	l.cur = cur
	return true
}

// skipEmpty moves to following tables while the current one is exhausted.
func (l *levelIter) skipEmpty(valid bool) bool {
	for !valid {
		if l.cur == nil {
			return false
		}
		if err := l.cur.Error(); err != nil {
			l.err = err
			return false
		}
		if !l.openAt(l.idx + 1) {
			return false
		}
		valid = l.cur.First()
	}
	return true
}

func (l *levelIter) First() bool {
	l.err = nil
	if !l.openAt(0) {
		return false
	}
	return l.skipEmpty(l.cur.First())
}

func (l *levelIter) SeekGE(ikey []byte) bool {
	l.err = nil
	i, _ := slices.BinarySearchFunc(l.tables, ikey, func(t *tableMeta, k []byte) int {
		return format.CompareInternal(t.largest, k)
	})
	if !l.openAt(i) {
		return false
	}
	return l.skipEmpty(l.cur.SeekGE(ikey))
}

func (l *levelIter) Next() bool {
	if l.cur == nil {
		return false
	}
	return l.skipEmpty(l.cur.Next())
}

func (l *levelIter) Valid() bool   { return l.cur != nil && l.err == nil && l.cur.Valid() }
func (l *levelIter) Key() []byte   { return l.cur.Key() }
func (l *levelIter) Value() []byte { return l.cur.Value() }
func (l *levelIter) Error() error  { return l.err }

func (l *levelIter) Close() error {
	if l.cur != nil {
		if err := l.cur.Close(); err != nil && l.err == nil {
			l.err = err
		}
		l.cur = nil
	}
	return l.err
}
