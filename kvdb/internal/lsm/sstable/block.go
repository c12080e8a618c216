package sstable

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/format"
)

// Block layout (data and index blocks), as in LevelDB's table/block_builder.cc:
//
//	entry*  restart[0..n) uint32 LE  n uint32 LE
//	entry = shared uvarint | unshared uvarint | valueLen uvarint | key[shared:] | value
//
// Every RestartInterval-th entry is a restart point: it stores its whole key (shared = 0) and its
// offset is listed in the restart array, so SeekGE can binary-search restart keys without
// decoding anything else, then scan at most RestartInterval entries.

// blockBuilder accumulates one block.
type blockBuilder struct {
	buf             []byte
	restarts        []uint32
	restartInterval int
	counter         int // entries since the last restart
	nEntries        int
	lastKey         []byte
}

func (b *blockBuilder) reset() {
	b.buf = b.buf[:0]
	b.restarts = b.restarts[:0]
	b.counter = 0
	b.nEntries = 0
	b.lastKey = b.lastKey[:0]
}

func (b *blockBuilder) empty() bool { return b.nEntries == 0 }

// estimatedSize is the size finish would return.
func (b *blockBuilder) estimatedSize() int { return len(b.buf) + 4*len(b.restarts) + 4 }

// add appends an entry; the caller guarantees key order.
func (b *blockBuilder) add(key, value []byte) {
	shared := 0
	if b.counter < b.restartInterval && b.nEntries > 0 {
		n := min(len(key), len(b.lastKey))
		for shared < n && key[shared] == b.lastKey[shared] {
			shared++
		}
	} else {
		b.restarts = append(b.restarts, uint32(len(b.buf)))
		b.counter = 0
	}
	b.buf = binary.AppendUvarint(b.buf, uint64(shared))
	b.buf = binary.AppendUvarint(b.buf, uint64(len(key)-shared))
	b.buf = binary.AppendUvarint(b.buf, uint64(len(value)))
	b.buf = append(b.buf, key[shared:]...)
	b.buf = append(b.buf, value...)
	b.lastKey = append(b.lastKey[:0], key...)
	b.counter++
	b.nEntries++
}

// finish appends the restart array and returns the block contents (aliasing the builder).
func (b *blockBuilder) finish() []byte {
	if len(b.restarts) == 0 {
		// An empty block is just a zero restart count.
		b.buf = binary.LittleEndian.AppendUint32(b.buf, 0)
		return b.buf
	}
	for _, r := range b.restarts {
		b.buf = binary.LittleEndian.AppendUint32(b.buf, r)
	}
	b.buf = binary.LittleEndian.AppendUint32(b.buf, uint32(len(b.restarts)))
	return b.buf
}

// blockIter walks one decoded (uncompressed) block. It never panics on malformed input: every
// length and offset is checked and a failure makes the iterator invalid with err set.
type blockIter struct {
	data        []byte // entries region (restart array excluded)
	restarts    []byte // restart array, 4 bytes per restart
	numRestarts int

	offset     int // offset of the current entry in data
	nextOffset int // offset of the entry after the current one
	key        []byte
	value      []byte
	valid      bool
	err        error
}

func corruptf(format_ string, args ...any) error {
	return fmt.Errorf(format_+": %w", append(args, format.ErrCorrupt)...)
}

// init prepares it to iterate block. The key buffer is kept for reuse.
func (it *blockIter) init(block []byte) error {
	// Field by field rather than *it = blockIter{key: ...}: assigning a value derived from *it
	// back into *it makes escape analysis move a caller's stack key buffer to the heap.
	it.data, it.restarts, it.numRestarts = nil, nil, 0
	it.offset, it.nextOffset, it.value, it.valid, it.err = 0, 0, nil, false, nil
	it.key = it.key[:0]
	if len(block) < 4 {
		it.err = corruptf("block of %d bytes too short", len(block))
		return it.err
	}
	n := binary.LittleEndian.Uint32(block[len(block)-4:])
	if uint64(n) > uint64(len(block)-4)/4 {
		it.err = corruptf("block restart count %d too large for %d bytes", n, len(block))
		return it.err
	}
	end := len(block) - 4 - 4*int(n)
	if n == 0 && end != 0 {
		it.err = corruptf("block has entries but no restart points")
		return it.err
	}
	it.data = block[:end]
	it.restarts = block[end : len(block)-4]
	it.numRestarts = int(n)
	return nil
}

func (it *blockIter) restartOffset(i int) (int, bool) {
	off := binary.LittleEndian.Uint32(it.restarts[4*i:])
	if int64(off) >= int64(len(it.data)) {
		it.fail(corruptf("block restart %d offset %d out of range %d", i, off, len(it.data)))
		return 0, false
	}
	return int(off), true
}

func (it *blockIter) fail(err error) {
	if it.err == nil {
		it.err = err
	}
	it.valid = false
	it.key = it.key[:0]
	it.value = nil
}

// uvarint32 decodes a varint that must fit in 32 bits, with a fast path for one byte.
func uvarint32(b []byte) (uint32, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint32(b[0]), 1
	}
	v, n := binary.Uvarint(b)
	if n <= 0 || v > 1<<32-1 {
		return 0, 0
	}
	return uint32(v), n
}

// decodeAt decodes the entry at off into it.key/it.value. The entry at a restart point must have
// shared == 0.
func (it *blockIter) decodeAt(off int, atRestart bool) bool {
	p := it.data[off:]
	shared, n1 := uvarint32(p)
	if n1 == 0 {
		it.fail(corruptf("block entry at %d: bad shared length", off))
		return false
	}
	unshared, n2 := uvarint32(p[n1:])
	if n2 == 0 {
		it.fail(corruptf("block entry at %d: bad key length", off))
		return false
	}
	vlen, n3 := uvarint32(p[n1+n2:])
	if n3 == 0 {
		it.fail(corruptf("block entry at %d: bad value length", off))
		return false
	}
	h := n1 + n2 + n3
	if uint64(unshared)+uint64(vlen) > uint64(len(p)-h) {
		it.fail(corruptf("block entry at %d: lengths %d+%d overrun block", off, unshared, vlen))
		return false
	}
	if atRestart && shared != 0 {
		it.fail(corruptf("block entry at %d: restart point shares %d bytes", off, shared))
		return false
	}
	if int(shared) > len(it.key) {
		it.fail(corruptf("block entry at %d: shares %d bytes of a %d-byte key", off, shared, len(it.key)))
		return false
	}
	ks := h + int(unshared)
	it.key = append(it.key[:shared], p[h:ks]...)
	it.value = p[ks : ks+int(vlen) : ks+int(vlen)]
	it.offset = off
	it.nextOffset = off + ks + int(vlen)
	it.valid = true
	return true
}

// restartKey returns the full key stored at restart i without touching the iterator's key.
func (it *blockIter) restartKey(i int) ([]byte, bool) {
	off, ok := it.restartOffset(i)
	if !ok {
		return nil, false
	}
	p := it.data[off:]
	shared, n1 := uvarint32(p)
	unshared, n2 := uvarint32(p[n1:])
	_, n3 := uvarint32(p[n1+n2:])
	if n1 == 0 || n2 == 0 || n3 == 0 || shared != 0 || uint64(unshared) > uint64(len(p)-n1-n2-n3) {
		it.fail(corruptf("block restart %d at %d: malformed entry", i, off))
		return nil, false
	}
	h := n1 + n2 + n3
	return p[h : h+int(unshared)], true
}

// First positions at the first entry.
func (it *blockIter) First() bool {
	if it.err != nil || it.numRestarts == 0 {
		it.valid = false
		return false
	}
	it.key = it.key[:0]
	return it.decodeAt(0, true)
}

// Next moves to the following entry.
func (it *blockIter) Next() bool {
	if !it.valid {
		return false
	}
	if it.nextOffset >= len(it.data) {
		it.valid = false
		return false
	}
	// decodeAt checks shared <= len(key), which is all memory safety needs here; the block
	// CRC already vouched for the bytes.
	return it.decodeAt(it.nextOffset, false)
}

// SeekGE positions at the first entry whose key is >= target under format.CompareInternal.
func (it *blockIter) SeekGE(target []byte) bool {
	if it.err != nil || it.numRestarts == 0 {
		it.valid = false
		return false
	}
	// Find the last restart whose key is < target; the answer lies in its run or at the next
	// restart.
	lo, hi := 0, it.numRestarts-1
	for lo < hi {
		mid := int(uint(lo+hi+1) >> 1)
		k, ok := it.restartKey(mid)
		if !ok {
			return false
		}
		if format.CompareInternal(k, target) < 0 {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	off, ok := it.restartOffset(lo)
	if !ok {
		return false
	}
	it.key = it.key[:0]
	if !it.decodeAt(off, true) {
		return false
	}
	for format.CompareInternal(it.key, target) < 0 {
		if !it.Next() {
			return false
		}
	}
	return true
}

// Entry is one decoded block entry.
type Entry struct {
	Key, Value []byte
}

// DecodeBlock decodes every entry of an uncompressed block (without trailer), copying keys and
// values. It is the fuzzed entry point of the block decoder: it returns an error wrapping
// format.ErrCorrupt for malformed input and never panics.
func DecodeBlock(b []byte) ([]Entry, error) {
	var it blockIter
	if err := it.init(b); err != nil {
		return nil, err
	}
	var out []Entry
	for ok := it.First(); ok; ok = it.Next() {
		out = append(out, Entry{Key: bytes.Clone(it.key), Value: bytes.Clone(it.value)})
	}
	if it.err != nil {
		return out, it.err
	}
	return out, nil
}
