// Package bench is the storage-engine benchmark of kvdb: it drives our LSM engine (package lsm) and
// three peers — Pebble v2, bbolt and Badger — through the same workloads, with the same keys and
// values, in one process, and reports throughput, latency and our ratio to Pebble.
//
// The workloads follow LevelDB's db_bench (fillseq, fillrandom, readrandom, seek/scan) so that the
// numbers can be read next to published ones; see doc/benchmark.html in google/leveldb and
// Pebble's cmd/pebble "bench ycsb". Each engine sits behind the small [Engine] interface, one file
// per adapter, so an adapter that stops compiling or misbehaves is fixed in one place.
package bench

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// KV is one key/value pair of a batch.
type KV struct {
	Key, Value []byte
}

// Options are the settings every adapter maps onto its engine's own knobs.
type Options struct {
	// Sync makes every Put and Write durable when it returns (an fsync of the log or data file per
	// commit). Without it the engines still write their log, but leave flushing to the OS.
	Sync bool
}

// Engine is what the workloads need from a key-value store. Implementations must be safe for
// concurrent use, and must neither retain the slices passed in nor hand out memory they own.
type Engine interface {
	// Put writes one key, durably if the engine was opened with Options.Sync.
	Put(key, value []byte) error
	// Write applies kvs atomically as one batch (one commit, one fsync with Options.Sync).
	// The caller reuses the key and value buffers as soon as Write returns.
	Write(kvs []KV) error
	// Get appends the value of key to dst[:0] and returns it; found is false if the key is
	// absent. The result never aliases the engine's memory: it stays valid after further calls.
	Get(dst, key []byte) (value []byte, found bool, err error)
	// Scan calls fn for up to n pairs whose key is >= start, in ascending key order, and returns
	// how many it visited. k and v are valid only during the call to fn.
	Scan(start []byte, n int, fn func(k, v []byte)) (int, error)
	// Close releases the engine; with Options.Sync off it still leaves every write on disk.
	Close() error
}

// Opener opens (creating if needed) an engine whose files live in dir.
type Opener func(dir string, opts Options) (Engine, error)

// ErrNotBuilt is returned, wrapped, by the Opener of an adapter left out of the build.
var ErrNotBuilt = errors.New("engine adapter not built")

// EngineInfo names an adapter and says how it is configured, so that the report carries the
// fairness notes next to the numbers.
type EngineInfo struct {
	Name   string // as in -engines and the table's columns
	Open   Opener
	Config string // one line: the settings that matter for the comparison
}

// Ours is the name of our engine; the report's ratio column is Ours / [Baseline].
const (
	Ours     = "lsm"
	Baseline = "pebble"
)

// Memory and layout knobs shared by the LSM adapters, set to our engine's defaults (see the lsm
// package's Options) so that the comparison is like for like rather than default against default.
const (
	cacheBytes    = 64 << 20 // block cache
	memtableBytes = 8 << 20  // memtable size before a flush
	bloomBits     = 10       // bits per key of the bloom filters
	blockBytes    = 4 << 10  // data block size before compression
	l0Compaction  = 4        // L0 files that trigger a compaction
	l0Stop        = 12       // L0 files that stall writes
	lbaseBytes    = 64 << 20 // size of the first level below L0
	tableBytes    = 8 << 20  // target sstable size
)

// Engines returns every adapter, ours first.
func Engines() []EngineInfo {
	return []EngineInfo{oursEngine(), pebbleEngine(), bboltEngine(), badgerEngine()}
}

// SelectEngines returns the adapters named in list (comma-separated, in that order); an empty
// list selects all of them.
func SelectEngines(list string) ([]EngineInfo, error) {
	all := Engines()
	if strings.TrimSpace(list) == "" {
		return all, nil
	}
	var out []EngineInfo
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		i := slices.IndexFunc(all, func(e EngineInfo) bool { return e.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("unknown engine %q (choose among %s)", name, engineNames(all))
		}
		if slices.ContainsFunc(out, func(e EngineInfo) bool { return e.Name == name }) {
			return nil, fmt.Errorf("engine %q listed twice", name)
		}
		out = append(out, all[i])
	}
	if len(out) == 0 {
		return nil, errors.New("no engine selected")
	}
	return out, nil
}

func engineNames(es []EngineInfo) string {
	names := make([]string, len(es))
	for i, e := range es {
		names[i] = e.Name
	}
	return strings.Join(names, ", ")
}
