package lsm

// Commit pipeline: group commit through a writer queue, as in LevelDB's DBImpl::Write
// (leveldb/db/db_impl.cc) and RocksDB's write groups.
//
// Every Write enqueues itself and sleeps until it is either at the head of the queue or done.
// The head is the leader: it takes its own batch plus the batches queued behind it (up to
// maxGroupBytes), makes room in the memtable (rotating it, or stalling when flushes and
// compactions fall behind), checks each batch's conditions, gives the group consecutive
// sequence numbers, appends the whole group to the WAL as one record (one write(2) and, with
// SyncAlways, one fsync for all of them), inserts it into the memtable and only then publishes
// the new visible sequence number, so a reader never sees half a batch. It then wakes the
// followers it committed and hands leadership to the next writer in the queue. While a leader
// waits for its fsync, new writers pile up behind it and the next leader commits them all: the
// number of fsyncs adapts to the disk instead of to the number of writers.
//
// Conditions (ExpectVersion/ExpectExists) are evaluated by the leader against the state after
// all earlier batches — including earlier batches of its own group, via a small overlay — so
// check-and-write is atomic without any lock on the read path.

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/format"
	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/wal"
)

const (
	maxGroupBytes   = 1 << 20
	smallBatchBytes = 128 << 10
)

type writer struct {
	batch *Batch
	force bool // Flush: rotate the memtable even if it has room
	done  bool
	err   error
	seq   uint64 // first sequence number given to the batch
	cond  sync.Cond
}

var writerPool = sync.Pool{New: func() any { return &writer{} }}

type commitQueue struct {
	mu     sync.Mutex
	q      []*writer
	closed bool
	idle   sync.Cond // signalled when the queue empties
}

// waitIdle blocks until no commit is in progress (used by Close after closing the queue).
func (cq *commitQueue) waitIdle() {
	cq.mu.Lock()
	if cq.idle.L == nil {
		cq.idle.L = &cq.mu
	}
	for len(cq.q) > 0 {
		cq.idle.Wait()
	}
	cq.mu.Unlock()
}

// Write applies b atomically. If a condition fails it returns ErrConditionFailed and writes
// nothing. b may be reused once Write returns.
func (db *DB) Write(b *Batch) error {
	if b == nil || (b.count == 0 && len(b.conds) == 0) {
		if db.closed.Load() {
			return ErrClosed
		}
		return nil
	}
	if len(b.data) > wal.MaxRecordSize {
		return fmt.Errorf("write batch of %d bytes: %w", len(b.data), ErrBatchTooLarge)
	}
	w := writerPool.Get().(*writer)
	w.batch, w.force = b, false
	err := db.commit(w)
	w.batch = nil
	writerPool.Put(w)
	return err
}

func (db *DB) commit(w *writer) error {
	cq := &db.cq
	cq.mu.Lock()
	if cq.closed {
		cq.mu.Unlock()
		return ErrClosed
	}
	w.cond.L = &cq.mu // pooled writers move between DBs
	w.done, w.err = false, nil
	cq.q = append(cq.q, w)
	for !w.done && cq.q[0] != w {
		w.cond.Wait()
	}
	if w.done {
		cq.mu.Unlock()
		return w.err
	}

	// Leader: take a group. db.group is leader-owned, so it can be used without the lock.
	group := append(db.group[:0], w)
	if !w.force {
		limit := maxGroupBytes
		if first := len(w.batch.data); first <= smallBatchBytes {
			limit = first + smallBatchBytes // don't make a small write wait for a huge group
		}
		size := len(w.batch.data)
		for _, f := range cq.q[1:] {
			if f.force || size+len(f.batch.data) > limit {
				break
			}
			size += len(f.batch.data)
			group = append(group, f)
		}
	}
	cq.mu.Unlock()

	db.commitGroup(group)

	cq.mu.Lock()
	for _, f := range group[1:] {
		f.done = true
		f.cond.Signal()
	}
	n := copy(cq.q, cq.q[len(group):])
	clear(cq.q[n:])
	cq.q = cq.q[:n]
	if n > 0 {
		cq.q[0].cond.Signal()
	} else if cq.idle.L != nil {
		cq.idle.Broadcast()
	}
	db.group = group[:0]
	cq.mu.Unlock()
	return w.err
}

// commitGroup runs the leader's steps; each writer's err receives its outcome.
func (db *DB) commitGroup(group []*writer) {
	setErr := func(err error) {
		for _, w := range group {
			if w.err == nil {
				w.err = err
			}
		}
	}
	var need int64
	for _, w := range group {
		if !w.force {
			need += w.batch.memSize()
		}
	}
	// Fast path without db.mu (which background work holds across MANIFEST fsyncs): the
	// memtable is leader-owned, and stalls only ever apply when it must be rotated.
	if group[0].force || !db.mem.hasRoom(need) || db.failed.Load() {
		db.mu.Lock()
		err := db.makeRoomLocked(need, group[0].force)
		db.mu.Unlock()
		if err != nil || group[0].force {
			setErr(err)
			return
		}
	}

	// Conditions and sequence numbers.
	now := db.opts.Now().UnixNano()
	next := db.lastSeq + 1
	var overlay map[string]overlayEntry
	committed := db.committed[:0] // leader-owned scratch
	defer func() { db.committed = committed[:0] }()
	ops := 0
	for i, w := range group {
		b := w.batch
		if len(b.conds) > 0 {
			if overlay == nil && i > 0 {
				overlay = make(map[string]overlayEntry)
				for _, c := range committed {
					addToOverlay(overlay, c.batch, c.seq, now)
				}
			}
			ok, err := db.checkConditions(b, overlay, now)
			if err != nil || !ok {
				if err == nil {
					err = ErrConditionFailed
				}
				w.err = err
				b.clearSeq()
				continue
			}
		}
		w.seq = next
		next += uint64(b.count)
		ops += int(b.count)
		committed = append(committed, w)
		if overlay != nil {
			addToOverlay(overlay, b, w.seq, now)
		}
	}
	if ops == 0 {
		return
	}

	// One WAL record for the whole group. Headers are stamped first (Batch.Seq reads them), so
	// that afterwards both the WAL and the memtable only read the batches.
	for _, w := range committed {
		if w.batch.count == 0 {
			w.batch.clearSeq() // only conditions: no op got a sequence number
			continue
		}
		w.batch.encode(w.seq)
	}
	var payload []byte
	if len(committed) == 1 {
		payload = committed[0].batch.data
	} else {
		buf := db.groupBuf[:0]
		buf = binary.LittleEndian.AppendUint64(buf, committed[0].seq)
		buf = binary.LittleEndian.AppendUint32(buf, uint32(ops))
		for _, w := range committed {
			buf = append(buf, w.batch.ops()...)
		}
		payload = buf
		if cap(buf) <= 4*maxGroupBytes {
			db.groupBuf = buf
		}
	}
	if err := db.log.Append(payload); err != nil {
		err = fmt.Errorf("lsm: wal append failed, DB is read-only: %w", err)
		db.mu.Lock()
		db.setBgErrLocked(err)
		db.mu.Unlock()
		for _, w := range committed {
			w.err = err
			w.batch.clearSeq()
		}
		return
	}

	// Apply, then publish: readers never see a partially applied group.
	for _, w := range committed {
		br, _ := newBatchReader(w.batch.data)
		for i := uint64(0); ; i++ {
			op, ok, _ := br.next()
			if !ok {
				break
			}
			db.mem.add(w.seq+i, op.kind, op.key, op.value)
		}
	}
	db.lastSeq = next - 1
	db.visibleSeq.Store(db.lastSeq)
	db.m.writes.Add(uint64(ops))
	db.m.commitGroups.Add(1)
}

type overlayEntry struct {
	exists  bool
	version uint64
}

func addToOverlay(o map[string]overlayEntry, b *Batch, seq uint64, now int64) {
	br, _ := newBatchReader(b.encode(seq))
	for i := uint64(0); ; i++ {
		op, ok, _ := br.next()
		if !ok {
			return
		}
		e := overlayEntry{exists: op.kind != format.KindDelete, version: seq + i}
		if op.kind == format.KindSetTTL {
			exp, _, _ := format.DecodeTTLValue(op.value)
			e.exists = exp > now
		}
		if !e.exists {
			e.version = 0
		}
		o[string(op.key)] = e
	}
}

// checkConditions evaluates b's conditions against the latest state (the leader holds the
// pipeline, so no write can slip in between the check and the commit).
func (db *DB) checkConditions(b *Batch, overlay map[string]overlayEntry, now int64) (bool, error) {
	var s *readState
	defer func() {
		if s != nil {
			s.v.unref()
		}
	}()
	for i := range b.conds {
		c := &b.conds[i]
		key := b.condKey(c)
		cur, inOverlay := overlay[string(key)]
		if !inOverlay {
			if s == nil {
				s = db.acquireState()
			}
			e, found, err := db.find(s, key, db.lastSeq)
			if err != nil {
				return false, err
			}
			if found {
				item, live, err := db.entryItem(e, now)
				if err != nil {
					return false, err
				}
				cur = overlayEntry{exists: live, version: item.Version}
			}
		}
		switch c.kind {
		case condVersion:
			if cur.exists != (c.version != 0) || (cur.exists && cur.version != c.version) {
				return false, nil
			}
		case condExists:
			if cur.exists != c.exists {
				return false, nil
			}
		}
	}
	return true, nil
}

// makeRoomLocked ensures the memtable can take need more bytes: rotate it to a fresh memtable
// and WAL when full (or when force), stalling while too many memtables wait for their flush or
// L0 has L0StopWritesTrigger tables. mu held; it is released while waiting.
func (db *DB) makeRoomLocked(need int64, force bool) error {
	var stallStart time.Time
	defer func() {
		if !stallStart.IsZero() {
			db.m.stallNanos.Add(uint64(time.Since(stallStart)))
		}
	}()
	stall := func() {
		if stallStart.IsZero() {
			stallStart = time.Now()
			db.m.stalls.Add(1)
		}
		db.bgCond.Wait()
	}
	for {
		switch {
		case db.bgErr != nil:
			return db.bgErr
		case db.closing:
			return ErrClosed
		case !force && db.mem.hasRoom(need):
			return nil
		case force && db.mem.empty():
			return nil
		case !force && db.mem.empty():
			// A batch bigger than a whole memtable: give it a memtable of its own size rather
			// than rotating (and later flushing) an empty one.
			db.mem = newMemtable(need, db.mem.logNum)
			db.publishStateLocked()
		case len(db.imm) >= maxImmutables:
			stall()
		case len(db.current.levels[0]) >= db.opts.L0StopWritesTrigger:
			stall()
		default:
			if err := db.rotateMemtableLocked(need); err != nil {
				return err
			}
			force = false
		}
	}
}

// rotateMemtableLocked turns the memtable into an immutable one waiting for its flush and
// starts a new memtable with a new WAL. mu held, caller is the commit leader.
func (db *DB) rotateMemtableLocked(need int64) error {
	num := db.nextFile
	db.nextFile++
	log, err := wal.Create(logName(db.dir, num), db.walOptions())
	if err != nil {
		return err
	}
	old := db.mem
	if db.opts.Sync == wal.SyncNone {
		// Nothing was promised durable; let the flusher pay for the final fsync.
		old.pendingLog = db.log
	} else if err := db.log.Close(); err != nil {
		_ = log.Close()
		db.setBgErrLocked(fmt.Errorf("lsm: close wal: %w", err))
		return db.bgErr
	}
	db.imm = append(db.imm, old)
	db.mem = newMemtable(max(db.opts.MemtableSize, need), num)
	db.log = log
	db.publishStateLocked()
	db.bgCond.Broadcast() // wakes the flusher
	return nil
}

// Flush turns the memtable into an L0 table and waits until every memtable written so far is
// flushed.
func (db *DB) Flush() error {
	w := writerPool.Get().(*writer)
	w.batch, w.force = nil, true
	err := db.commit(w)
	writerPool.Put(w)
	if err != nil {
		return err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if len(db.imm) == 0 {
		return nil
	}
	target := db.imm[len(db.imm)-1].logNum
	for len(db.imm) > 0 && db.imm[0].logNum <= target {
		if db.bgErr != nil {
			return db.bgErr
		}
		if db.closing {
			return ErrClosed
		}
		db.bgCond.Wait()
	}
	return nil
}
