package lsm

// MANIFEST files: the log of version edits, in the WAL's record framing.
//
// Each record is one encoded versionEdit (version_edit.go). A new MANIFEST starts with a
// snapshot edit listing every live table, so replay never needs an older file; CURRENT names the
// live MANIFEST and is switched atomically (files.go: setCurrent). Appends are fsynced before
// the edit takes effect, so a version that readers can see is always one recovery rebuilds.

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/wal"
)

type manifestWriter struct {
	num uint64
	w   *wal.Writer
	buf []byte
}

// createManifest writes MANIFEST-num holding snap, then points CURRENT at it.
func createManifest(dir string, num uint64, snap *versionEdit) (*manifestWriter, error) {
	w, err := wal.Create(manifestName(dir, num), wal.Options{Policy: wal.SyncAlways})
	if err != nil {
		return nil, err
	}
	m := &manifestWriter{num: num, w: w}
	if err := m.append(snap); err != nil {
		_ = w.Close()
		return nil, err
	}
	if err := setCurrent(dir, num); err != nil {
		_ = w.Close()
		return nil, err
	}
	return m, nil
}

// append writes one edit and returns once it is on stable storage.
func (m *manifestWriter) append(e *versionEdit) error {
	m.buf = e.encode(m.buf[:0])
	if err := m.w.Append(m.buf); err != nil {
		return fmt.Errorf("append manifest %06d: %w", m.num, err)
	}
	return nil
}

func (m *manifestWriter) size() int64  { return m.w.Size() }
func (m *manifestWriter) close() error { return m.w.Close() }

type manifestState struct {
	logNum, nextFileNum, lastSeq uint64
}

// replayManifest applies every edit of MANIFEST-num to b. A torn last record is an edit whose
// append never returned, so it is ignored; damage before valid records is corruption.
func replayManifest(dir string, num uint64, b *versionBuilder) (manifestState, error) {
	var st manifestState
	name := manifestName(dir, num)
	f, err := os.Open(name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return st, fmt.Errorf("CURRENT names %s: %v: %w", name, err, errCorrupt)
		}
		return st, fmt.Errorf("replay manifest: %w", err)
	}
	defer f.Close()
	r := wal.NewReader(f)
	records := 0
	for {
		p, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, fmt.Errorf("replay manifest %s: %w", name, err)
		}
		e, err := decodeVersionEdit(p)
		if err != nil {
			return st, fmt.Errorf("replay manifest %s record %d: %w", name, records, err)
		}
		if err := b.apply(e); err != nil {
			return st, fmt.Errorf("replay manifest %s record %d: %w", name, records, err)
		}
		if e.hasLogNum {
			st.logNum = e.logNum
		}
		if e.hasNextFileNum {
			st.nextFileNum = e.nextFileNum
		}
		if e.hasLastSeq {
			st.lastSeq = e.lastSeq
		}
		records++
	}
	if records == 0 {
		return st, fmt.Errorf("replay manifest %s: no records: %w", name, errCorrupt)
	}
	return st, nil
}

// logAndApply records e in the MANIFEST and makes the resulting version current. mutate, if
// set, changes other state (the immutable memtable list) in the same published step. mu held.
func (db *DB) logAndApply(e *versionEdit, mutate func()) error {
	if db.bgErr != nil {
		return db.bgErr
	}
	if !e.hasLogNum {
		e.setLogNum(db.logNum)
	}
	e.setNextFileNum(db.nextFile)
	e.setLastSeq(db.visibleSeq.Load())
	b := newVersionBuilder(db.current)
	if err := b.apply(e); err != nil {
		return err
	}
	v, err := b.build(db.obsoleteTable)
	if err != nil {
		return err
	}
	if db.manifest.size() > manifestRotateSize {
		err = db.rotateManifestLocked(v, e)
	} else {
		err = db.manifest.append(e)
	}
	if err != nil {
		// The MANIFEST may or may not hold the edit; the only safe course is to stop writing.
		db.setBgErrLocked(fmt.Errorf("lsm: manifest write failed, DB is read-only: %w", err))
		v.unref()
		return err
	}
	old := db.current
	db.current = v
	db.logNum = e.logNum
	if mutate != nil {
		mutate()
	}
	db.publishStateLocked()
	old.unref()
	db.bgCond.Broadcast()
	return nil
}

// rotateManifestLocked starts a new MANIFEST holding v as one snapshot edit.
func (db *DB) rotateManifestLocked(v *version, e *versionEdit) error {
	num := db.nextFile
	db.nextFile++
	snap := v.snapshotEdit()
	snap.setLogNum(e.logNum)
	snap.setNextFileNum(db.nextFile)
	snap.setLastSeq(e.lastSeq)
	m, err := createManifest(db.dir, num, snap)
	if err != nil {
		return err
	}
	old := db.manifest
	db.manifest = m
	_ = old.close()
	_ = os.Remove(manifestName(db.dir, old.num))
	return nil
}
