// Package kv is the server's view of the storage engine: the operations the HTTP API and the
// Redis-protocol listener share — versioned reads, conditional writes, expiry, atomic batches and
// cursor scans — built on lsm.DB's batches and their commit-time conditions, so every
// read-check-write is atomic without a lock of its own.
package kv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm"
)

// Errors the fronts map to their protocol's answers.
var (
	ErrNotFound = lsm.ErrNotFound
	// ErrConflict: the key's version was not the one the write expected.
	ErrConflict = errors.New("version conflict")
	ErrInvalid  = errors.New("invalid request")
	// ErrReadOnly: a background failure (disk full, failed flush) stopped writes; reads work.
	ErrReadOnly = lsm.ErrReadOnly
)

// MaxKeyBytes bounds keys: they are copied into every index block and compared on every read.
const MaxKeyBytes = 4096

// Store runs the operations on one engine. Safe for concurrent use.
type Store struct {
	db       *lsm.DB
	now      func() time.Time
	maxValue int
}

// New returns a store over db; values longer than maxValue bytes are refused.
func New(db *lsm.DB, maxValue int, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, now: now, maxValue: maxValue}
}

// Item is a live value with its version (the sequence number of the write that made it) and
// expiry (zero: none).
type Item = lsm.Item

// Get returns key's live value.
func (s *Store) Get(key []byte) (Item, error) {
	if err := checkKey(key); err != nil {
		return Item{}, err
	}
	return s.db.Lookup(key)
}

// PutOptions make a Put conditional or expiring.
type PutOptions struct {
	// TTL > 0: the key expires this long after the write, but no later than lsm.MaxExpiry
	// (2262-04-11, the end of int64 nanoseconds); a longer TTL is clamped, as Redis's EX is.
	TTL time.Duration
	// IfVersion, when set, makes the write conditional: the key's current version must be
	// *IfVersion, and 0 means the key must not exist (create only).
	IfVersion *uint64
}

// Put writes key and returns the new version and the expiry it stored (zero: none).
func (s *Store) Put(key, value []byte, o PutOptions) (version uint64, expiresAt time.Time, err error) {
	if err := s.checkValue(key, value); err != nil {
		return 0, time.Time{}, err
	}
	if o.TTL < 0 {
		return 0, time.Time{}, fmt.Errorf("%w: ttl must not be negative", ErrInvalid)
	}
	var b lsm.Batch
	if o.IfVersion != nil {
		b.ExpectVersion(key, *o.IfVersion)
	}
	exp := expiry(s.now(), o.TTL)
	b.PutExpiring(key, value, exp)
	if err := s.write(&b); err != nil {
		return 0, time.Time{}, err
	}
	return b.Seq(), exp, nil
}

// expiry is when a write made at now with ttl expires (zero: ttl <= 0, never), clamped to
// what the engine can store.
func expiry(now time.Time, ttl time.Duration) time.Time {
	if ttl <= 0 {
		return time.Time{}
	}
	t := now.Add(ttl)
	if t.IsZero() { // a clock at 0000-12-31: the zero Time would read as "no expiry"
		return lsm.MinExpiry
	}
	return lsm.ClampExpiry(t)
}

// Ready returns nil while the store accepts writes, else why it does not (matching ErrReadOnly).
func (s *Store) Ready(context.Context) error {
	if err := s.db.Err(); err != nil {
		return fmt.Errorf("engine is read-only, writes are refused until a restart: %w", err)
	}
	return nil
}

// Delete removes key. With ifVersion set, only if the key is at that version; it reports
// whether a live key was removed.
func (s *Store) Delete(key []byte, ifVersion *uint64) (bool, error) {
	if err := checkKey(key); err != nil {
		return false, err
	}
	for {
		it, err := s.db.Lookup(key)
		if errors.Is(err, lsm.ErrNotFound) {
			if ifVersion != nil && *ifVersion != 0 {
				return false, ErrConflict
			}
			return false, nil
		} else if err != nil {
			return false, err
		}
		if ifVersion != nil && it.Version != *ifVersion {
			return false, ErrConflict
		}
		var b lsm.Batch
		b.ExpectVersion(key, it.Version)
		b.Delete(key)
		err = s.db.Write(&b)
		if errors.Is(err, lsm.ErrConditionFailed) {
			continue // written between our read and our delete: look again
		}
		return err == nil, err
	}
}

// Op is one operation of an atomic batch.
type Op struct {
	Delete    bool
	Key       []byte
	Value     []byte
	TTL       time.Duration
	IfVersion *uint64
}

// Apply writes ops atomically: all or none, and none when any IfVersion fails. It returns the
// version of each op's write.
func (s *Store) Apply(ops []Op) ([]uint64, error) {
	if len(ops) == 0 {
		return nil, fmt.Errorf("%w: a batch needs at least one operation", ErrInvalid)
	}
	var b lsm.Batch
	now := s.now()
	for i, op := range ops {
		var err error
		if op.Delete {
			err = checkKey(op.Key)
		} else {
			err = s.checkValue(op.Key, op.Value)
		}
		if err == nil && op.TTL < 0 {
			err = fmt.Errorf("%w: ttl must not be negative", ErrInvalid)
		}
		if err != nil {
			return nil, fmt.Errorf("operation %d: %w", i, err)
		}
		if op.IfVersion != nil {
			b.ExpectVersion(op.Key, *op.IfVersion)
		}
	}
	for _, op := range ops {
		if op.Delete {
			b.Delete(op.Key)
		} else {
			b.PutExpiring(op.Key, op.Value, expiry(now, op.TTL))
		}
	}
	if err := s.write(&b); err != nil {
		return nil, err
	}
	versions := make([]uint64, len(ops))
	for i := range ops {
		versions[i] = b.Seq() + uint64(i) // op i of a batch gets seq+i
	}
	return versions, nil
}

// ScanOptions select a page of an ordered scan. Prefix, when set, overrides Start and End.
type ScanOptions struct {
	Prefix []byte
	Start  []byte // inclusive
	End    []byte // exclusive; nil: no end
	After  []byte // the cursor: the last key of the previous page
	Limit  int
}

// KV is one scanned entry.
type KV struct {
	Key []byte
	Item
}

// Scan returns up to Limit live entries in key order, and more=true when others follow the last.
func (s *Store) Scan(o ScanOptions) (page []KV, more bool, err error) {
	if o.Limit <= 0 {
		return nil, false, fmt.Errorf("%w: limit must be positive", ErrInvalid)
	}
	bounds := lsm.IterOptions{Lower: o.Start, Upper: o.End}
	if o.Prefix != nil {
		bounds = lsm.IterOptions{Prefix: o.Prefix}
	}
	it := s.db.NewIterator(bounds)
	defer it.Close()
	var ok bool
	if o.After != nil {
		// Resume after the cursor: the smallest key greater than After is After+0x00.
		ok = it.SeekGE(append(bytes.Clone(o.After), 0))
	} else {
		ok = it.First()
	}
	for ; ok; ok = it.Next() {
		if len(page) == o.Limit {
			return page, true, it.Error()
		}
		page = append(page, KV{Key: bytes.Clone(it.Key()), Item: cloneItem(it.Item())})
	}
	return page, false, it.Error()
}

func (s *Store) write(b *lsm.Batch) error {
	err := s.db.Write(b)
	if errors.Is(err, lsm.ErrConditionFailed) {
		return ErrConflict
	}
	return err
}

func (s *Store) checkValue(key, value []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if s.maxValue > 0 && len(value) > s.maxValue {
		return fmt.Errorf("%w: value of %d bytes is over the limit of %d", ErrInvalid, len(value), s.maxValue)
	}
	return nil
}

func checkKey(key []byte) error {
	switch {
	case len(key) == 0:
		return fmt.Errorf("%w: empty key", ErrInvalid)
	case len(key) > MaxKeyBytes:
		return fmt.Errorf("%w: key of %d bytes is over the limit of %d", ErrInvalid, len(key), MaxKeyBytes)
	}
	return nil
}

func cloneItem(it Item) Item {
	it.Value = bytes.Clone(it.Value)
	return it
}
