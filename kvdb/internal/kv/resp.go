package kv

import (
	"bytes"
	"errors"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm"
	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/resp"
)

// RESP adapts a Store to the Redis-protocol listener. Commands that read and then write (SET NX
// with GET, EXPIRE GT, SET KEEPTTL) read the key, then commit a batch that expects the version
// they read: if another client wrote in between, the batch is refused and the command retries,
// so each command is atomic as Redis's are.
type RESP struct{ S *Store }

var _ resp.Store = RESP{}
var _ resp.Batcher = RESP{}
var _ resp.ValueAppender = RESP{}

// NewSetBatch implements resp.Batcher: the SETs of a pipeline become one engine batch, so one
// commit (one WAL record, one write(2)) for all of them.
func (r RESP) NewSetBatch() resp.SetBatch { return &setBatch{db: r.S.db} }

type setBatch struct {
	db   *lsm.DB
	b    lsm.Batch
	size int
}

func (s *setBatch) Set(key, value []byte, expireAt time.Time) {
	s.b.PutExpiring(key, value, expireAt)
	s.size += len(key) + len(value)
}

func (s *setBatch) Size() int { return s.size }

func (s *setBatch) Commit() error {
	err := s.db.Write(&s.b)
	if s.size > 1<<20 {
		s.b = lsm.Batch{} // do not pin a big buffer on an idle connection
	} else {
		s.b.Reset()
	}
	s.size = 0
	return err
}

// Get implements resp.Store.
func (r RESP) Get(key []byte) ([]byte, bool, error) {
	it, err := r.S.db.Lookup(key)
	if errors.Is(err, lsm.ErrNotFound) {
		return nil, false, nil
	}
	return it.Value, err == nil, err
}

// GetAppend implements resp.ValueAppender.
func (r RESP) GetAppend(dst, key []byte) ([]byte, bool, error) {
	it, err := r.S.db.LookupAppend(dst, key)
	if errors.Is(err, lsm.ErrNotFound) {
		return nil, false, nil
	}
	return it.Value, err == nil, err
}

// MGet implements resp.Store: all keys read at one snapshot, as MGET is atomic in Redis.
func (r RESP) MGet(dst []resp.Value, keys [][]byte) ([]resp.Value, error) {
	snap := r.S.db.Snapshot()
	defer snap.Close()
	for _, k := range keys {
		v, err := snap.Get(k)
		switch {
		case errors.Is(err, lsm.ErrNotFound):
			dst = append(dst, resp.Value{})
		case err != nil:
			return dst, err
		default:
			dst = append(dst, resp.Value{Bytes: v, Found: true})
		}
	}
	return dst, nil
}

// Set implements resp.Store.
func (r RESP) Set(key, value []byte, o resp.SetOptions) (resp.SetResult, error) {
	simple := !o.NX && !o.XX && !o.Get && !o.KeepTTL
	for {
		var res resp.SetResult
		var b lsm.Batch
		expireAt := o.ExpireAt
		if !simple {
			old, err := r.S.db.Lookup(key)
			exists := err == nil
			if err != nil && !errors.Is(err, lsm.ErrNotFound) {
				return res, err
			}
			if o.Get {
				res.Old, res.OldFound = old.Value, exists
			}
			if (o.NX && exists) || (o.XX && !exists) {
				return res, nil
			}
			if o.KeepTTL {
				expireAt = old.ExpiresAt
			}
			b.ExpectVersion(key, old.Version) // 0 when absent: still absent at commit
		}
		b.PutExpiring(key, value, expireAt)
		err := r.S.db.Write(&b)
		if errors.Is(err, lsm.ErrConditionFailed) {
			continue
		}
		res.Written = err == nil
		return res, err
	}
}

// MSet implements resp.Store: one batch, so all keys are written or none.
func (r RESP) MSet(pairs [][]byte) error {
	var b lsm.Batch
	for i := 0; i+1 < len(pairs); i += 2 {
		b.Put(pairs[i], pairs[i+1])
	}
	return r.S.db.Write(&b)
}

// Delete implements resp.Store. The keys that exist are deleted in one batch that expects their
// versions, so the count is exact even when other clients write the same keys.
func (r RESP) Delete(keys [][]byte) (int, error) {
	for {
		var b lsm.Batch
		n := 0
		seen := map[string]bool{}
		for _, k := range keys {
			if seen[string(k)] {
				continue
			}
			seen[string(k)] = true
			it, err := r.S.db.Lookup(k)
			if errors.Is(err, lsm.ErrNotFound) {
				b.ExpectVersion(k, 0)
				continue
			} else if err != nil {
				return 0, err
			}
			b.ExpectVersion(k, it.Version)
			b.Delete(k)
			n++
		}
		if n == 0 {
			return 0, nil
		}
		err := r.S.db.Write(&b)
		if errors.Is(err, lsm.ErrConditionFailed) {
			continue
		}
		return n, err
	}
}

// Exists implements resp.Store.
func (r RESP) Exists(keys [][]byte) (int, error) {
	snap := r.S.db.Snapshot()
	defer snap.Close()
	n := 0
	for _, k := range keys {
		_, err := snap.Get(k)
		switch {
		case err == nil:
			n++
		case !errors.Is(err, lsm.ErrNotFound):
			return n, err
		}
	}
	return n, nil
}

// Expire implements resp.Store: the value is rewritten with the new expiry (an LSM has no
// in-place update), expecting the version it read.
func (r RESP) Expire(key []byte, at time.Time, cond resp.ExpireCond) (bool, error) {
	for {
		it, err := r.S.db.Lookup(key)
		if errors.Is(err, lsm.ErrNotFound) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		if !cond.Allows(it.ExpiresAt, at) {
			return false, nil
		}
		var b lsm.Batch
		b.ExpectVersion(key, it.Version)
		if !r.S.now().Before(at) {
			b.Delete(key)
		} else {
			b.PutExpiring(key, it.Value, at)
		}
		err = r.S.db.Write(&b)
		if errors.Is(err, lsm.ErrConditionFailed) {
			continue
		}
		return err == nil, err
	}
}

// ExpireTime implements resp.Store.
func (r RESP) ExpireTime(key []byte) (time.Time, bool, error) {
	it, err := r.S.db.Lookup(key)
	if errors.Is(err, lsm.ErrNotFound) {
		return time.Time{}, false, nil
	}
	return it.ExpiresAt, err == nil, err
}

// Scan implements resp.Store with the engine's ordered iterator: the cursor is the last key.
func (r RESP) Scan(after, prefix []byte, count int) ([][]byte, bool, error) {
	it := r.S.db.NewIterator(lsm.IterOptions{Prefix: prefix})
	defer it.Close()
	var ok bool
	if after != nil {
		ok = it.SeekGE(append(bytes.Clone(after), 0))
	} else {
		ok = it.First()
	}
	var keys [][]byte
	for ; ok; ok = it.Next() {
		if len(keys) == count {
			return keys, false, it.Error()
		}
		keys = append(keys, bytes.Clone(it.Key()))
	}
	return keys, true, it.Error()
}
