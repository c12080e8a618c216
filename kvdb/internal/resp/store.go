package resp

import (
	"math"
	"time"
)

// Store is the key space the commands run against: exactly what GET, SET, DEL, EXISTS, MGET,
// MSET, EXPIRE, TTL and SCAN need. It must be safe for concurrent use.
//
// Ownership: key, value and keys arguments alias the connection's read buffer and are only
// valid during the call, so an implementation copies what it keeps. Returned slices are only
// read, and only until the connection's next Store call, so an implementation may return
// its own storage as long as it never modifies it afterwards.
//
// Expiry is absolute. A key with expiry at is live while now < at by the Store's own clock,
// and must then behave as absent everywhere (Get, Exists, Scan, ExpireTime, SET NX).
// An expiry the server passes lies in [time.Unix(0, 1), time.Unix(0, math.MaxInt64)], so it
// fits int64 Unix nanoseconds; the zero time.Time means "no expiry".
//
// The package storetest holds the contract suite; run it against every implementation.
type Store interface {
	// Get returns the value of key, found=false when it is absent or expired.
	Get(key []byte) (value []byte, found bool, err error)
	// MGet appends one Value per key to dst (reused by the caller between calls), read at
	// one point in time, as MGET is atomic in Redis.
	MGet(dst []Value, keys [][]byte) ([]Value, error)
	// Set writes value under key unless the NX/XX condition fails, atomically with that check.
	// The new value has expiry opts.ExpireAt, or keeps the old one with opts.KeepTTL.
	Set(key, value []byte, opts SetOptions) (SetResult, error)
	// MSet writes pairs (key, value, key, value, ...; len(pairs) is even and > 0) atomically,
	// each without expiry.
	MSet(pairs [][]byte) error
	// Delete removes the keys and returns how many existed (a key listed twice counts once).
	Delete(keys [][]byte) (int, error)
	// Exists returns how many of keys exist, counting a key listed twice twice, as Redis does.
	Exists(keys [][]byte) (int, error)
	// Expire sets the expiry of an existing key if cond allows it (see ExpireCond.Allows),
	// atomically with that check. An at not after now deletes the key. It reports whether
	// the key existed and cond allowed the change.
	Expire(key []byte, at time.Time, cond ExpireCond) (bool, error)
	// ExpireTime returns the expiry of key (zero: none); found=false when the key is absent.
	ExpireTime(key []byte) (at time.Time, found bool, err error)
	// Scan returns up to count live keys that are greater than after (every key when after is
	// nil) and start with prefix, in ascending byte order; done reports that no such key
	// remains after the last one returned (so keys is non-empty whenever done is false).
	// count (>= 1) bounds the work of one call, as COUNT does in Redis; the server applies the
	// rest of a MATCH pattern to the keys returned. The returned keys are the caller's.
	Scan(after, prefix []byte, count int) (keys [][]byte, done bool, err error)
}

// Batcher is implemented by stores that can commit many plain SETs at once. The server puts
// the SETs it finds back to back in one connection's input (a pipeline) into one SetBatch and
// commits it before it runs any other command of that connection or waits for more input, so a
// pipeline of N SETs costs one commit instead of N, and every reply still follows its commit.
type Batcher interface {
	NewSetBatch() SetBatch
}

// SetBatch collects unconditional SETs for one atomic commit. Each connection has its own; it
// is not safe for concurrent use.
type SetBatch interface {
	// Set adds a write of value under key with expiry expireAt (zero: none), copying both.
	Set(key, value []byte, expireAt time.Time)
	// Size is the number of bytes added since the last Commit, to bound a batch.
	Size() int
	// Commit applies every SET added since the last Commit, in order (the last SET of a key
	// wins), all or none, and empties the batch, also when it fails.
	Commit() error
}

// ValueAppender is implemented by stores whose Get would have to copy the value (because the
// memory it sits in is not theirs to lend): GetAppend appends it to dst, which the connection
// reuses, so a GET does not allocate.
type ValueAppender interface {
	GetAppend(dst, key []byte) (value []byte, found bool, err error)
}

// Sizer is implemented by stores that can count their keys cheaply; DBSIZE and INFO use it.
type Sizer interface {
	Len() (int, error)
}

// Value is one MGET result.
type Value struct {
	Bytes []byte
	Found bool
}

// SetOptions are SET's options, already validated (NX and XX are never both set, and KeepTTL
// is never combined with ExpireAt).
type SetOptions struct {
	NX       bool      // write only if the key is absent
	XX       bool      // write only if the key exists
	ExpireAt time.Time // zero: the key does not expire
	KeepTTL  bool      // keep the current expiry of the key, if any
	Get      bool      // return the previous value in SetResult
}

// SetResult is what Set did.
type SetResult struct {
	Written  bool   // false when the NX/XX condition failed
	Old      []byte // the previous value, when SetOptions.Get and OldFound
	OldFound bool   // a live previous value existed (reported when SetOptions.Get)
}

// ExpireCond is the EXPIRE condition: a combination of the flags below (0: always). The server
// never passes NX with another flag, nor GT with LT.
type ExpireCond uint8

const (
	ExpireNX ExpireCond = 1 << iota // only when the key has no expiry
	ExpireXX                        // only when the key has an expiry
	ExpireGT                        // only when the new expiry is later (no expiry counts as infinite)
	ExpireLT                        // only when the new expiry is earlier (no expiry counts as infinite)
)

// Allows reports whether an expiry change from current (zero: none) to next satisfies c,
// exactly as Redis's expireGenericCommand decides. Stores call it inside their atomic section.
func (c ExpireCond) Allows(current, next time.Time) bool {
	persistent := current.IsZero()
	switch {
	case c&ExpireNX != 0 && !persistent:
		return false
	case c&ExpireXX != 0 && persistent:
		return false
	case c&ExpireGT != 0 && (persistent || !next.After(current)):
		return false
	case c&ExpireLT != 0 && !persistent && !next.Before(current):
		return false
	}
	return true
}

// Bounds of an expiry the server hands to a Store (see Store).
var (
	minExpiry = time.Unix(0, 1)
	maxExpiry = time.Unix(0, math.MaxInt64)
)

// clampExpiry keeps t inside [minExpiry, maxExpiry].
func clampExpiry(t time.Time) time.Time {
	if t.Before(minExpiry) {
		return minExpiry
	}
	if t.After(maxExpiry) {
		return maxExpiry
	}
	return t
}
