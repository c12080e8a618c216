package lsm

// Leveled compaction, as in LevelDB (leveldb/doc/impl.html "Compactions") and RocksDB's
// "Leveled Compaction" wiki page; the LSM-tree itself is O'Neil et al., "The Log-Structured
// Merge-Tree", Acta Informatica 1996. docs/adr/0001-compaction-strategy.md explains the choice.
//
// Shape: L0 holds flushed memtables (they overlap); every deeper level Ln holds tables with
// disjoint key ranges and is allowed LevelSizeBase × 10^(n-1) bytes. Each level gets a score —
// L0: table count / L0CompactionTrigger, Ln: bytes / allowed bytes — and the background worker
// compacts the level with the highest score >= 1:
//
//   - L0 → L1 takes every L0 table (they overlap each other, and leaving an older one behind
//     would let it shadow newer data moved down) plus the L1 tables overlapping their range.
//   - Ln → Ln+1 takes one table, round-robin over the key space (a per-level cursor), plus the
//     Ln+1 tables overlapping it.
//   - If nothing in Ln+1 overlaps and the inputs don't overlap each other, the tables are
//     moved by a MANIFEST edit without rewriting them (sequential inserts cost one write).
//
// The inputs are merged (merge.go) and written as new tables of about TargetFileSize, cut only
// between user keys so that a key never spans two tables of a level. While merging, for each
// user key (newest version first):
//
//   - Snapshots split history into stripes: the versions a snapshot at seq S can see are those
//     with seq <= S. Within one stripe only the newest version is visible to anyone, so older
//     versions in the same stripe are dropped.
//   - A tombstone, or a TTL value already expired (which reads treat as a tombstone), is dropped
//     when it is in the oldest stripe (every reader sees it, so nothing older can be needed) and
//     no level below the output level has the key (nothing older exists further down). Older
//     versions of the key in the same stripe go with it.
//
// Output writes go through the token bucket (ratelimit.go) when CompactionRate > 0.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/format"
)

var errCompactionAborted = errors.New("lsm: compaction aborted by Close")

type compaction struct {
	level       int // input level
	out         int // output level: level+1, or level itself when Compact rewrites the bottom
	inputs      [2][]*tableMeta
	grandparent []*tableMeta // level+2 tables overlapping the inputs, to bound future compactions
	v           *version     // the version the inputs come from (referenced)
	manual      bool
}

func (c *compaction) inputLevel(i int) int {
	if i == 0 {
		return c.level
	}
	return c.out
}

func (db *DB) maxBytesForLevel(level int) float64 {
	b := float64(db.opts.LevelSizeBase)
	for l := 1; l < level; l++ {
		b *= 10
	}
	return b
}

// scoresLocked returns the compaction score of every level (the last level is never compacted).
func (db *DB) scores(v *version) [numLevels]float64 {
	var s [numLevels]float64
	s[0] = float64(len(v.levels[0])) / float64(db.opts.L0CompactionTrigger)
	for l := 1; l < numLevels-1; l++ {
		s[l] = float64(levelBytes(v.levels[l])) / db.maxBytesForLevel(l)
	}
	return s
}

// pickCompactionLocked chooses the next compaction, nil if no level needs one. mu held.
func (db *DB) pickCompactionLocked() *compaction {
	v := db.current
	scores := db.scores(v)
	level, best := -1, 1.0
	for l, s := range scores {
		if s >= best {
			level, best = l, s
		}
	}
	if level < 0 {
		return nil
	}
	c := &compaction{level: level, out: level + 1, v: v}
	if level == 0 {
		c.inputs[0] = slices.Clone(v.levels[0])
	} else {
		// Round-robin: the first table after where the last compaction of this level ended.
		tables := v.levels[level]
		i := 0
		if pt := db.compactPt[level]; pt != nil {
			i, _ = slices.BinarySearchFunc(tables, pt, func(t *tableMeta, k []byte) int {
				return bytes.Compare(t.smallestUser(), k)
			})
			for i < len(tables) && bytes.Compare(tables[i].smallestUser(), pt) <= 0 {
				i++
			}
			if i == len(tables) {
				i = 0
			}
		}
		c.inputs[0] = []*tableMeta{tables[i]}
		db.compactPt[level] = bytes.Clone(tables[i].largestUser())
	}
	db.setupInputsLocked(c)
	return c
}

// setupInputsLocked adds the overlapping tables of the output level and the grandparents, and
// takes a reference on the version.
func (db *DB) setupInputsLocked(c *compaction) {
	lo, hi := keyRange(c.inputs[0])
	if c.out != c.level {
		c.inputs[1] = c.v.overlapping(c.out, lo, hi)
	}
	if len(c.inputs[1]) > 0 {
		l1, h1 := keyRange(c.inputs[1])
		lo, hi = minKey(lo, l1), maxKey(hi, h1)
	}
	if c.out+1 < numLevels {
		c.grandparent = c.v.overlapping(c.out+1, lo, hi)
	}
	c.v.ref()
}

func keyRange(tables []*tableMeta) (lo, hi []byte) {
	for i, t := range tables {
		if i == 0 || bytes.Compare(t.smallestUser(), lo) < 0 {
			lo = t.smallestUser()
		}
		if i == 0 || bytes.Compare(t.largestUser(), hi) > 0 {
			hi = t.largestUser()
		}
	}
	return lo, hi
}

func minKey(a, b []byte) []byte {
	if bytes.Compare(a, b) <= 0 {
		return a
	}
	return b
}

func maxKey(a, b []byte) []byte {
	if bytes.Compare(a, b) >= 0 {
		return a
	}
	return b
}

// isTrivialMove: nothing to merge with, so the tables can change level without being rewritten.
// Grandparent overlap is bounded so a moved table doesn't make a future compaction huge.
func (db *DB) isTrivialMove(c *compaction) bool {
	if len(c.inputs[1]) > 0 || levelBytes(c.grandparent) > 10*db.opts.TargetFileSize {
		return false
	}
	in := slices.Clone(c.inputs[0])
	slices.SortFunc(in, func(a, b *tableMeta) int { return bytes.Compare(a.smallestUser(), b.smallestUser()) })
	for i := 1; i < len(in); i++ {
		if bytes.Compare(in[i-1].largestUser(), in[i].smallestUser()) >= 0 {
			return false
		}
	}
	return true
}

func (db *DB) compactLoop() {
	defer db.bgWG.Done()
	db.mu.Lock()
	defer db.mu.Unlock()
	for {
		var c *compaction
		for !db.closing {
			if db.bgErr == nil && db.compactMu.TryLock() {
				if c = db.pickCompactionLocked(); c != nil {
					break
				}
				db.compactMu.Unlock()
			}
			db.bgCond.Wait()
		}
		if db.closing {
			if c != nil {
				c.v.unref()
				db.compactMu.Unlock()
			}
			return
		}
		err := db.runCompactionLocked(c)
		db.compactMu.Unlock()
		if err != nil && !db.closing && !errors.Is(err, errCompactionAborted) {
			db.setBgErrLocked(fmt.Errorf("lsm: compaction failed, DB is read-only: %w", err))
			db.opts.Logger.Error("compaction", "level", c.level, "err", err)
		}
	}
}

// runCompactionLocked executes c. mu held on entry and exit, released during I/O; the caller
// holds compactMu.
func (db *DB) runCompactionLocked(c *compaction) error {
	defer c.v.unref()
	start := time.Now()
	e := &versionEdit{}
	for i, in := range c.inputs {
		for _, t := range in {
			e.deleted = append(e.deleted, deletedTable{level: c.inputLevel(i), fileNum: t.fileNum})
		}
	}
	if !c.manual && db.isTrivialMove(c) {
		for _, t := range c.inputs[0] {
			e.added = append(e.added, newTable{level: c.out, meta: t})
		}
		if err := db.logAndApply(e, nil); err != nil {
			return err
		}
		db.m.trivialMoves.Add(1)
		db.opts.Logger.Debug("compaction moved tables", "from", c.level, "tables", len(c.inputs[0]))
		return nil
	}

	snaps := db.snapshotSeqs()
	db.mu.Unlock()
	outputs, read, err := db.mergeTables(c, snaps)
	db.mu.Lock()
	if err == nil && db.closing {
		err = errCompactionAborted
	}
	if err == nil {
		for _, t := range outputs {
			e.added = append(e.added, newTable{level: c.out, meta: t})
		}
		err = db.logAndApply(e, nil)
	}
	if err != nil {
		for _, t := range outputs {
			db.removeFile(tableName(db.dir, t.fileNum))
		}
		return err
	}
	var written uint64
	for _, t := range outputs {
		written += t.size
	}
	db.m.compactions.Add(1)
	db.m.compactBytesRead.Add(read)
	db.m.compactBytesWritten.Add(written)
	db.opts.Logger.Debug("compaction done", "level", c.level, "inputs", len(c.inputs[0])+len(c.inputs[1]),
		"outputs", len(outputs), "read", read, "written", written, "took", time.Since(start))
	return nil
}

func (db *DB) removeFile(path string) {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		db.opts.Logger.Warn("remove file", "file", path, "err", err)
	}
}

// mergeTables merges the inputs into new tables for level c.out, applying the drop rules.
// It runs without mu.
func (db *DB) mergeTables(c *compaction, snaps []uint64) (outputs []*tableMeta, read uint64, err error) {
	var iters []internalIterator
	defer func() {
		for _, it := range iters {
			_ = it.Close()
		}
	}()
	for i, in := range c.inputs {
		for _, t := range in {
			read += t.size
		}
		if c.inputLevel(i) == 0 {
			for _, t := range in {
				it, err := db.newCompactionIter(t)
				if err != nil {
					return nil, read, err
				}
				iters = append(iters, it)
			}
		} else if len(in) > 0 {
			li := newLevelIter(db, in, nil)
			li.open = db.newCompactionIter
			iters = append(iters, li)
		}
	}
	mi := newMergingIter(iters)
	outLevel := c.out
	target := uint64(db.opts.TargetFileSize)
	now := db.opts.Now().UnixNano()

	var (
		out        *tableOutput
		curKey     []byte
		hasKey     bool
		lastStripe int
		gpIndex    int    // grandparents before the current key
		gpOverlap  uint64 // grandparent bytes overlapped by the current output
		entries    int
	)
	finishOutput := func() error {
		meta, err := out.finish()
		out = nil
		if err != nil {
			return err
		}
		outputs = append(outputs, meta)
		return nil
	}
	defer func() {
		if out != nil {
			out.abort()
		}
		if err != nil {
			for _, t := range outputs {
				db.removeFile(tableName(db.dir, t.fileNum))
			}
			outputs = nil
		}
	}()

	for ok := mi.First(); ok; ok = mi.Next() {
		if entries++; entries%1024 == 0 && db.isClosing() {
			return nil, read, errCompactionAborted
		}
		ik := mi.Key()
		ukey, seq, kind, ok := format.ParseInternalKey(ik)
		if !ok {
			return nil, read, fmt.Errorf("compact: bad internal key: %w", errCorrupt)
		}
		newKey := !hasKey || !bytes.Equal(ukey, curKey)
		if newKey {
			curKey = append(curKey[:0], ukey...)
			hasKey = true
			lastStripe = -1
			// Cut between user keys: at the target size, or when the output already overlaps
			// so much of the next level that compacting it later would be expensive.
			for gpIndex < len(c.grandparent) && bytes.Compare(c.grandparent[gpIndex].largestUser(), ukey) < 0 {
				if out != nil {
					gpOverlap += c.grandparent[gpIndex].size
				}
				gpIndex++
			}
			if out != nil && (out.w.EstimatedSize() >= target || gpOverlap > 10*target) {
				if err := finishOutput(); err != nil {
					return nil, read, err
				}
			}
		}
		stripe := stripeOf(seq, snaps)
		if stripe == lastStripe {
			continue // shadowed by a newer version every reader of this stripe sees
		}
		lastStripe = stripe
		if stripe == 0 && (kind == format.KindDelete || (kind == format.KindSetTTL && expired(mi.Value(), now))) &&
			db.isBaseLevelForKey(c.v, outLevel, ukey) {
			continue // nothing older survives anywhere, so the tombstone has done its job
		}
		if out == nil {
			db.mu.Lock()
			num := db.nextFile
			db.nextFile++
			db.mu.Unlock()
			if out, err = db.createTable(num, db.rate); err != nil {
				return nil, read, err
			}
			gpOverlap = 0
		}
		if err := out.w.Add(ik, mi.Value()); err != nil {
			return nil, read, fmt.Errorf("compact into table %06d: %w", out.fileNum, err)
		}
	}
	if err := mi.Error(); err != nil {
		return nil, read, fmt.Errorf("compact: %w", err)
	}
	if out != nil {
		if err := finishOutput(); err != nil {
			return nil, read, err
		}
	}
	if len(outputs) > 0 {
		if err := syncDir(db.dir); err != nil {
			return nil, read, err
		}
	}
	return outputs, read, nil
}

func (db *DB) isClosing() bool {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.closing
}

func expired(value []byte, now int64) bool {
	exp, _, err := format.DecodeTTLValue(value)
	return err == nil && exp <= now
}

// stripeOf returns the index of the snapshot stripe holding seq: 0 for seq <= the oldest
// snapshot (or when there are none), len(snaps) for writes newer than every snapshot.
func stripeOf(seq uint64, snaps []uint64) int {
	i, _ := slices.BinarySearch(snaps, seq)
	return i
}

// isBaseLevelForKey reports whether no level below outLevel may hold ukey.
func (db *DB) isBaseLevelForKey(v *version, outLevel int, ukey []byte) bool {
	for l := outLevel + 1; l < numLevels; l++ {
		if findTable(v.levels[l], ukey) >= 0 {
			return false
		}
	}
	return true
}

// Compact flushes the memtable and compacts every level down into the deepest non-empty one
// (at least L1), so that all overwritten versions, tombstones and expired values that no
// snapshot needs are physically gone. It waits; background compactions pause meanwhile.
func (db *DB) Compact() error {
	if err := db.Flush(); err != nil {
		return err
	}
	db.compactMu.Lock()
	defer db.compactMu.Unlock()
	db.mu.Lock()
	defer func() {
		db.bgCond.Broadcast()
		db.mu.Unlock()
	}()
	bottom := 1
	for l := numLevels - 1; l >= 1; l-- {
		if len(db.current.levels[l]) > 0 {
			bottom = l
			break
		}
	}
	// Push every level into the next one; the step into the bottom level takes all of its
	// tables. If nothing was above the bottom level, rewrite it in place instead: its tables may
	// hold tombstones and values that expired since they got there.
	rewroteBottom := false
	for level := 0; level <= bottom && !rewroteBottom; level++ {
		if db.closing {
			return ErrClosed
		}
		if db.bgErr != nil {
			return db.bgErr
		}
		v := db.current
		if len(v.levels[level]) == 0 {
			continue
		}
		out := min(level+1, bottom)
		c := &compaction{level: level, out: out, v: v, manual: true, inputs: [2][]*tableMeta{slices.Clone(v.levels[level])}}
		db.setupInputsLocked(c)
		if out == bottom && out != level {
			c.inputs[1] = slices.Clone(v.levels[bottom])
		}
		rewroteBottom = out == bottom
		if err := db.runCompactionLocked(c); err != nil {
			if errors.Is(err, errCompactionAborted) {
				return ErrClosed
			}
			return err
		}
	}
	return nil
}
