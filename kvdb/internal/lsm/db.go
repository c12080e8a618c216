package lsm

// The DB: Open and recovery, the read path, Close.
//
// Reads take no lock. The memtable, the immutable memtables and the current version are
// bundled in an immutable readState behind an atomic pointer, replaced whenever one of them
// changes. A reader loads the visible sequence number first and the readState second (every
// write up to that number is then somewhere in that state), takes a reference on the version so
// its tables stay on disk, and searches newest data first. Writers (commit.go) and background
// work (flush.go, compaction.go) coordinate through db.mu, which readers never touch.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/format"
	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/wal"
	"github.com/prometheus/client_golang/prometheus"
)

// ErrCorrupt is wrapped by every error caused by bad bytes on disk (same value as
// format.ErrCorrupt, re-exported so callers need not import the format package).
var ErrCorrupt = format.ErrCorrupt

var errCorrupt = format.ErrCorrupt

// maxImmutables is how many full memtables may wait for their flush before writers stall.
const maxImmutables = 2

// manifestRotateSize: past this size the MANIFEST is rewritten as one snapshot edit.
const manifestRotateSize = 4 << 20

// DB is an LSM-tree key-value store. All methods are safe for concurrent use.
type DB struct {
	dir    string
	opts   Options
	lock   *dirLock
	cache  blockCache
	tables *tableCache
	rate   *rateLimiter

	// state is what readers load, without a lock: the memtables and the current version.
	state atomic.Pointer[readState]
	// visibleSeq is the highest sequence number whose batch is fully applied; reads see
	// exactly the writes up to it.
	visibleSeq atomic.Uint64
	closed     atomic.Bool

	cq commitQueue
	// Owned by the commit leader (the writer at the head of cq): no lock needed to read them
	// there; changes also happen under mu so background work sees a consistent picture.
	lastSeq   uint64
	mem       *memtable
	log       *wal.Writer
	groupBuf  []byte
	group     []*writer
	committed []*writer

	mu        sync.Mutex
	bgCond    sync.Cond // broadcast whenever a flush or compaction finishes or state changes
	imm       []*memtable
	current   *version
	logNum    uint64 // WALs below this number are fully flushed
	nextFile  uint64
	manifest  *manifestWriter
	bgErr     error       // sticky: background or WAL failure makes the DB read-only
	failed    atomic.Bool // bgErr != nil, readable without mu
	closing   bool
	compactMu sync.Mutex // one compaction (background or manual) at a time
	compactPt [numLevels][]byte
	// compactionsRunning counts background workers inside a flush or compaction, so Close can wait.
	bgWG sync.WaitGroup

	snapMu    sync.Mutex
	snapshots snapshotList

	m         dbMetrics
	collector prometheus.Collector
}

// readState is an immutable bundle published atomically; the version inside is kept alive by
// the DB's reference for as long as the readState is current, and by reader references after.
type readState struct {
	mem *memtable
	imm []*memtable // newest first
	v   *version
}

// acquireState returns the current read state with a reference on its version. It never
// blocks: if the version died between the load and the reference, a newer state exists.
func (db *DB) acquireState() *readState {
	for {
		s := db.state.Load()
		if s.v.tryRef() {
			return s
		}
	}
}

// publishStateLocked makes the current mem/imm/version visible to readers. mu held.
func (db *DB) publishStateLocked() {
	imm := make([]*memtable, len(db.imm))
	for i, m := range db.imm {
		imm[len(imm)-1-i] = m
	}
	db.state.Store(&readState{mem: db.mem, imm: imm, v: db.current})
}

// Open opens (creating if needed) the DB in dir, recovering from the MANIFEST and WAL.
func Open(dir string, opts Options) (*DB, error) {
	opts = opts.withDefaults()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	db := &DB{dir: dir, opts: opts, lock: lock, cache: newBlockCache(opts.BlockCacheSize), m: newDBMetrics()}
	db.bgCond.L = &db.mu
	db.tables = newTableCache(db)
	if opts.CompactionRate > 0 {
		db.rate = newRateLimiter(opts.CompactionRate)
	}
	if err := db.recover(); err != nil {
		db.closeFiles()
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	db.publishStateLocked()
	opts.Logger.Info("lsm opened", "dir", dir, "seq", db.lastSeq, "tables", db.current.numTables())
	db.bgWG.Add(2)
	go db.flushLoop()
	go db.compactLoop()
	if opts.Registerer != nil {
		c := newCollector(db)
		if err := opts.Registerer.Register(c); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("open %s: register metrics: %w", dir, err)
		}
		db.collector = c
	}
	return db, nil
}

func (db *DB) walOptions() wal.Options {
	return wal.Options{Policy: db.opts.Sync, GroupWindow: db.opts.GroupWindow, OnSync: db.m.observeSync}
}

// recover rebuilds the state: replay the MANIFEST named by CURRENT, then the WALs it does not
// cover, flush what they held to L0, and start a fresh MANIFEST and WAL. Starting fresh makes
// recovery idempotent: a crash at any point of it leaves the previous CURRENT valid.
func (db *DB) recover() error {
	entries, err := os.ReadDir(db.dir)
	if err != nil {
		return err
	}
	var logs []uint64
	var maxNum uint64
	hasData := false
	for _, e := range entries {
		kind, n := parseFileName(e.Name())
		maxNum = max(maxNum, n)
		switch kind {
		case fileLog:
			logs = append(logs, n)
			hasData = true
		case fileTable:
			hasData = true
		}
	}
	slices.Sort(logs)

	b := newVersionBuilder(nil)
	var lastSeq uint64
	manifestNum, err := readCurrent(db.dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if hasData {
			return fmt.Errorf("CURRENT is missing but the directory holds tables or logs: %w", errCorrupt)
		}
	case err != nil:
		return err
	default:
		st, err := replayManifest(db.dir, manifestNum, b)
		if err != nil {
			return err
		}
		db.logNum, lastSeq = st.logNum, st.lastSeq
		maxNum = max(maxNum, st.nextFileNum-1, manifestNum)
	}
	db.nextFile = maxNum + 1

	// Tables listed by the MANIFEST must exist; a missing one means lost data.
	for l := range b.levels {
		for _, t := range b.levels[l] {
			st, err := os.Stat(tableName(db.dir, t.fileNum))
			if err != nil {
				return fmt.Errorf("table %06d (L%d) listed in the MANIFEST: %v: %w", t.fileNum, l, err, errCorrupt)
			}
			if uint64(st.Size()) != t.size {
				return fmt.Errorf("table %06d has %d bytes, MANIFEST says %d: %w", t.fileNum, st.Size(), t.size, errCorrupt)
			}
		}
	}

	// Replay the WALs not yet flushed, oldest first, into memtables flushed to L0.
	recovered := &versionEdit{}
	mem := newMemtable(db.opts.MemtableSize, 0)
	flushMem := func() error {
		if mem.empty() {
			return nil
		}
		meta, err := db.writeTable(mem.newIter(), db.nextFile, nil)
		db.nextFile++
		if err != nil {
			return err
		}
		recovered.added = append(recovered.added, newTable{level: 0, meta: meta})
		mem = newMemtable(db.opts.MemtableSize, 0)
		return nil
	}
	for _, n := range logs {
		if n < db.logNum {
			continue
		}
		err := replayLog(logName(db.dir, n), func(payload []byte) error {
			br, err := newBatchReader(payload)
			if err != nil {
				return err
			}
			need := int64(len(payload)) + int64(br.count)*(format.TrailerLen+maxNodeOverhead)
			if !mem.hasRoom(need) {
				if err := flushMem(); err != nil {
					return err
				}
				if !mem.hasRoom(need) {
					mem = newMemtable(need, 0)
				}
			}
			for i := uint64(0); ; i++ {
				op, ok, err := br.next()
				if err != nil {
					return err
				}
				if !ok {
					break
				}
				mem.add(br.seq+i, op.kind, op.key, op.value)
			}
			if br.count > 0 {
				lastSeq = max(lastSeq, br.seq+uint64(br.count)-1)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if err := flushMem(); err != nil {
		return err
	}
	if len(recovered.added) > 0 {
		if err := syncDir(db.dir); err != nil {
			return err
		}
		if err := b.apply(recovered); err != nil {
			return err
		}
	}

	v, err := b.build(db.obsoleteTable)
	if err != nil {
		return err
	}
	db.current = v
	db.lastSeq = lastSeq
	db.visibleSeq.Store(lastSeq)

	// A fresh WAL and MANIFEST; the old ones become obsolete once CURRENT points at the new one.
	db.logNum = db.nextFile
	db.nextFile++
	newManifest := db.nextFile
	db.nextFile++
	snap := v.snapshotEdit()
	snap.setLogNum(db.logNum)
	snap.setNextFileNum(db.nextFile)
	snap.setLastSeq(lastSeq)
	db.manifest, err = createManifest(db.dir, newManifest, snap)
	if err != nil {
		return err
	}
	db.log, err = wal.Create(logName(db.dir, db.logNum), db.walOptions())
	if err != nil {
		return err
	}
	db.mem = newMemtable(db.opts.MemtableSize, db.logNum)
	db.m.flushes.Add(uint64(len(recovered.added)))
	db.removeObsoleteFiles()
	return nil
}

// replayLog feeds each record of a WAL to fn. A torn tail (crash mid-append) ends the log and
// is cut off; damage followed by valid records is corruption and fails recovery.
func replayLog(path string, fn func(payload []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("replay wal %s: %w", path, err)
	}
	defer f.Close()
	r := wal.NewReader(f)
	for {
		p, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("replay wal %s: %w", path, err)
		}
		if err := fn(p); err != nil {
			return fmt.Errorf("replay wal %s at offset %d: %w", path, r.Offset(), err)
		}
	}
	if st, err := f.Stat(); err == nil && st.Size() > r.Offset() {
		if err := os.Truncate(path, r.Offset()); err != nil {
			return fmt.Errorf("truncate torn tail of wal %s: %w", path, err)
		}
	}
	return nil
}

// removeObsoleteFiles deletes whatever the live state does not use: old MANIFESTs, flushed
// WALs, tables left by an interrupted flush or compaction or by a version that died while the
// process was down, temp files. Called at Open, before background work starts.
func (db *DB) removeObsoleteFiles() {
	live := make(map[uint64]bool)
	for _, level := range db.current.levels {
		for _, t := range level {
			live[t.fileNum] = true
		}
	}
	entries, err := os.ReadDir(db.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		kind, n := parseFileName(e.Name())
		remove := false
		switch kind {
		case fileLog:
			remove = n < db.logNum
		case fileTable:
			remove = !live[n]
		case fileManifest:
			remove = n != db.manifest.num
		case fileTemp:
			remove = true
		}
		if remove {
			if err := os.Remove(db.dir + string(os.PathSeparator) + e.Name()); err != nil {
				db.opts.Logger.Warn("remove obsolete file", "file", e.Name(), "err", err)
			}
		}
	}
}

// obsoleteTable is called when no version references t any more: close its reader, drop its
// cached blocks and delete the file.
func (db *DB) obsoleteTable(t *tableMeta) {
	if db.closed.Load() {
		return // the next Open sweeps it
	}
	db.tables.evict(t)
	db.cache.EvictFile(t.fileNum)
	if err := os.Remove(tableName(db.dir, t.fileNum)); err != nil && !os.IsNotExist(err) {
		db.opts.Logger.Warn("remove obsolete table", "table", t.fileNum, "err", err)
	}
	db.m.tablesDeleted.Add(1)
}

// setBgErrLocked records the first background failure; from then on writes fail with it,
// marked as ErrReadOnly. mu held.
func (db *DB) setBgErrLocked(err error) {
	if db.bgErr == nil {
		db.bgErr = readOnlyError{err}
		db.failed.Store(true)
	}
	db.bgCond.Broadcast()
}

// readOnlyError is a background failure as writes see it: errors.Is(ErrReadOnly) and the cause.
type readOnlyError struct{ cause error }

func (e readOnlyError) Error() string   { return e.cause.Error() }
func (e readOnlyError) Unwrap() []error { return []error{ErrReadOnly, e.cause} }

// Err returns nil while the DB accepts writes, and the background failure (matching
// ErrReadOnly) once it has turned read-only. Cheap enough for a readiness probe.
func (db *DB) Err() error {
	if !db.failed.Load() {
		return nil
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.bgErr
}

// Close waits for the commit in progress, stops background work (an unfinished compaction is
// abandoned; its output is swept at the next Open), syncs and closes the WAL and releases the
// directory lock. Data still in memtables is safe in the WAL.
func (db *DB) Close() error {
	db.cq.mu.Lock()
	if db.cq.closed {
		db.cq.mu.Unlock()
		return ErrClosed
	}
	db.cq.closed = true
	db.cq.mu.Unlock()

	db.mu.Lock()
	db.closing = true
	db.bgCond.Broadcast()
	db.mu.Unlock()
	db.cq.waitIdle()
	db.bgWG.Wait()
	db.compactMu.Lock() // a manual Compact sees closing and stops; wait for it
	defer db.compactMu.Unlock()

	if db.collector != nil {
		db.opts.Registerer.Unregister(db.collector)
	}
	db.closed.Store(true)
	err := db.closeFiles()
	db.opts.Logger.Info("lsm closed", "dir", db.dir)
	return err
}

func (db *DB) closeFiles() error {
	var err error
	keep := func(e error) {
		if err == nil && e != nil {
			err = e
		}
	}
	db.closed.Store(true)
	if db.log != nil {
		keep(db.log.Close())
	}
	for _, m := range db.imm {
		if m.pendingLog != nil {
			keep(m.pendingLog.Close())
		}
	}
	if db.manifest != nil {
		keep(db.manifest.close())
	}
	if db.tables != nil {
		db.tables.close()
	}
	if db.lock != nil {
		keep(db.lock.release())
	}
	return err
}

// Get returns the value of key, or ErrNotFound.
func (db *DB) Get(key []byte) ([]byte, error) {
	it, err := db.lookupAt(key, 0, true)
	if err != nil {
		return nil, err
	}
	return it.Value, nil
}

// Lookup returns the value of key with its version and expiry, or ErrNotFound.
func (db *DB) Lookup(key []byte) (Item, error) { return db.lookupAt(key, 0, true) }

// LookupAppend is Lookup with the value appended to dst (which may be nil) rather than in a
// new allocation, so a caller reusing one buffer reads without allocating.
func (db *DB) LookupAppend(dst, key []byte) (Item, error) {
	return db.lookupAppend(dst, key, 0, true)
}

// lookupAt reads key as of snap, or as of the latest visible write.
func (db *DB) lookupAt(key []byte, snap uint64, latest bool) (Item, error) {
	return db.lookupAppend(nil, key, snap, latest)
}

// lookupAppend reads key as of snap, or as of the latest visible write, appending the value to
// dst: the memory it was found in (memtable, cached block) is not the caller's.
func (db *DB) lookupAppend(dst, key []byte, snap uint64, latest bool) (Item, error) {
	if db.closed.Load() {
		return Item{}, ErrClosed
	}
	if latest {
		snap = db.visibleSeq.Load() // before the state: everything <= snap is in it
	}
	s := db.acquireState()
	defer s.v.unref()
	e, found, err := db.find(s, key, snap)
	if err != nil || !found {
		if err == nil {
			err = ErrNotFound
		}
		return Item{}, err
	}
	item, live, err := db.entryItem(e, db.opts.Now().UnixNano())
	if err != nil {
		return Item{}, err
	}
	if !live {
		return Item{}, ErrNotFound
	}
	item.Value = append(dst, item.Value...)
	if item.Value == nil {
		item.Value = []byte{}
	}
	return item, nil
}

// entry is the newest version of a user key at some snapshot, as stored (value may alias
// memtable or block memory).
type entry struct {
	seq   uint64
	kind  format.Kind
	value []byte
}

// entryItem interprets an entry: live=false for a tombstone or an expired TTL value.
func (db *DB) entryItem(e entry, now int64) (Item, bool, error) {
	switch e.kind {
	case format.KindDelete:
		return Item{}, false, nil
	case format.KindSetTTL:
		exp, v, err := format.DecodeTTLValue(e.value)
		if err != nil {
			return Item{}, false, err
		}
		if exp <= now {
			return Item{}, false, nil
		}
		return Item{Value: v, Version: e.seq, ExpiresAt: time.Unix(0, exp)}, true, nil
	default:
		return Item{Value: e.value, Version: e.seq}, true, nil
	}
}

// find returns the newest entry of ukey with seq <= snap: memtable, immutable memtables newest
// first, L0 tables newest first, then at most one table per deeper level. The first hit wins
// because every step only holds older data than the previous one.
func (db *DB) find(s *readState, ukey []byte, snap uint64) (entry, bool, error) {
	if seq, kind, v, ok := s.mem.get(ukey, snap); ok {
		return entry{seq, kind, v}, true, nil
	}
	for _, m := range s.imm {
		if seq, kind, v, ok := m.get(ukey, snap); ok {
			return entry{seq, kind, v}, true, nil
		}
	}
	var buf [64]byte
	seek := format.MakeInternalKey(buf[:0], ukey, snap, format.KindMax)
	for _, t := range s.v.levels[0] {
		if t.smallestSeq > snap || !t.containsUser(ukey) {
			continue
		}
		if e, ok, err := db.tableGet(t, seek); ok || err != nil {
			return e, ok, err
		}
	}
	for l := 1; l < numLevels; l++ {
		i := findTable(s.v.levels[l], ukey)
		if i < 0 {
			continue
		}
		if e, ok, err := db.tableGet(s.v.levels[l][i], seek); ok || err != nil {
			return e, ok, err
		}
	}
	return entry{}, false, nil
}

func (db *DB) tableGet(t *tableMeta, seek []byte) (entry, bool, error) {
	h, err := db.tables.get(t)
	if err != nil {
		return entry{}, false, err
	}
	defer h.release()
	trailer, v, found, err := h.r.GetTrailer(seek, true)
	if err != nil {
		return entry{}, false, fmt.Errorf("get from table %06d: %w", t.fileNum, err)
	}
	if !found {
		return entry{}, false, nil
	}
	seq, kind := trailer>>8, format.Kind(trailer&0xff)
	if !kind.Valid() {
		return entry{}, false, fmt.Errorf("get from table %06d: kind %d: %w", t.fileNum, kind, errCorrupt)
	}
	return entry{seq, kind, v}, true, nil
}

// batchPool recycles the one-op batches of Put, PutTTL and Delete.
var batchPool = sync.Pool{New: func() any { return new(Batch) }}

func (db *DB) writeOne(fill func(b *Batch)) error {
	b := batchPool.Get().(*Batch)
	b.Reset()
	fill(b)
	err := db.Write(b)
	if cap(b.data) <= 64<<10 {
		batchPool.Put(b)
	}
	return err
}

// Put sets key to value.
func (db *DB) Put(key, value []byte) error {
	return db.writeOne(func(b *Batch) { b.Put(key, value) })
}

// PutTTL sets key to value for ttl (measured with Options.Now); ttl <= 0 writes a value that is
// already expired.
func (db *DB) PutTTL(key, value []byte, ttl time.Duration) error {
	expiresAt := db.opts.Now().Add(ttl)
	return db.writeOne(func(b *Batch) { b.PutExpiring(key, value, expiresAt) })
}

// Delete removes key (writing a tombstone; deleting an absent key is not an error).
func (db *DB) Delete(key []byte) error {
	return db.writeOne(func(b *Batch) { b.Delete(key) })
}

// Item is a value with its version (the sequence number of the write) and expiry.
type Item struct {
	Value     []byte
	Version   uint64
	ExpiresAt time.Time // zero = never
}
