package lsm

// Batch encoding — the payload of every WAL record.
//
// A batch is the unit of atomicity: all of its operations get consecutive sequence numbers and
// land in one WAL record, so after a crash either all or none of them are replayed. The layout
// follows LevelDB's WriteBatch (leveldb/db/write_batch.cc):
//
//	seq   uint64 LE   sequence number of the first op (filled in at commit)
//	count uint32 LE   number of ops
//	ops   count × ( kind byte | uvarint len(key) | key | [uvarint len(value) | value] )
//
// The value is absent for KindDelete; for KindSetTTL it carries the 8-byte expiry prefix of
// format.EncodeTTLValue. Op i gets sequence number seq+i. Conditions (ExpectVersion,
// ExpectExists) are not encoded: they are checked by the commit leader before the batch gets a
// sequence number, and a batch whose condition fails never reaches the log.

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/format"
)

const batchHeaderLen = 12

// Batch collects writes applied atomically by DB.Write. The zero value is an empty batch.
type Batch struct {
	data  []byte // header + ops; header is written lazily
	count uint32
	conds []condition
	// condKeys holds copies of the condition keys so the caller may reuse its buffers.
	condKeys []byte
}

type condKind uint8

const (
	condVersion condKind = iota // key's current version must equal version (0 = absent)
	condExists                  // key must (not) exist
)

type condition struct {
	kind    condKind
	off, n  int // key = condKeys[off:off+n]
	version uint64
	exists  bool
}

// NewBatch returns an empty batch.
func NewBatch() *Batch { return &Batch{} }

func (b *Batch) init() {
	if len(b.data) < batchHeaderLen {
		b.data = append(b.data[:0], make([]byte, batchHeaderLen)...)
	}
}

func (b *Batch) appendOp(kind format.Kind, key, value []byte, withValue bool) {
	b.init()
	b.data = append(b.data, byte(kind))
	b.data = binary.AppendUvarint(b.data, uint64(len(key)))
	b.data = append(b.data, key...)
	if withValue {
		b.data = binary.AppendUvarint(b.data, uint64(len(value)))
		b.data = append(b.data, value...)
	}
	b.count++
}

// Put sets key to value. The batch copies both.
func (b *Batch) Put(key, value []byte) { b.appendOp(format.KindSet, key, value, true) }

// Expiries are stored as int64 Unix nanoseconds, which cover 1970 to 2262-04-11; a time
// outside that range would wrap (time.UnixNano is undefined there) and could turn "in 250
// years" into "long ago". ClampExpiry maps every time onto the range: later than MaxExpiry
// becomes MaxExpiry, at or before the epoch becomes MinExpiry (already expired).
var (
	MinExpiry = time.Unix(0, 1)
	MaxExpiry = time.Unix(0, math.MaxInt64)
)

// ClampExpiry returns the expiry PutExpiring stores for t (t itself when zero: no expiry).
func ClampExpiry(t time.Time) time.Time {
	switch {
	case t.IsZero():
		return t
	case t.Before(MinExpiry):
		return MinExpiry
	case t.After(MaxExpiry):
		return MaxExpiry
	}
	return t
}

// PutExpiring sets key to value until expiresAt (clamped by ClampExpiry); a zero expiresAt
// means no expiry.
func (b *Batch) PutExpiring(key, value []byte, expiresAt time.Time) {
	if expiresAt.IsZero() {
		b.Put(key, value)
		return
	}
	expiresAt = ClampExpiry(expiresAt)
	b.init()
	b.data = append(b.data, byte(format.KindSetTTL))
	b.data = binary.AppendUvarint(b.data, uint64(len(key)))
	b.data = append(b.data, key...)
	b.data = binary.AppendUvarint(b.data, uint64(format.TTLHeaderLen+len(value)))
	b.data = format.EncodeTTLValue(b.data, expiresAt.UnixNano(), value)
	b.count++
}

// Delete removes key.
func (b *Batch) Delete(key []byte) { b.appendOp(format.KindDelete, key, nil, false) }

// ExpectVersion makes the batch conditional on key's current version (the sequence number of
// its latest live write) being version; version 0 means the key must be absent (or expired).
func (b *Batch) ExpectVersion(key []byte, version uint64) {
	b.conds = append(b.conds, condition{kind: condVersion, off: len(b.condKeys), n: len(key), version: version})
	b.condKeys = append(b.condKeys, key...)
}

// ExpectExists makes the batch conditional on key existing (true, SET XX) or not (false, SET NX).
func (b *Batch) ExpectExists(key []byte, exists bool) {
	b.conds = append(b.conds, condition{kind: condExists, off: len(b.condKeys), n: len(key), exists: exists})
	b.condKeys = append(b.condKeys, key...)
}

// Len returns the number of write operations (conditions are not counted).
func (b *Batch) Len() int { return int(b.count) }

// Reset empties the batch, keeping its buffers.
func (b *Batch) Reset() {
	b.data = b.data[:0]
	b.count = 0
	b.conds = b.conds[:0]
	b.condKeys = b.condKeys[:0]
}

func (b *Batch) condKey(c *condition) []byte { return b.condKeys[c.off : c.off+c.n] }

// clearSeq resets the header's sequence number after a failed Write, so Seq reports 0 rather
// than the number of an earlier successful Write of the same (reused) batch.
func (b *Batch) clearSeq() {
	if len(b.data) >= batchHeaderLen {
		binary.LittleEndian.PutUint64(b.data[0:8], 0)
	}
}

// ops returns the encoded operations without the header.
func (b *Batch) ops() []byte {
	if len(b.data) < batchHeaderLen {
		return nil
	}
	return b.data[batchHeaderLen:]
}

// encode stamps the header with seq and returns the WAL payload.
func (b *Batch) encode(seq uint64) []byte {
	b.init()
	binary.LittleEndian.PutUint64(b.data[0:8], seq)
	binary.LittleEndian.PutUint32(b.data[8:12], b.count)
	return b.data
}

// memSize over-estimates the memtable bytes the batch's ops take, so the commit leader can make
// room before applying: every key grows by the 8-byte trailer and every entry by a node header.
func (b *Batch) memSize() int64 {
	return int64(len(b.ops())) + int64(b.count)*(format.TrailerLen+maxNodeOverhead)
}

// batchOp is one decoded operation; slices alias the batch payload.
type batchOp struct {
	kind       format.Kind
	key, value []byte
}

// batchReader decodes an encoded batch (a WAL payload).
type batchReader struct {
	seq   uint64
	count uint32
	rest  []byte
	read  uint32
}

func newBatchReader(payload []byte) (batchReader, error) {
	if len(payload) < batchHeaderLen {
		return batchReader{}, fmt.Errorf("decode batch header of %d bytes: %w", len(payload), format.ErrCorrupt)
	}
	return batchReader{
		seq:   binary.LittleEndian.Uint64(payload[0:8]),
		count: binary.LittleEndian.Uint32(payload[8:12]),
		rest:  payload[batchHeaderLen:],
	}, nil
}

// next returns the next op; ok=false at the end. An error wraps format.ErrCorrupt.
func (r *batchReader) next() (op batchOp, ok bool, err error) {
	if r.read == r.count {
		if len(r.rest) != 0 {
			return op, false, fmt.Errorf("decode batch: %d trailing bytes: %w", len(r.rest), format.ErrCorrupt)
		}
		return op, false, nil
	}
	if len(r.rest) < 1 {
		return op, false, fmt.Errorf("decode batch op %d of %d: truncated: %w", r.read, r.count, format.ErrCorrupt)
	}
	op.kind = format.Kind(r.rest[0])
	if !op.kind.Valid() {
		return op, false, fmt.Errorf("decode batch op %d: kind %d: %w", r.read, op.kind, format.ErrCorrupt)
	}
	r.rest = r.rest[1:]
	if op.key, err = r.bytes(); err != nil {
		return op, false, err
	}
	if op.kind != format.KindDelete {
		if op.value, err = r.bytes(); err != nil {
			return op, false, err
		}
		if op.kind == format.KindSetTTL && len(op.value) < format.TTLHeaderLen {
			return op, false, fmt.Errorf("decode batch op %d: ttl value of %d bytes: %w", r.read, len(op.value), format.ErrCorrupt)
		}
	}
	r.read++
	return op, true, nil
}

func (r *batchReader) bytes() ([]byte, error) {
	n, k := binary.Uvarint(r.rest)
	if k <= 0 || n > uint64(len(r.rest)-k) {
		return nil, fmt.Errorf("decode batch op %d: bad length: %w", r.read, format.ErrCorrupt)
	}
	b := r.rest[k : k+int(n) : k+int(n)]
	r.rest = r.rest[k+int(n):]
	return b, nil
}
