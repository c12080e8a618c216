package bench

import (
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

func badgerEngine() EngineInfo {
	return EngineInfo{
		Name: "badger",
		Open: openBadger,
		Config: "Badger v4.9.6 (LSM + value log; 100 B values stay in the LSM), 8 MiB memtables, " +
			"64 MiB block cache, Snappy, bloom 1% false positives (~10 bits/key), other defaults; " +
			"conflict detection and metrics off (writes are blind); one transaction per Put or batch; " +
			"SyncWrites on for durable rows, off for the others",
	}
}

type badgerDB struct {
	db *badger.DB
}

func openBadger(dir string, o Options) (Engine, error) {
	opts := badger.DefaultOptions(dir).
		WithLogger(nil). // its INFO lines would bury the progress output
		WithSyncWrites(o.Sync).
		WithMemTableSize(memtableBytes).
		WithBlockCacheSize(cacheBytes).
		WithBlockSize(blockBytes).
		WithCompression(options.Snappy).
		WithBloomFalsePositive(0.01).
		WithDetectConflicts(false).
		WithMetricsEnabled(false)
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open badger in %s: %w", dir, err)
	}
	return &badgerDB{db: db}, nil
}

func (b *badgerDB) Put(key, value []byte) error {
	return b.db.Update(func(txn *badger.Txn) error {
		return txn.Set(key, value)
	})
}

func (b *badgerDB) Write(kvs []KV) error {
	// A transaction holds on to the slices until Commit, which copies them into the memtable
	// and the value log before it returns.
	txn := b.db.NewTransaction(true)
	defer txn.Discard()
	for _, kv := range kvs {
		if err := txn.Set(kv.Key, kv.Value); err != nil {
			return err
		}
	}
	return txn.Commit()
}

func (b *badgerDB) Get(dst, key []byte) ([]byte, bool, error) {
	found := false
	dst = dst[:0]
	err := b.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		dst, err = item.ValueCopy(dst)
		found = err == nil
		return err
	})
	return dst, found, err
}

func (b *badgerDB) Scan(start []byte, n int, fn func(k, v []byte)) (int, error) {
	seen := 0
	err := b.db.View(func(txn *badger.Txn) error {
		// Values live in the LSM next to their keys, so prefetching them from the value log in
		// background goroutines would only add work.
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false})
		defer it.Close()
		for it.Seek(start); it.Valid() && seen < n; it.Next() {
			item := it.Item()
			err := item.Value(func(v []byte) error {
				fn(item.Key(), v)
				return nil
			})
			if err != nil {
				return err
			}
			seen++
		}
		return nil
	})
	return seen, err
}

func (b *badgerDB) Close() error {
	return b.db.Close()
}
