package lsm

import (
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/sstable"
	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/wal"
	"github.com/prometheus/client_golang/prometheus"
)

// ErrNotFound is returned by reads when the key is absent, deleted or expired.
var ErrNotFound = errors.New("lsm: not found")

// ErrConditionFailed is returned by Write when an ExpectVersion/ExpectExists condition does not
// hold at commit time; nothing of the batch was written.
var ErrConditionFailed = errors.New("lsm: condition failed")

// ErrClosed is returned by every operation on a closed DB (or closed snapshot).
var ErrClosed = errors.New("lsm: closed")

// ErrReadOnly is matched (errors.Is) by every write refused after a background failure — a
// failed flush, compaction, MANIFEST or WAL write, typically a full disk. The error also
// carries that first failure. Reads keep working; only a restart (after fixing the cause)
// makes the DB writable again, because the failed step may have left the in-memory state
// ahead of the files.
var ErrReadOnly = errors.New("lsm: read-only after a background error")

// ErrBatchTooLarge is returned by Write for a batch that cannot fit in one WAL record.
var ErrBatchTooLarge = errors.New("lsm: batch too large")

// numLevels is the depth of the LSM tree: L0 (overlapping flush outputs) plus L1..L6, enough for
// 64 MiB × 10^5 ≈ 6 TiB at the bottom with the default LevelSizeBase.
const numLevels = 7

// NumLevels is exported for callers that read Metrics().Levels.
const NumLevels = numLevels

// Options configure a DB. Zero fields take the defaults below, with one exception: the zero
// Sync is wal.SyncAlways (the wal package's zero value), the safest policy; DefaultOptions
// returns the contract's SyncGroup.
type Options struct {
	Sync                wal.SyncPolicy      // zero = SyncAlways; DefaultOptions: SyncGroup
	GroupWindow         time.Duration       // default 2ms
	MemtableSize        int64               // default 8 MiB
	BlockSize           int                 // default 4096
	BlockCacheSize      int64               // default 64 MiB
	BloomBitsPerKey     int                 // default 10; < 0 = no filter
	Compression         sstable.Compression // default Snappy
	L0CompactionTrigger int                 // default 4
	L0StopWritesTrigger int                 // default 12 (write stall until compaction catches up)
	LevelSizeBase       int64               // default 64 MiB (L1), x10 per level
	TargetFileSize      int64               // default 8 MiB
	CompactionRate      int64               // bytes/s limit for compaction writes, 0 = unlimited
	Now                 func() time.Time    // clock for TTL; default time.Now
	Logger              *slog.Logger        // default discard
	// Registerer receives the kvdb_* collectors (unregistered by Close). nil = none; Metrics()
	// works regardless. Two DBs on one registry need prometheus.WrapRegistererWith labels.
	Registerer prometheus.Registerer

	// maxOpenTables bounds the table cache (open sstable readers); tests lower it.
	maxOpenTables int
}

func (o Options) withDefaults() Options {
	// Sync is left alone: wal.SyncAlways is the zero value of wal.SyncPolicy, so "unset" cannot
	// be told apart from "always", and erring on the side of durability is the safe reading.
	if o.GroupWindow <= 0 {
		o.GroupWindow = wal.DefaultGroupWindow
	}
	if o.MemtableSize <= 0 {
		o.MemtableSize = 8 << 20
	}
	if o.BlockSize <= 0 {
		o.BlockSize = 4096
	}
	if o.BlockCacheSize <= 0 {
		o.BlockCacheSize = 64 << 20
	}
	if o.BloomBitsPerKey == 0 {
		o.BloomBitsPerKey = 10
	}
	if o.BloomBitsPerKey < 0 {
		o.BloomBitsPerKey = 0
	}
	if o.L0CompactionTrigger <= 0 {
		o.L0CompactionTrigger = 4
	}
	if o.L0StopWritesTrigger <= 0 {
		o.L0StopWritesTrigger = 12
	}
	if o.L0StopWritesTrigger < o.L0CompactionTrigger {
		o.L0StopWritesTrigger = o.L0CompactionTrigger
	}
	if o.LevelSizeBase <= 0 {
		o.LevelSizeBase = 64 << 20
	}
	if o.TargetFileSize <= 0 {
		o.TargetFileSize = 8 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.maxOpenTables <= 0 {
		o.maxOpenTables = 1000
	}
	return o
}

// DefaultOptions returns the contract's defaults, including Sync = SyncGroup (which the zero
// Options cannot express, see withDefaults).
func DefaultOptions() Options {
	o := Options{Sync: wal.SyncGroup, Compression: sstable.Snappy}
	return o.withDefaults()
}
