package lsm

// Flush: an immutable memtable becomes an L0 table.
//
// A full memtable is already sorted, so flushing is one sequential pass writing an SSTable
// (LevelDB's WriteLevel0Table). The background flusher takes the oldest immutable memtable,
// writes NNNNNN.sst, fsyncs it and the directory, and then one MANIFEST edit both adds the table
// to L0 and advances the log number past the memtable's WAL; only after that edit is durable are
// the memtable dropped from the read state and the WAL deleted. A crash anywhere before the edit
// leaves the WAL in charge (the half-written table is swept at Open); after it, the table is.

import (
	"fmt"
	"io"
	"os"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/format"
	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/sstable"
)

func (db *DB) flushLoop() {
	defer db.bgWG.Done()
	db.mu.Lock()
	defer db.mu.Unlock()
	for {
		for !db.closing && (len(db.imm) == 0 || db.bgErr != nil) {
			db.bgCond.Wait()
		}
		if db.closing {
			return
		}
		if err := db.flushOldestLocked(); err != nil && !db.closing {
			db.setBgErrLocked(fmt.Errorf("lsm: flush failed, DB is read-only: %w", err))
			db.opts.Logger.Error("flush", "err", err)
		}
	}
}

// flushOldestLocked flushes db.imm[0]. mu held; released during I/O.
func (db *DB) flushOldestLocked() error {
	m := db.imm[0]
	fileNum := db.nextFile
	db.nextFile++
	db.mu.Unlock()
	var meta *tableMeta
	err := func() error {
		if m.pendingLog != nil {
			if err := m.pendingLog.Close(); err != nil {
				return err
			}
			m.pendingLog = nil
		}
		if m.empty() {
			return nil // nothing to write; the edit below still retires the WAL
		}
		var err error
		if meta, err = db.writeTable(m.newIter(), fileNum, nil); err != nil {
			return err
		}
		return syncDir(db.dir)
	}()
	db.mu.Lock()
	if err != nil {
		return err
	}
	if db.closing {
		return nil // abandoned: the WAL still holds the data; the table is swept at Open
	}
	e := &versionEdit{}
	if meta != nil {
		e.added = append(e.added, newTable{level: 0, meta: meta})
	}
	// The next memtable's WAL is now the oldest one holding unflushed writes.
	if len(db.imm) > 1 {
		e.setLogNum(db.imm[1].logNum)
	} else {
		e.setLogNum(db.mem.logNum)
	}
	if err := db.logAndApply(e, func() { db.imm = db.imm[1:] }); err != nil {
		return err
	}
	if meta != nil {
		db.m.flushes.Add(1)
		db.m.flushBytes.Add(meta.size)
	}
	if err := os.Remove(logName(db.dir, m.logNum)); err != nil && !os.IsNotExist(err) {
		db.opts.Logger.Warn("remove flushed wal", "wal", m.logNum, "err", err)
	}
	return nil
}

func (db *DB) writerOptions() sstable.WriterOptions {
	return sstable.WriterOptions{
		BlockSize:       db.opts.BlockSize,
		BloomBitsPerKey: db.opts.BloomBitsPerKey,
		Compression:     db.opts.Compression,
	}
}

// tableOutput is a table being written by a flush or compaction.
type tableOutput struct {
	fileNum uint64
	f       *os.File
	w       *sstable.Writer
}

func (db *DB) createTable(fileNum uint64, rate *rateLimiter) (*tableOutput, error) {
	f, err := os.OpenFile(tableName(db.dir, fileNum), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create table %06d: %w", fileNum, err)
	}
	var dst io.Writer = f
	if rate != nil {
		dst = &rateLimitedWriter{w: f, l: rate}
	}
	return &tableOutput{fileNum: fileNum, f: f, w: sstable.NewWriter(dst, db.writerOptions())}, nil
}

// finish completes the table, fsyncs it and returns its metadata.
func (o *tableOutput) finish() (*tableMeta, error) {
	props, err := o.w.Finish()
	if err == nil {
		err = o.f.Sync()
	}
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write table %06d: %w", o.fileNum, err)
	}
	return &tableMeta{
		fileNum:     o.fileNum,
		size:        props.FileSize,
		smallest:    props.Smallest,
		largest:     props.Largest,
		smallestSeq: props.SmallestSeq,
		largestSeq:  props.LargestSeq,
	}, nil
}

func (o *tableOutput) abort() {
	_ = o.f.Close()
	_ = os.Remove(o.f.Name())
}

// writeTable writes every entry of it (sorted internal keys) to table fileNum.
func (db *DB) writeTable(it internalIterator, fileNum uint64, rate *rateLimiter) (*tableMeta, error) {
	out, err := db.createTable(fileNum, rate)
	if err != nil {
		return nil, err
	}
	for ok := it.First(); ok; ok = it.Next() {
		if err := out.w.Add(it.Key(), it.Value()); err != nil {
			out.abort()
			return nil, fmt.Errorf("write table %06d: %w", fileNum, err)
		}
	}
	if err := it.Error(); err != nil {
		out.abort()
		return nil, err
	}
	meta, err := out.finish()
	if err != nil {
		_ = os.Remove(tableName(db.dir, fileNum))
		return nil, err
	}
	if _, _, _, ok := format.ParseInternalKey(meta.smallest); !ok {
		_ = os.Remove(tableName(db.dir, fileNum))
		return nil, fmt.Errorf("write table %06d: empty table", fileNum)
	}
	return meta, nil
}
