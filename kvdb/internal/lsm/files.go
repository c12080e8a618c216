package lsm

// Files in a DB directory:
//
//	LOCK             flock'ed by the process that has the DB open
//	CURRENT          name of the live MANIFEST, replaced atomically (temp file + rename)
//	MANIFEST-NNNNNN  version edits (see version_edit.go, docs/format.md §4)
//	NNNNNN.log       write-ahead log of one memtable (see package wal, batch.go)
//	NNNNNN.sst       sorted string table (see package sstable)
//
// All numbers come from one counter (the MANIFEST's next file number), so a file number names
// exactly one file and orders files by creation.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

type fileKind int

const (
	fileUnknown fileKind = iota
	fileLog
	fileTable
	fileManifest
	fileCurrent
	fileLock
	fileTemp
)

func logName(dir string, n uint64) string   { return filepath.Join(dir, fmt.Sprintf("%06d.log", n)) }
func tableName(dir string, n uint64) string { return filepath.Join(dir, fmt.Sprintf("%06d.sst", n)) }
func manifestName(dir string, n uint64) string {
	return filepath.Join(dir, fmt.Sprintf("MANIFEST-%06d", n))
}

func parseFileName(name string) (fileKind, uint64) {
	switch {
	case name == "CURRENT":
		return fileCurrent, 0
	case name == "LOCK":
		return fileLock, 0
	case strings.HasSuffix(name, ".tmp"):
		return fileTemp, 0
	case strings.HasPrefix(name, "MANIFEST-"):
		if n, err := strconv.ParseUint(name[len("MANIFEST-"):], 10, 64); err == nil {
			return fileManifest, n
		}
	case strings.HasSuffix(name, ".log"):
		if n, err := strconv.ParseUint(strings.TrimSuffix(name, ".log"), 10, 64); err == nil {
			return fileLog, n
		}
	case strings.HasSuffix(name, ".sst"):
		if n, err := strconv.ParseUint(strings.TrimSuffix(name, ".sst"), 10, 64); err == nil {
			return fileTable, n
		}
	}
	return fileUnknown, 0
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// setCurrent points CURRENT at MANIFEST-num: write a temp file, fsync it, rename it over
// CURRENT and fsync the directory, so a crash leaves either the old or the new pointer.
func setCurrent(dir string, num uint64) error {
	tmp := filepath.Join(dir, "CURRENT.tmp")
	content := fmt.Sprintf("MANIFEST-%06d\n", num)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("set current: %w", err)
	}
	_, err = f.WriteString(content)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, "CURRENT"))
	}
	if err != nil {
		return fmt.Errorf("set current: %w", err)
	}
	return syncDir(dir)
}

// readCurrent returns the manifest number CURRENT names; os.ErrNotExist for a new DB.
func readCurrent(dir string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, "CURRENT"))
	if err != nil {
		return 0, err
	}
	kind, n := parseFileName(strings.TrimSuffix(string(b), "\n"))
	if kind != fileManifest {
		return 0, fmt.Errorf("read CURRENT %q: %w", b, errCorruptCurrent)
	}
	return n, nil
}

var errCorruptCurrent = fmt.Errorf("not a manifest name: %w", errCorrupt)

// dirLock is the LOCK file held with flock(2) for as long as the DB is open. flock locks
// belong to the open file description, so a second Open in the same process is refused too,
// and the kernel drops the lock when the process dies (kill -9 included).
type dirLock struct{ f *os.File }

func lockDir(dir string) (*dirLock, error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w", dir, ErrLocked)
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return &dirLock{f: f}, nil
}

func (l *dirLock) release() error {
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	return l.f.Close()
}

// ErrLocked is returned by Open when another process (or another DB in this process) has the
// directory open.
var ErrLocked = errors.New("lsm: directory locked by another process")
