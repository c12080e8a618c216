package bench

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

func bboltEngine() EngineInfo {
	return EngineInfo{
		Name: "bbolt",
		Open: openBbolt,
		Config: "bbolt v1.5.0 (copy-on-write B+tree, mmap reads, no compression, no block cache of its own: " +
			"the OS page cache); one bucket, default 50% fill; hashmap freelist, not synced (as etcd); " +
			"one Update transaction per Put or batch; durable rows fsync each commit, the others set NoSync",
	}
}

var bboltBucket = []byte("kv")

type bboltDB struct {
	db *bolt.DB
}

func openBbolt(dir string, o Options) (Engine, error) {
	path := filepath.Join(dir, "bbolt.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        time.Second, // the file lock; a second process must not wait forever
		NoSync:         !o.Sync,
		NoGrowSync:     !o.Sync,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		// Remapping as the file grows blocks every reader; a large initial (virtual) mapping
		// keeps remaps out of the measured phases, as etcd does.
		InitialMmapSize: 1 << 30,
	})
	if err != nil {
		return nil, fmt.Errorf("open bbolt %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bboltBucket)
		return err
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("create bbolt bucket: %w", err)
	}
	return &bboltDB{db: db}, nil
}

func (b *bboltDB) Put(key, value []byte) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bboltBucket).Put(key, value)
	})
}

func (b *bboltDB) Write(kvs []KV) error {
	// bbolt keeps the slices until the transaction commits, which Update does before returning.
	return b.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bboltBucket)
		for _, kv := range kvs {
			if err := bk.Put(kv.Key, kv.Value); err != nil {
				return err
			}
		}
		return nil
	})
}

func (b *bboltDB) Get(dst, key []byte) ([]byte, bool, error) {
	found := false
	dst = dst[:0]
	err := b.db.View(func(tx *bolt.Tx) error {
		// v points into the mmap, valid only inside the transaction.
		if v := tx.Bucket(bboltBucket).Get(key); v != nil {
			dst = append(dst, v...)
			found = true
		}
		return nil
	})
	return dst, found, err
}

func (b *bboltDB) Scan(start []byte, n int, fn func(k, v []byte)) (int, error) {
	seen := 0
	err := b.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bboltBucket).Cursor()
		for k, v := c.Seek(start); k != nil && seen < n; k, v = c.Next() {
			fn(k, v)
			seen++
		}
		return nil
	})
	return seen, err
}

func (b *bboltDB) Close() error {
	if b.db.NoSync {
		// NoSync skips the fsync of every commit; the data set must still be on disk when the
		// engine is closed, as Engine promises.
		if err := b.db.Sync(); err != nil {
			return errors.Join(fmt.Errorf("sync bbolt: %w", err), b.db.Close())
		}
	}
	return b.db.Close()
}
