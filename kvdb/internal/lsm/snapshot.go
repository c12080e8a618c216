package lsm

// Snapshots: a sequence number that reads are pinned to.
//
// Because every write has a sequence number and nothing is overwritten in place, the state as
// of sequence S is simply "the newest version with seq <= S" of each key. A Snapshot records S
// in the DB's snapshot list; compaction reads that list and keeps, for each key, the newest
// version visible at every listed S (compaction.go, "stripes"), so the snapshot's view stays
// complete however much is flushed and compacted afterwards — LevelDB's snapshot design
// (leveldb/include/leveldb/db.h GetSnapshot). Reads through a snapshot use the live read state
// with S as the bound; iterators made from it pin their own read state like any iterator.

import "sync"

// Snapshot is a consistent read-only view of the DB at the time it was taken. Close it when
// done: an open snapshot keeps old versions from being compacted away.
type Snapshot struct {
	db         *DB
	seq        uint64
	mu         sync.Mutex
	closed     bool
	prev, next *Snapshot
}

// snapshotList is a doubly linked list in increasing seq order (new snapshots take the latest
// seq, so appending keeps it sorted).
type snapshotList struct {
	head, tail *Snapshot
	n          int
}

// Snapshot returns a view of the current state.
func (db *DB) Snapshot() *Snapshot {
	s := &Snapshot{db: db}
	db.snapMu.Lock()
	s.seq = db.visibleSeq.Load()
	l := &db.snapshots
	s.prev = l.tail
	if l.tail != nil {
		l.tail.next = s
	} else {
		l.head = s
	}
	l.tail = s
	l.n++
	db.snapMu.Unlock()
	return s
}

// Seq returns the snapshot's sequence number.
func (s *Snapshot) Seq() uint64 { return s.seq }

func (s *Snapshot) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Get returns the value of key as of the snapshot.
func (s *Snapshot) Get(key []byte) ([]byte, error) {
	item, err := s.Lookup(key)
	return item.Value, err
}

// Lookup returns the value, version and expiry of key as of the snapshot. Expiry is judged by
// the clock now, not at the snapshot's time, so a value can expire while the snapshot lives.
func (s *Snapshot) Lookup(key []byte) (Item, error) {
	if s.isClosed() {
		return Item{}, ErrClosed
	}
	return s.db.lookupAt(key, s.seq, false)
}

// NewIterator iterates the snapshot's view.
func (s *Snapshot) NewIterator(o IterOptions) *Iterator {
	if s.isClosed() || s.db.closed.Load() {
		return &Iterator{err: ErrClosed, closed: true}
	}
	return s.db.newIterator(s.seq, o)
}

// Close releases the snapshot. Closing twice returns ErrClosed.
func (s *Snapshot) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	s.mu.Unlock()
	db := s.db
	db.snapMu.Lock()
	l := &db.snapshots
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		l.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else {
		l.tail = s.prev
	}
	s.prev, s.next = nil, nil
	l.n--
	db.snapMu.Unlock()
	return nil
}

// snapshotSeqs returns the live snapshots' sequence numbers, ascending.
func (db *DB) snapshotSeqs() []uint64 {
	db.snapMu.Lock()
	defer db.snapMu.Unlock()
	seqs := make([]uint64, 0, db.snapshots.n)
	for s := db.snapshots.head; s != nil; s = s.next {
		seqs = append(seqs, s.seq)
	}
	return seqs
}
