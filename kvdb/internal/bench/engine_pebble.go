package bench

import (
	"errors"
	"fmt"
	"os"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/sstable"
)

func pebbleEngine() EngineInfo {
	return EngineInfo{
		Name: "pebble",
		Open: openPebble,
		Config: "Pebble v2.1.7, newest format; our LSM shape: 8 MiB memtable, 64 MiB block cache, " +
			"4 KiB blocks, Snappy, bloom 10 bits/key on every level, L0 4/12, Lbase 64 MiB, 8 MiB tables; " +
			"WAL on; durable rows commit with pebble.Sync, the others with pebble.NoSync",
	}
}

type pebbleDB struct {
	db *pebble.DB
	wo *pebble.WriteOptions
}

func openPebble(dir string, o Options) (Engine, error) {
	cache := pebble.NewCache(cacheBytes)
	// The DB takes its own reference; ours goes once Open has returned.
	defer cache.Unref()
	opts := &pebble.Options{
		Cache:                 cache,
		MemTableSize:          memtableBytes,
		L0CompactionThreshold: l0Compaction,
		L0StopWritesThreshold: l0Stop,
		LBaseMaxBytes:         lbaseBytes,
		FormatMajorVersion:    pebble.FormatNewest,
		Logger:                pebbleLogger{},
	}
	for i := range opts.Levels {
		opts.Levels[i].BlockSize = blockBytes
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(bloomBits)
		opts.Levels[i].Compression = func() *sstable.CompressionProfile { return sstable.SnappyCompression }
		opts.TargetFileSizes[i] = tableBytes
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open pebble in %s: %w", dir, err)
	}
	wo := pebble.NoSync
	if o.Sync {
		wo = pebble.Sync
	}
	return &pebbleDB{db: db, wo: wo}, nil
}

func (p *pebbleDB) Put(key, value []byte) error {
	return p.db.Set(key, value, p.wo)
}

func (p *pebbleDB) Write(kvs []KV) error {
	b := p.db.NewBatch()
	// A batch copies keys and values into its own buffer, so the caller may reuse them.
	for _, kv := range kvs {
		if err := b.Set(kv.Key, kv.Value, nil); err != nil {
			_ = b.Close()
			return err
		}
	}
	if err := b.Commit(p.wo); err != nil {
		_ = b.Close()
		return err
	}
	return b.Close()
}

func (p *pebbleDB) Get(dst, key []byte) ([]byte, bool, error) {
	v, closer, err := p.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return dst[:0], false, nil
	}
	if err != nil {
		return dst[:0], false, err
	}
	// v points into the block cache until closer.Close.
	dst = append(dst[:0], v...)
	return dst, true, closer.Close()
}

func (p *pebbleDB) Scan(start []byte, n int, fn func(k, v []byte)) (int, error) {
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: start})
	if err != nil {
		return 0, err
	}
	seen := 0
	for ok := it.First(); ok && seen < n; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return seen, err
		}
		fn(it.Key(), v)
		seen++
	}
	return seen, it.Close()
}

func (p *pebbleDB) Close() error {
	return p.db.Close()
}

// pebbleLogger keeps Pebble's informational lines (flushes, compactions) off the progress output.
type pebbleLogger struct{}

func (pebbleLogger) Infof(string, ...any) {}

func (pebbleLogger) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pebble: "+format+"\n", args...)
}

func (pebbleLogger) Fatalf(format string, args ...any) {
	// Pebble calls Fatalf on invariant violations and does not expect it to return.
	panic(fmt.Sprintf("pebble: "+format, args...))
}
