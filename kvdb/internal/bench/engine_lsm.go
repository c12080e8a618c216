//go:build !nolsm

// The adapter of our engine lives alone in this file (written against the lsm API in the kvdb
// contract) so that it can follow that API without touching the peers. While package lsm does
// not compile, build with -tags nolsm to benchmark the peers alone (engine_nolsm.go).

package bench

import (
	"errors"
	"fmt"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm"
	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/sstable"
	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/wal"
)

func oursEngine() EngineInfo {
	return EngineInfo{
		Name: Ours,
		Open: openLSM,
		Config: "ours (kvdb/internal/lsm) with its defaults, set explicitly: 8 MiB memtable, 64 MiB block cache, " +
			"4 KiB blocks, Snappy, bloom 10 bits/key, L0 4/12, L1 64 MiB, 8 MiB tables; " +
			"durable rows open with wal.SyncAlways (fsync per commit, group commit), the others with wal.SyncNone",
	}
}

type lsmDB struct {
	db *lsm.DB
}

func openLSM(dir string, o Options) (Engine, error) {
	policy := wal.SyncNone
	if o.Sync {
		policy = wal.SyncAlways
	}
	// Every knob is set, defaults included: the zero Options means SyncAlways, and the
	// comparison must not shift when a default does.
	db, err := lsm.Open(dir, lsm.Options{
		Sync:                policy,
		MemtableSize:        memtableBytes,
		BlockSize:           blockBytes,
		BlockCacheSize:      cacheBytes,
		BloomBitsPerKey:     bloomBits,
		Compression:         sstable.Snappy,
		L0CompactionTrigger: l0Compaction,
		L0StopWritesTrigger: l0Stop,
		LevelSizeBase:       lbaseBytes,
		TargetFileSize:      tableBytes,
	})
	if err != nil {
		return nil, fmt.Errorf("open lsm in %s: %w", dir, err)
	}
	return &lsmDB{db: db}, nil
}

func (l *lsmDB) Put(key, value []byte) error {
	return l.db.Put(key, value)
}

func (l *lsmDB) Write(kvs []KV) error {
	// A batch per call: the contract does not say whether the DB keeps it after Write returns.
	b := lsm.NewBatch()
	for _, kv := range kvs {
		b.Put(kv.Key, kv.Value)
	}
	return l.db.Write(b)
}

func (l *lsmDB) Get(dst, key []byte) ([]byte, bool, error) {
	v, err := l.db.Get(key)
	if errors.Is(err, lsm.ErrNotFound) {
		return dst[:0], false, nil
	}
	if err != nil {
		return dst[:0], false, err
	}
	// The contract does not say whether v may alias a cached block; copying costs the same for
	// every engine.
	return append(dst[:0], v...), true, nil
}

func (l *lsmDB) Scan(start []byte, n int, fn func(k, v []byte)) (int, error) {
	it := l.db.NewIterator(lsm.IterOptions{Lower: start})
	seen := 0
	for ok := it.SeekGE(start); ok && seen < n; ok = it.Next() {
		fn(it.Key(), it.Value())
		seen++
	}
	if err := it.Error(); err != nil {
		_ = it.Close()
		return seen, err
	}
	return seen, it.Close()
}

func (l *lsmDB) Close() error {
	return l.db.Close()
}
