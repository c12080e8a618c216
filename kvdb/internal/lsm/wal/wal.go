// Package wal is the write-ahead log: every batch is appended here before it reaches the memtable,
// so that a crash loses at most what the sync policy allows.
//
// A log file is a plain sequence of records, each
//
//	crc32c (4 bytes, LE) | length (4 bytes, LE) | payload (length bytes)
//
// with the CRC (Castagnoli) computed over the four length bytes followed by the payload. There is
// no block structure (unlike LevelDB's 32 KiB blocks, see leveldb/doc/log_format.md): records are
// never split, which keeps the writer a single write(2) per group of records.
//
// Durability uses group commit, as described for System R and used by every modern WAL
// (e.g. RocksDB's write groups, Pebble's LogWriter): concurrent Append calls queue their records
// into one buffer; whichever caller finds no flush in progress becomes the leader, writes the
// whole buffer with one write(2) and, under SyncAlways, one fsync, then wakes every caller its
// flush covered. While a leader is inside fsync, new records pile up and the next leader takes
// them all, so the number of fsyncs adapts to the device latency instead of the record rate.
package wal

import (
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// HeaderLen is the size of a record header: crc32c then length, both little-endian.
const HeaderLen = 8

// MaxRecordSize bounds a payload; a larger Append fails and a larger length on disk is corrupt.
const MaxRecordSize = 64 << 20

// maxSpareBuf caps the write buffer kept for reuse, so one huge record does not pin memory.
const maxSpareBuf = 1 << 20

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrClosed is returned by Append and Sync after Close.
var ErrClosed = errors.New("wal: closed")

// ErrRecordTooLarge is returned by Append for payloads above MaxRecordSize.
var ErrRecordTooLarge = errors.New("wal: record too large")

// SyncPolicy says when an appended record is forced to stable storage.
type SyncPolicy int

const (
	// SyncAlways: each Append returns after its record is fsynced (group commit: concurrent
	// appenders share one fsync). A crash loses nothing that Append acknowledged.
	SyncAlways SyncPolicy = iota
	// SyncGroup: fsync at most every GroupWindow; Append returns after the write(2), not the
	// fsync. A process crash loses nothing; a machine crash loses at most ~GroupWindow of writes.
	SyncGroup
	// SyncNone: never fsync (the OS decides); Close still syncs. A process crash loses nothing;
	// a machine crash loses whatever the kernel had not written back.
	SyncNone
)

// String returns the policy's name as used in configuration (always|group|none).
func (p SyncPolicy) String() string {
	switch p {
	case SyncAlways:
		return "always"
	case SyncGroup:
		return "group"
	case SyncNone:
		return "none"
	}
	return fmt.Sprintf("SyncPolicy(%d)", int(p))
}

// ParseSyncPolicy parses always|group|none.
func ParseSyncPolicy(s string) (SyncPolicy, error) {
	switch s {
	case "always":
		return SyncAlways, nil
	case "group":
		return SyncGroup, nil
	case "none":
		return SyncNone, nil
	}
	return 0, fmt.Errorf("parse sync policy %q: want always, group or none", s)
}

// Options configure a Writer.
type Options struct {
	Policy      SyncPolicy
	GroupWindow time.Duration         // for SyncGroup, default 2ms
	OnSync      func(d time.Duration) // observe fsync latency (metrics); may be nil
}

// DefaultGroupWindow is used when Options.GroupWindow is zero.
const DefaultGroupWindow = 2 * time.Millisecond

// syncFile is the part of *os.File the writer uses; tests substitute slow or failing files.
type syncFile interface {
	Write(p []byte) (int, error)
	Sync() error
	Close() error
}

// Writer appends records to a log file. It is safe for concurrent use.
type Writer struct {
	f    syncFile
	opts Options
	size atomic.Int64

	mu   sync.Mutex
	cond sync.Cond // signalled when a flush completes
	// buf holds encoded records not yet handed to write(2); spare is the other half of a
	// double buffer so the leader can write one while followers fill the other.
	buf, spare []byte
	appended   uint64 // records (plus Sync requests) queued so far; each gets a ticket
	written    uint64 // tickets covered by a completed write(2)
	synced     uint64 // tickets covered by a completed fsync
	syncWanted uint64 // highest ticket whose caller waits for an fsync
	flushing   bool   // a leader is between taking buf and publishing the result
	err        error  // sticky: after a failed write or fsync the log is unusable
	closed     bool

	// SyncGroup background syncer.
	kick chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
}

// Create creates (or truncates) the log file at path and syncs its directory so the file itself
// survives a crash.
func Create(path string, opts Options) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create wal %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("create wal %s: %w", path, err)
	}
	return newWriter(f, opts), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func newWriter(f syncFile, opts Options) *Writer {
	if opts.GroupWindow <= 0 {
		opts.GroupWindow = DefaultGroupWindow
	}
	w := &Writer{f: f, opts: opts, buf: make([]byte, 0, 64<<10), spare: make([]byte, 0, 64<<10)}
	w.cond.L = &w.mu
	if opts.Policy == SyncGroup {
		w.kick = make(chan struct{}, 1)
		w.done = make(chan struct{})
		w.wg.Add(1)
		go w.groupSyncer()
	}
	return w
}

// Append writes one record and returns once it is durable per the sync policy.
func (w *Writer) Append(payload []byte) error {
	if len(payload) > MaxRecordSize {
		return fmt.Errorf("append %d bytes: %w", len(payload), ErrRecordTooLarge)
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return err
	}
	w.buf = AppendRecord(w.buf, payload)
	w.size.Add(int64(HeaderLen + len(payload)))
	w.appended++
	err := w.waitLocked(w.appended, w.opts.Policy == SyncAlways)
	w.mu.Unlock()
	if err == nil && w.opts.Policy == SyncGroup {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	return err
}

// AppendRecord appends the encoded record (header + payload) to dst. Exposed for tests and tools
// that build log images in memory.
func AppendRecord(dst, payload []byte) []byte {
	n := len(dst)
	dst = append(dst, 0, 0, 0, 0,
		byte(len(payload)), byte(len(payload)>>8), byte(len(payload)>>16), byte(len(payload)>>24))
	dst = append(dst, payload...)
	crc := crc32.Update(0, crcTable, dst[n+4:])
	dst[n], dst[n+1], dst[n+2], dst[n+3] = byte(crc), byte(crc>>8), byte(crc>>16), byte(crc>>24)
	return dst
}

// waitLocked blocks until ticket is written (and synced when needSync), leading a flush itself
// when no other caller is. mu must be held; it is released while doing I/O.
func (w *Writer) waitLocked(ticket uint64, needSync bool) error {
	if needSync && ticket > w.syncWanted {
		w.syncWanted = ticket
	}
	for {
		if w.err != nil {
			return w.err
		}
		if w.written >= ticket && (!needSync || w.synced >= ticket) {
			return nil
		}
		if w.flushing {
			w.cond.Wait()
			continue
		}
		w.flushLocked()
	}
}

// flushLocked makes the caller the leader: it writes everything queued so far and fsyncs if any
// waiter asked for it. mu is held on entry and exit, released during I/O.
func (w *Writer) flushLocked() {
	w.flushing = true
	buf := w.buf
	w.buf, w.spare = w.spare[:0], nil
	target := w.appended
	doSync := w.syncWanted > w.synced
	w.mu.Unlock()

	var err error
	if len(buf) > 0 {
		if _, werr := w.f.Write(buf); werr != nil {
			err = fmt.Errorf("write wal: %w", werr)
		}
	}
	if err == nil && doSync {
		err = w.fsync()
	}

	w.mu.Lock()
	w.flushing = false
	if err != nil {
		w.err = err
	} else {
		w.written = target
		if doSync && target > w.synced {
			w.synced = target
		}
	}
	if cap(buf) <= maxSpareBuf {
		w.spare = buf[:0]
	} else {
		w.spare = make([]byte, 0, 64<<10)
	}
	w.cond.Broadcast()
}

func (w *Writer) fsync() error {
	start := time.Now()
	err := w.f.Sync()
	if w.opts.OnSync != nil {
		w.opts.OnSync(time.Since(start))
	}
	if err != nil {
		return fmt.Errorf("sync wal: %w", err)
	}
	return nil
}

// groupSyncer implements SyncGroup: after a write it waits until GroupWindow has passed since
// the previous fsync, then syncs everything written so far. Idle logs cause no wake-ups.
func (w *Writer) groupSyncer() {
	defer w.wg.Done()
	var last time.Time
	timer := time.NewTimer(0)
	<-timer.C
	for {
		select {
		case <-w.done:
			return
		case <-w.kick:
		}
		if wait := w.opts.GroupWindow - time.Since(last); wait > 0 {
			timer.Reset(wait)
			select {
			case <-w.done:
				timer.Stop()
				return
			case <-timer.C:
			}
		}
		w.mu.Lock()
		target := w.written
		if w.err != nil || target <= w.synced {
			w.mu.Unlock()
			continue
		}
		w.mu.Unlock()
		// fsync concurrently with a leader's write(2) is fine: it covers at least target.
		err := w.fsync()
		last = time.Now()
		w.mu.Lock()
		if err != nil {
			if w.err == nil {
				w.err = err
			}
		} else if target > w.synced {
			w.synced = target
		}
		w.cond.Broadcast()
		w.mu.Unlock()
	}
}

// Sync writes everything appended so far and fsyncs it, whatever the policy.
func (w *Writer) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	return w.syncLocked()
}

func (w *Writer) syncLocked() error {
	// A Sync takes its own ticket so that a leader already inside fsync (which may not cover
	// records written after its fsync began) is not mistaken for ours.
	w.appended++
	return w.waitLocked(w.appended, true)
}

// Size returns the number of bytes appended to the log, including records still being written.
func (w *Writer) Size() int64 { return w.size.Load() }

// Close flushes and fsyncs pending records, stops the background syncer and closes the file.
// Calling Close twice returns ErrClosed.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	err := w.syncLocked()
	w.closed = true
	w.mu.Unlock()
	if w.done != nil {
		close(w.done)
		w.wg.Wait()
	}
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close wal: %w", cerr)
	}
	return err
}
