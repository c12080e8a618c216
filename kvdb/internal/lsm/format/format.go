// Package format defines the on-disk vocabulary shared by the WAL, the SSTables and the DB:
// internal keys, entry kinds, the TTL value encoding and the ErrCorrupt sentinel.
//
// An internal key is the user key followed by an 8-byte little-endian trailer packing a
// 56-bit sequence number and an 8-bit kind (seq<<8 | kind), exactly as in LevelDB
// (see leveldb/db/dbformat.h). Ordering internal keys by user key ascending and then by
// trailer descending puts the newest version of every key first, so a point lookup for
// snapshot S is a single SeekGE to (key, S, maxKind).
package format

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrCorrupt is wrapped by every error caused by bad bytes on disk.
var ErrCorrupt = errors.New("lsm: corrupt data")

// Kind says what an internal key's entry means.
type Kind uint8

const (
	KindDelete Kind = 0 // tombstone
	KindSet    Kind = 1 // value, no expiry
	KindSetTTL Kind = 2 // value prefixed by 8-byte big-endian expiry (unix nanoseconds)

	// KindMax is the largest valid kind. A seek key built with it sorts before every
	// other entry of the same user key and sequence number.
	KindMax = KindSetTTL
)

// String returns a short name used by dumps and debugging output.
func (k Kind) String() string {
	switch k {
	case KindDelete:
		return "DEL"
	case KindSet:
		return "SET"
	case KindSetTTL:
		return "SETTTL"
	}
	return fmt.Sprintf("KIND(%d)", uint8(k))
}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { return k <= KindMax }

// MaxSeq is the largest sequence number that fits in the 56 bits of the trailer.
const MaxSeq = 1<<56 - 1

// TrailerLen is the size of the (seq<<8 | kind) trailer appended to a user key.
const TrailerLen = 8

// MakeTrailer packs a sequence number and a kind.
func MakeTrailer(seq uint64, kind Kind) uint64 { return seq<<8 | uint64(kind) }

// MakeInternalKey appends userKey and its trailer to dst and returns the extended slice.
func MakeInternalKey(dst, userKey []byte, seq uint64, kind Kind) []byte {
	dst = append(dst, userKey...)
	return binary.LittleEndian.AppendUint64(dst, MakeTrailer(seq, kind))
}

// ParseInternalKey splits ik. ok is false if ik is shorter than the trailer or the kind is unknown.
// userKey aliases ik.
func ParseInternalKey(ik []byte) (userKey []byte, seq uint64, kind Kind, ok bool) {
	n := len(ik) - TrailerLen
	if n < 0 {
		return nil, 0, 0, false
	}
	t := binary.LittleEndian.Uint64(ik[n:])
	kind = Kind(t & 0xff)
	if !kind.Valid() {
		return nil, 0, 0, false
	}
	return ik[:n:n], t >> 8, kind, true
}

// UserKey returns the user key part of ik (aliasing it). A key shorter than the trailer is
// returned unchanged so that callers comparing garbage never index out of range.
func UserKey(ik []byte) []byte {
	n := len(ik) - TrailerLen
	if n < 0 {
		return ik
	}
	return ik[:n:n]
}

// Trailer returns the trailer of ik, 0 if ik is too short.
func Trailer(ik []byte) uint64 {
	n := len(ik) - TrailerLen
	if n < 0 {
		return 0
	}
	return binary.LittleEndian.Uint64(ik[n:])
}

// CompareInternal orders by user key ascending (bytes.Compare), then seq descending, then kind
// descending, so the newest version of a key comes first. Comparing the packed trailer as one
// number gives seq-then-kind ordering in a single comparison.
func CompareInternal(a, b []byte) int {
	if c := bytes.Compare(UserKey(a), UserKey(b)); c != 0 {
		return c
	}
	ta, tb := Trailer(a), Trailer(b)
	switch {
	case ta > tb:
		return -1
	case ta < tb:
		return 1
	}
	return 0
}

// TTLHeaderLen is the size of the expiry prefix of a KindSetTTL value.
const TTLHeaderLen = 8

// EncodeTTLValue appends the 8-byte big-endian expiry and value to dst.
func EncodeTTLValue(dst []byte, expiresAtUnixNano int64, value []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(expiresAtUnixNano))
	return append(dst, value...)
}

// DecodeTTLValue splits a KindSetTTL value. value aliases v.
func DecodeTTLValue(v []byte) (expiresAtUnixNano int64, value []byte, err error) {
	if len(v) < TTLHeaderLen {
		return 0, nil, fmt.Errorf("decode ttl value of %d bytes: %w", len(v), ErrCorrupt)
	}
	return int64(binary.BigEndian.Uint64(v)), v[TTLHeaderLen:], nil
}
