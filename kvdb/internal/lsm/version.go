package lsm

// Versions: immutable snapshots of the table layout, reference counted.
//
// A version lists the live tables of every level. It is never modified: a flush or compaction
// builds a new version from the current one plus an edit and swaps it in. Readers (Get, every
// Iterator, a running compaction) take a reference on the version they started with, so the
// tables they read cannot be deleted under them; when the last reference to a version goes, each
// of its tables loses one reference, and a table no version references any more is obsolete and
// its file is deleted. This is LevelDB's VersionSet scheme (leveldb/db/version_set.h) with
// per-table reference counts as in Pebble's FileMetadata.
//
// Levels: L0 holds flushed memtables, which overlap each other and are ordered newest first;
// L1.. hold tables with disjoint user-key ranges sorted by key (a user key never spans two
// tables of one level, see compaction.go), so a point lookup reads at most one table per level.

import (
	"bytes"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/format"
)

type tableMeta struct {
	fileNum                 uint64
	size                    uint64
	smallest, largest       []byte // internal keys
	smallestSeq, largestSeq uint64

	refs atomic.Int32 // versions that contain the table
	// handle caches the open reader (see tablecache.go); nil when not open.
	handle atomic.Pointer[tableHandle]
}

func (m *tableMeta) smallestUser() []byte { return format.UserKey(m.smallest) }
func (m *tableMeta) largestUser() []byte  { return format.UserKey(m.largest) }

// containsUser reports whether ukey lies within the table's user-key range.
func (m *tableMeta) containsUser(ukey []byte) bool {
	return bytes.Compare(ukey, m.smallestUser()) >= 0 && bytes.Compare(ukey, m.largestUser()) <= 0
}

// overlapsUser reports whether [lo, hi] (user keys, inclusive; nil = unbounded) meets the table.
func (m *tableMeta) overlapsUser(lo, hi []byte) bool {
	if hi != nil && bytes.Compare(m.smallestUser(), hi) > 0 {
		return false
	}
	if lo != nil && bytes.Compare(m.largestUser(), lo) < 0 {
		return false
	}
	return true
}

type version struct {
	levels [numLevels][]*tableMeta
	refs   atomic.Int32
	// obsolete is called for each table whose last reference this version held.
	obsolete func(*tableMeta)
}

// ref adds a reference to a version known to be alive (the caller holds one, or holds db.mu
// while the version is current).
func (v *version) ref() { v.refs.Add(1) }

// tryRef takes a reference unless the version already died; lock-free readers use it after
// loading the current read state, and retry with the new state when it fails.
func (v *version) tryRef() bool {
	for {
		r := v.refs.Load()
		if r <= 0 {
			return false
		}
		if v.refs.CompareAndSwap(r, r+1) {
			return true
		}
	}
}

func (v *version) unref() {
	switch r := v.refs.Add(-1); {
	case r == 0:
		for _, level := range v.levels {
			for _, t := range level {
				if t.refs.Add(-1) == 0 && v.obsolete != nil {
					v.obsolete(t)
				}
			}
		}
	case r < 0:
		panic("lsm: version reference count below zero")
	}
}

func (v *version) numTables() int {
	n := 0
	for _, l := range v.levels {
		n += len(l)
	}
	return n
}

func levelBytes(tables []*tableMeta) int64 {
	var n int64
	for _, t := range tables {
		n += int64(t.size)
	}
	return n
}

// overlapping returns the tables of level meeting the user-key range [lo, hi] (nil = unbounded).
func (v *version) overlapping(level int, lo, hi []byte) []*tableMeta {
	var out []*tableMeta
	for _, t := range v.levels[level] {
		if t.overlapsUser(lo, hi) {
			out = append(out, t)
		}
	}
	return out
}

// findTable returns the index of the table of a sorted level (L1+) that may contain ukey, or -1.
func findTable(tables []*tableMeta, ukey []byte) int {
	i, _ := slices.BinarySearchFunc(tables, ukey, func(t *tableMeta, k []byte) int {
		return bytes.Compare(t.largestUser(), k)
	})
	if i < len(tables) && bytes.Compare(tables[i].smallestUser(), ukey) <= 0 {
		return i
	}
	return -1
}

// versionBuilder accumulates edits on top of a base version (recovery replays many edits into
// one builder; a flush or compaction applies one).
type versionBuilder struct {
	levels [numLevels]map[uint64]*tableMeta
}

func newVersionBuilder(base *version) *versionBuilder {
	b := &versionBuilder{}
	for l := range b.levels {
		b.levels[l] = make(map[uint64]*tableMeta)
		if base != nil {
			for _, t := range base.levels[l] {
				b.levels[l][t.fileNum] = t
			}
		}
	}
	return b
}

func (b *versionBuilder) apply(e *versionEdit) error {
	for _, d := range e.deleted {
		if _, ok := b.levels[d.level][d.fileNum]; !ok {
			return fmt.Errorf("apply version edit: delete table %06d absent from L%d: %w", d.fileNum, d.level, format.ErrCorrupt)
		}
		delete(b.levels[d.level], d.fileNum)
	}
	for _, a := range e.added {
		if _, ok := b.levels[a.level][a.meta.fileNum]; ok {
			return fmt.Errorf("apply version edit: table %06d added twice to L%d: %w", a.meta.fileNum, a.level, format.ErrCorrupt)
		}
		b.levels[a.level][a.meta.fileNum] = a.meta
	}
	return nil
}

// build returns the new version with one reference (the caller's) and one reference on each of
// its tables.
func (b *versionBuilder) build(obsolete func(*tableMeta)) (*version, error) {
	v := &version{obsolete: obsolete}
	for l := range b.levels {
		tables := make([]*tableMeta, 0, len(b.levels[l]))
		for _, t := range b.levels[l] {
			tables = append(tables, t)
		}
		if l == 0 {
			// Newest first: flushes produce disjoint, increasing sequence ranges.
			slices.SortFunc(tables, func(a, b *tableMeta) int {
				if a.largestSeq != b.largestSeq {
					return cmpDesc(a.largestSeq, b.largestSeq)
				}
				return cmpDesc(a.fileNum, b.fileNum)
			})
		} else {
			slices.SortFunc(tables, func(a, b *tableMeta) int { return format.CompareInternal(a.smallest, b.smallest) })
			for i := 1; i < len(tables); i++ {
				if bytes.Compare(tables[i-1].largestUser(), tables[i].smallestUser()) >= 0 {
					return nil, fmt.Errorf("build version: L%d tables %06d and %06d overlap: %w",
						l, tables[i-1].fileNum, tables[i].fileNum, format.ErrCorrupt)
				}
			}
		}
		v.levels[l] = tables
	}
	for _, level := range v.levels {
		for _, t := range level {
			t.refs.Add(1)
		}
	}
	v.refs.Store(1)
	return v, nil
}

func cmpDesc(a, b uint64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// snapshotEdit describes the whole version as one edit: the first record of a new MANIFEST.
func (v *version) snapshotEdit() *versionEdit {
	e := &versionEdit{}
	for l, level := range v.levels {
		for _, t := range level {
			e.added = append(e.added, newTable{level: l, meta: t})
		}
	}
	return e
}
