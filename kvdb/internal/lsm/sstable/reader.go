package sstable

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/golang/snappy"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/format"
)

// BlockCache caches decompressed data blocks; package cache implements it. Blocks handed to Set
// and returned by Get are never modified by anyone.
type BlockCache interface {
	Get(fileNum, offset uint64) ([]byte, bool)
	Set(fileNum, offset uint64, block []byte)
}

// ReaderOptions configure Open.
type ReaderOptions struct {
	Cache   BlockCache // nil = no cache
	FileNum uint64     // cache key namespace; must be unique among live tables sharing a cache
	// VerifyChecksums is accepted for compatibility with the contract and has no effect: the
	// CRC of every block read from disk is always verified (blocks served from the cache were
	// verified when they were read).
	VerifyChecksums bool
}

// ReadableFile is what a Reader reads from.
type ReadableFile interface {
	io.ReaderAt
	io.Closer
}

// indexEntry is one decoded index entry: the last key of a data block and the block's handle.
type indexEntry struct {
	keyStart, keyEnd uint32 // into Reader.indexKeys
	handle           blockHandle
}

// Reader reads one table. It is safe for concurrent use; Iterators are not.
type Reader struct {
	f       ReadableFile
	opts    ReaderOptions
	props   Properties
	filter  bloomFilter
	index   []indexEntry
	idxKeys []byte

	filterChecks, filterNegatives, filterFalsePositives atomic.Uint64
	cacheHits, cacheMisses                              atomic.Uint64
}

// Open reads the footer, index, filter and properties of the table in f (size bytes). Errors
// caused by bad bytes wrap format.ErrCorrupt.
func Open(f ReadableFile, size int64, opts ReaderOptions) (*Reader, error) {
	r, err := open(f, size, opts)
	if err != nil {
		return nil, fmt.Errorf("open sstable %06d: %w", opts.FileNum, err)
	}
	return r, nil
}

func open(f ReadableFile, size int64, opts ReaderOptions) (*Reader, error) {
	if size < FooterLen {
		return nil, corruptf("file of %d bytes is shorter than the footer", size)
	}
	var fb [FooterLen]byte
	if err := readFullAt(f, fb[:], size-FooterLen); err != nil {
		return nil, err
	}
	ft, err := decodeFooter(fb[:])
	if err != nil {
		return nil, err
	}
	metaEnd := uint64(size - FooterLen)
	if err := checkHandle("properties", ft.props, metaEnd); err != nil {
		return nil, err
	}
	if err := checkHandle("index", ft.index, ft.props.offset); err != nil {
		return nil, err
	}
	dataEnd := ft.index.offset
	if ft.filter != (blockHandle{}) {
		if err := checkHandle("filter", ft.filter, ft.index.offset); err != nil {
			return nil, err
		}
		dataEnd = ft.filter.offset
	}

	r := &Reader{f: f, opts: opts}
	pb, err := readBlock(f, ft.props, nil)
	if err != nil {
		return nil, fmt.Errorf("properties: %w", err)
	}
	if r.props, err = decodeProperties(pb); err != nil {
		return nil, err
	}
	r.props.FileSize = uint64(size)

	ib, err := readBlock(f, ft.index, nil)
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	if err := r.loadIndex(ib, dataEnd); err != nil {
		return nil, err
	}
	if uint64(len(r.index)) != r.props.NumDataBlocks {
		return nil, corruptf("index has %d blocks, properties say %d", len(r.index), r.props.NumDataBlocks)
	}

	if ft.filter != (blockHandle{}) {
		fb, err := readBlock(f, ft.filter, nil)
		if err != nil {
			return nil, fmt.Errorf("filter: %w", err)
		}
		if r.filter, err = parseBloom(fb); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// checkHandle verifies that h plus its trailer lies within [0, limit).
func checkHandle(what string, h blockHandle, limit uint64) error {
	if h.length > maxBlockLen || h.offset > limit || h.length+TrailerLen > limit-h.offset {
		return corruptf("%s block handle (%d, %d) outside [0, %d)", what, h.offset, h.length, limit)
	}
	return nil
}

// loadIndex decodes the whole index block into memory so that lookups binary-search a slice.
func (r *Reader) loadIndex(b []byte, dataEnd uint64) error {
	var it blockIter
	if err := it.init(b); err != nil {
		return fmt.Errorf("index: %w", err)
	}
	r.idxKeys = make([]byte, 0, len(b))
	var prev []byte
	var nextOffset uint64
	for ok := it.First(); ok; ok = it.Next() {
		if _, _, _, ok := format.ParseInternalKey(it.key); !ok {
			return corruptf("index entry %d: bad key", len(r.index))
		}
		if prev != nil && format.CompareInternal(prev, it.key) >= 0 {
			return corruptf("index entry %d: keys out of order", len(r.index))
		}
		h, err := decodeHandle(it.value)
		if err != nil {
			return fmt.Errorf("index entry %d: %w", len(r.index), err)
		}
		// Data blocks are contiguous from offset 0, so each handle must start where the
		// previous block's trailer ended.
		if h.offset != nextOffset {
			return corruptf("index entry %d: block at %d, want %d", len(r.index), h.offset, nextOffset)
		}
		if err := checkHandle("data", h, dataEnd); err != nil {
			return fmt.Errorf("index entry %d: %w", len(r.index), err)
		}
		nextOffset = h.offset + h.length + TrailerLen
		start := len(r.idxKeys)
		r.idxKeys = append(r.idxKeys, it.key...)
		prev = r.idxKeys[start:]
		r.index = append(r.index, indexEntry{keyStart: uint32(start), keyEnd: uint32(len(r.idxKeys)), handle: h})
	}
	if it.err != nil {
		return fmt.Errorf("index: %w", it.err)
	}
	if nextOffset != dataEnd {
		return corruptf("data blocks end at %d, metadata starts at %d", nextOffset, dataEnd)
	}
	return nil
}

func readFullAt(f io.ReaderAt, buf []byte, off int64) error {
	n, err := f.ReadAt(buf, off)
	if n == len(buf) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return corruptf("short read of %d bytes at %d: got %d", len(buf), off, n)
	}
	return fmt.Errorf("read %d bytes at %d: %w", len(buf), off, err)
}

// readBufPool recycles the buffers raw (possibly compressed) blocks are read into.
var readBufPool = sync.Pool{New: func() any { return new([]byte) }}

// readBlock reads the block at h, verifies its CRC and returns its decompressed contents. The
// result is written into reuse's array when it is large enough, else into a fresh slice; pass
// nil to get a slice the caller may keep (and cache).
func readBlock(f io.ReaderAt, h blockHandle, reuse []byte) ([]byte, error) {
	n := int(h.length) + TrailerLen
	bp := readBufPool.Get().(*[]byte)
	defer readBufPool.Put(bp)
	if cap(*bp) < n {
		*bp = make([]byte, n)
	}
	buf := (*bp)[:n]
	if err := readFullAt(f, buf, int64(h.offset)); err != nil {
		return nil, err
	}
	contents, typ := buf[:h.length], buf[h.length]
	if got, want := blockChecksum(contents, typ), binary.LittleEndian.Uint32(buf[h.length+1:]); got != want {
		return nil, corruptf("block at %d: checksum %08x, want %08x", h.offset, got, want)
	}
	switch typ {
	case blockTypeNone:
		return append(reuse[:0], contents...), nil
	case blockTypeSnappy:
		dlen, err := snappy.DecodedLen(contents)
		if err != nil || dlen > maxBlockLen {
			return nil, corruptf("block at %d: bad snappy length", h.offset)
		}
		if cap(reuse) < dlen {
			reuse = make([]byte, dlen)
		}
		out, err := snappy.Decode(reuse[:dlen], contents)
		if err != nil {
			return nil, corruptf("block at %d: snappy: %v", h.offset, err)
		}
		return out, nil
	}
	return nil, corruptf("block at %d: unknown block type %d", h.offset, typ)
}

// dataBlock returns the contents of data block i, from the cache when possible. Without a cache
// the block is decoded into reuse when it is large enough (see readBlock).
func (r *Reader) dataBlock(i int, reuse []byte) ([]byte, error) {
	h := r.index[i].handle
	if c := r.opts.Cache; c != nil {
		if b, ok := c.Get(r.opts.FileNum, h.offset); ok {
			r.cacheHits.Add(1)
			return b, nil
		}
		r.cacheMisses.Add(1)
	}
	c := r.opts.Cache
	if c != nil {
		reuse = nil // the cache keeps the block
	}
	b, err := readBlock(r.f, h, reuse)
	if err != nil {
		return nil, fmt.Errorf("sstable %06d data block %d: %w", r.opts.FileNum, i, err)
	}
	if c != nil {
		c.Set(r.opts.FileNum, h.offset, b)
	}
	return b, nil
}

func (r *Reader) indexKey(i int) []byte {
	e := &r.index[i]
	return r.idxKeys[e.keyStart:e.keyEnd]
}

// findBlock returns the first data block whose last key is >= key, len(r.index) if none.
func (r *Reader) findBlock(key []byte) int {
	lo, hi := 0, len(r.index)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if format.CompareInternal(r.indexKey(mid), key) < 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// Properties returns the table's properties.
func (r *Reader) Properties() Properties { return r.props }

// MayContain consults the bloom filter with a user key (true if the table has no filter).
func (r *Reader) MayContain(userKey []byte) bool {
	if !r.filter.present() {
		return true
	}
	r.filterChecks.Add(1)
	if !r.filter.mayContain(userKey) {
		r.filterNegatives.Add(1)
		return false
	}
	return true
}

// Get returns the first entry whose internal key is >= seekKey (typically
// format.MakeInternalKey(userKey, snapSeq, format.KindMax)), if it has seekKey's user key.
// found is false when this table holds no such entry. With checkFilter the bloom filter is
// consulted first (and counted in FilterStats). ikey is freshly allocated; value aliases an
// immutable block and must not be modified.
func (r *Reader) Get(seekKey []byte, checkFilter bool) (ikey, value []byte, found bool, err error) {
	trailer, value, found, err := r.GetTrailer(seekKey, checkFilter)
	if !found || err != nil {
		return nil, nil, false, err
	}
	uk := format.UserKey(seekKey)
	ikey = make([]byte, len(uk)+format.TrailerLen)
	copy(ikey, uk)
	binary.LittleEndian.PutUint64(ikey[len(uk):], trailer)
	return ikey, value, true, nil
}

// getIterPool recycles the block iterators (and their key buffers) of point lookups. A stack
// iterator would be cheaper but escape analysis moves its key buffer to the heap.
var getIterPool = sync.Pool{New: func() any { return &blockIter{key: make([]byte, 0, 64)} }}

// GetTrailer is Get without the internal key allocation: it returns the found entry's trailer
// (seq<<8 | kind) instead; its user key is seekKey's. An addition to the contract for the hot
// read path.
func (r *Reader) GetTrailer(seekKey []byte, checkFilter bool) (trailer uint64, value []byte, found bool, err error) {
	userKey := format.UserKey(seekKey)
	filtered := checkFilter && r.filter.present()
	if filtered {
		r.filterChecks.Add(1)
		if !r.filter.mayContain(userKey) {
			r.filterNegatives.Add(1)
			return 0, nil, false, nil
		}
	}
	i := r.findBlock(seekKey)
	if i == len(r.index) {
		if filtered {
			r.filterFalsePositives.Add(1)
		}
		return 0, nil, false, nil
	}
	block, err := r.dataBlock(i, nil) // value may alias the block: never reuse here
	if err != nil {
		return 0, nil, false, err
	}
	it := getIterPool.Get().(*blockIter)
	defer getIterPool.Put(it)
	if err := it.init(block); err != nil {
		return 0, nil, false, fmt.Errorf("sstable %06d data block %d: %w", r.opts.FileNum, i, err)
	}
	if !it.SeekGE(seekKey) {
		if it.err != nil {
			return 0, nil, false, fmt.Errorf("sstable %06d data block %d: %w", r.opts.FileNum, i, it.err)
		}
		// The index promised a key >= seekKey in this block.
		return 0, nil, false, fmt.Errorf("sstable %06d data block %d: index key beyond block: %w",
			r.opts.FileNum, i, format.ErrCorrupt)
	}
	if !bytes.Equal(format.UserKey(it.key), userKey) {
		if filtered {
			r.filterFalsePositives.Add(1)
		}
		return 0, nil, false, nil
	}
	return format.Trailer(it.key), it.value, true, nil
}

// FilterStats returns bloom filter counters: checks, true negatives (lookups the filter
// answered alone) and false positives (the filter said maybe but the key was absent; only Get
// with checkFilter can tell).
func (r *Reader) FilterStats() (checks, negatives, falsePositives uint64) {
	return r.filterChecks.Load(), r.filterNegatives.Load(), r.filterFalsePositives.Load()
}

// CacheStats returns the block cache hits and misses of this table's reads.
func (r *Reader) CacheStats() (hits, misses uint64) {
	return r.cacheHits.Load(), r.cacheMisses.Load()
}

// Close closes the underlying file.
func (r *Reader) Close() error { return r.f.Close() }

// NewIterator returns an iterator over the table's entries, unpositioned.
func (r *Reader) NewIterator() *Iterator { return &Iterator{r: r, blockIdx: -1} }

// Iterator walks a table's internal keys in order. Key and Value are valid until the next move.
// Once an error occurs the iterator is invalid and Error returns it.
type Iterator struct {
	r        *Reader
	bi       blockIter
	blockIdx int
	err      error
	buf      []byte // block buffer reused across blocks when the reader has no cache
}

func (it *Iterator) loadBlock(i int) bool {
	if i >= len(it.r.index) {
		it.bi.valid = false
		it.blockIdx = len(it.r.index)
		return false
	}
	b, err := it.r.dataBlock(i, it.buf)
	if err == nil {
		if it.r.opts.Cache == nil {
			it.buf = b
		}
		if err = it.bi.init(b); err != nil {
			err = fmt.Errorf("sstable %06d data block %d: %w", it.r.opts.FileNum, i, err)
		}
	}
	if err != nil {
		it.err = err
		it.bi.valid = false
		return false
	}
	it.blockIdx = i
	return true
}

// settle moves forward over exhausted or empty blocks until an entry or the end.
func (it *Iterator) settle(valid bool) bool {
	for !valid {
		if it.bi.err != nil {
			it.err = fmt.Errorf("sstable %06d data block %d: %w", it.r.opts.FileNum, it.blockIdx, it.bi.err)
			return false
		}
		if !it.loadBlock(it.blockIdx + 1) {
			return false
		}
		valid = it.bi.First()
	}
	return true
}

// First positions at the first entry.
func (it *Iterator) First() bool {
	if it.err != nil {
		return false
	}
	if !it.loadBlock(0) {
		return false
	}
	return it.settle(it.bi.First())
}

// SeekGE positions at the first entry whose internal key is >= key.
func (it *Iterator) SeekGE(key []byte) bool {
	if it.err != nil {
		return false
	}
	if !it.loadBlock(it.r.findBlock(key)) {
		return false
	}
	return it.settle(it.bi.SeekGE(key))
}

// Next moves to the next entry.
func (it *Iterator) Next() bool {
	if it.err != nil || !it.bi.valid {
		return false
	}
	return it.settle(it.bi.Next())
}

// Valid reports whether the iterator is at an entry.
func (it *Iterator) Valid() bool { return it.err == nil && it.bi.valid }

// Key returns the current internal key.
func (it *Iterator) Key() []byte { return it.bi.key }

// Value returns the current value.
func (it *Iterator) Value() []byte { return it.bi.value }

// Error returns the error that stopped the iterator, if any.
func (it *Iterator) Error() error { return it.err }

// Close releases the iterator; it returns the iterator's error.
func (it *Iterator) Close() error {
	it.bi = blockIter{}
	it.blockIdx = len(it.r.index)
	return it.err
}
