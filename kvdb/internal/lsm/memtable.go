package lsm

// Memtable: an arena-backed skiplist of internal keys with one writer and lock-free readers.
//
// The skiplist (W. Pugh, "Skip Lists: A Probabilistic Alternative to Balanced Trees", CACM 1990)
// keeps entries sorted by format.CompareInternal; each node gets a random height with P = 1/4 per
// extra level, so a search touches O(log n) nodes without any rebalancing. The layout follows
// LevelDB's memtable (leveldb/db/skiplist.h) and Badger/Pebble's arenaskl:
//
//   - All nodes live in one []byte arena allocated up front. A "pointer" is a uint32 offset into
//     it, so the Go GC sees one object per memtable instead of one per entry, and the memtable's
//     size is simply the arena's used bytes.
//   - Only the commit leader inserts (the commit pipeline serialises writers), so allocation
//     needs no atomics. A new node is fully written, then linked bottom-up with atomic stores;
//     readers load next pointers atomically, so they see either the old list or the new node
//     with all its bytes (Go's atomics order the plain writes before the publishing store).
//   - Nothing is ever removed or modified, which is what makes lock-free reads trivial: an
//     update or delete is a new entry with a higher sequence number.
//
// Node layout at a 4-byte aligned offset:
//
//	keyLen uint32 | valLen uint32 | height uint32 | next[height] uint32 | key | value
//
// where key is the internal key (user key + 8-byte trailer).

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/format"
	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/wal"
)

const (
	maxHeight       = 12 // 4^12 ≈ 16M entries before the top level stops thinning out
	nodeHeaderLen   = 12
	maxNodeOverhead = nodeHeaderLen + 4*maxHeight + 3 // header, tallest tower, alignment
	maxArenaSize    = 1 << 31                         // offsets are uint32
)

type memtable struct {
	arena  []byte
	used   atomic.Int64 // written by the single writer, read by metrics
	head   uint32
	height atomic.Int32
	rnd    uint64

	logNum  uint64 // WAL file holding this memtable's writes
	entries int    // writer-only
	// pendingLog is the memtable's WAL when closing it (an fsync) was left to the flusher.
	pendingLog *wal.Writer
}

func newMemtable(capacity int64, logNum uint64) *memtable {
	capacity += int64(maxNodeOverhead) + 8
	if capacity > maxArenaSize {
		capacity = maxArenaSize
	}
	m := &memtable{arena: make([]byte, capacity), logNum: logNum, rnd: uint64(time.Now().UnixNano()) | 1}
	m.used.Store(4) // offset 0 is the nil pointer
	m.head = m.alloc(nodeHeaderLen + 4*maxHeight)
	binary.LittleEndian.PutUint32(m.arena[m.head+8:], maxHeight)
	m.height.Store(1)
	return m
}

func (m *memtable) alloc(n int) uint32 {
	off := m.used.Load()
	end := off + int64(n+3)&^3
	if end > int64(len(m.arena)) {
		// The commit leader checks hasRoom first; reaching here is a programming error.
		panic("lsm: memtable arena overflow")
	}
	m.used.Store(end)
	return uint32(off)
}

// hasRoom reports whether n more bytes (an over-estimate from Batch.memSize) fit.
func (m *memtable) hasRoom(n int64) bool { return m.used.Load()+n <= int64(len(m.arena)) }

func (m *memtable) size() int64 { return m.used.Load() }
func (m *memtable) empty() bool { return m.head == 0 || m.next(m.head, 0) == 0 }

func (m *memtable) nextPtr(node uint32, level int) *atomic.Uint32 {
	return (*atomic.Uint32)(unsafe.Pointer(&m.arena[int(node)+nodeHeaderLen+4*level]))
}

func (m *memtable) next(node uint32, level int) uint32 { return m.nextPtr(node, level).Load() }

func (m *memtable) nodeKey(node uint32) []byte {
	kl := binary.LittleEndian.Uint32(m.arena[node:])
	h := binary.LittleEndian.Uint32(m.arena[node+8:])
	start := node + nodeHeaderLen + 4*h
	return m.arena[start : start+kl : start+kl]
}

func (m *memtable) nodeValue(node uint32) []byte {
	kl := binary.LittleEndian.Uint32(m.arena[node:])
	vl := binary.LittleEndian.Uint32(m.arena[node+4:])
	h := binary.LittleEndian.Uint32(m.arena[node+8:])
	start := node + nodeHeaderLen + 4*h + kl
	return m.arena[start : start+vl : start+vl]
}

// compareNode orders node's internal key against (ukey, trailer) like format.CompareInternal,
// without building the internal key.
func (m *memtable) compareNode(node uint32, ukey []byte, trailer uint64) int {
	k := m.nodeKey(node)
	n := len(k) - format.TrailerLen
	if c := bytes.Compare(k[:n], ukey); c != 0 {
		return c
	}
	t := binary.LittleEndian.Uint64(k[n:])
	switch {
	case t > trailer:
		return -1
	case t < trailer:
		return 1
	}
	return 0
}

// findGE returns the first node >= (ukey, trailer), 0 if none; prev (if non-nil) receives the
// rightmost node before it on every level, which is where an insert links in.
func (m *memtable) findGE(ukey []byte, trailer uint64, prev *[maxHeight]uint32) uint32 {
	x := m.head
	level := int(m.height.Load()) - 1
	for {
		nx := m.next(x, level)
		if nx != 0 && m.compareNode(nx, ukey, trailer) < 0 {
			x = nx
			continue
		}
		if prev != nil {
			prev[level] = x
		}
		if level == 0 {
			return nx
		}
		level--
	}
}

func (m *memtable) randomHeight() int {
	// xorshift64: the writer is single-threaded, so no lock or shared rand source is needed.
	m.rnd ^= m.rnd << 13
	m.rnd ^= m.rnd >> 7
	m.rnd ^= m.rnd << 17
	// Two random bits per level: height h with probability (1/4)^(h-1).
	h := 1 + bits.TrailingZeros64(m.rnd|1<<62)/2
	return min(h, maxHeight)
}

// add inserts one entry. Only the commit leader calls it; value for KindSetTTL carries the
// expiry prefix already.
func (m *memtable) add(seq uint64, kind format.Kind, ukey, value []byte) {
	trailer := format.MakeTrailer(seq, kind)
	var prev [maxHeight]uint32
	m.findGE(ukey, trailer, &prev)
	h := m.randomHeight()
	if cur := int(m.height.Load()); h > cur {
		for i := cur; i < h; i++ {
			prev[i] = m.head
		}
		// Readers that see the new height before the node is linked find head.next == 0 on the
		// new levels and simply drop a level.
		m.height.Store(int32(h))
	}
	kl := len(ukey) + format.TrailerLen
	node := m.alloc(nodeHeaderLen + 4*h + kl + len(value))
	a := m.arena[node:]
	binary.LittleEndian.PutUint32(a[0:], uint32(kl))
	binary.LittleEndian.PutUint32(a[4:], uint32(len(value)))
	binary.LittleEndian.PutUint32(a[8:], uint32(h))
	p := nodeHeaderLen + 4*h
	p += copy(a[p:], ukey)
	binary.LittleEndian.PutUint64(a[p:], trailer)
	copy(a[p+format.TrailerLen:], value)
	for i := 0; i < h; i++ {
		m.nextPtr(node, i).Store(m.next(prev[i], i))
		m.nextPtr(prev[i], i).Store(node) // publishes the node on level i
	}
	m.entries++
}

// get finds the newest entry of ukey with seq <= snap.
func (m *memtable) get(ukey []byte, snap uint64) (seq uint64, kind format.Kind, value []byte, found bool) {
	n := m.findGE(ukey, format.MakeTrailer(snap, format.KindMax), nil)
	if n == 0 {
		return 0, 0, nil, false
	}
	k := m.nodeKey(n)
	uk := k[:len(k)-format.TrailerLen]
	if !bytes.Equal(uk, ukey) {
		return 0, 0, nil, false
	}
	t := binary.LittleEndian.Uint64(k[len(uk):])
	return t >> 8, format.Kind(t & 0xff), m.nodeValue(n), true
}

func (m *memtable) newIter() *memIter { return &memIter{m: m} }

// memIter walks the memtable in internal-key order. Keys and values alias the arena, which
// never changes once written, so they stay valid as long as the iterator's owner holds the
// memtable.
type memIter struct {
	m    *memtable
	node uint32
}

func (it *memIter) First() bool {
	it.node = it.m.next(it.m.head, 0)
	return it.node != 0
}

func (it *memIter) SeekGE(ikey []byte) bool {
	it.node = it.m.findGE(format.UserKey(ikey), format.Trailer(ikey), nil)
	return it.node != 0
}

func (it *memIter) Next() bool {
	it.node = it.m.next(it.node, 0)
	return it.node != 0
}

func (it *memIter) Valid() bool   { return it.node != 0 }
func (it *memIter) Key() []byte   { return it.m.nodeKey(it.node) }
func (it *memIter) Value() []byte { return it.m.nodeValue(it.node) }
func (it *memIter) Error() error  { return nil }
func (it *memIter) Close() error  { return nil }
