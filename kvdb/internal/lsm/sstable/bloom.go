package sstable

import (
	"encoding/binary"
	"math"
)

// Bloom filter over the user keys of one table (Bloom 1970; sizing as in LevelDB's
// util/bloom.cc). With m bits, n keys and k probes the false-positive rate is about
// (1 - e^(-kn/m))^k, minimised at k = (m/n)·ln 2: 10 bits per key and k = 7 give ~0.82%.
//
// Probes use double hashing (Kirsch & Mitzenmacher, "Less hashing, same performance", 2006):
// one 64-bit hash h gives h1 = low 32 bits and h2 = high 32 bits, and probe i tests bit
// (h1 + i·h2) mapped onto [0, m) with Lemire's multiply-shift range reduction, which avoids a
// division per probe.
//
// Filter block layout: bit array (⌈m/8⌉ bytes, bit j is byte j/8, bit j%8) | k (1 byte).

// filterHash is MurmurHash64A (Austin Appleby, public domain) with a fixed seed, so filters
// written by one process are readable by any other.
func filterHash(b []byte) uint64 {
	const (
		m    = 0xc6a4a7935bd1e995
		r    = 47
		seed = 0x6b766462 // "kvdb"
	)
	h := uint64(seed) ^ uint64(len(b))*m
	for len(b) >= 8 {
		k := binary.LittleEndian.Uint64(b)
		k *= m
		k ^= k >> r
		k *= m
		h ^= k
		h *= m
		b = b[8:]
	}
	if len(b) > 0 {
		var t uint64
		for i := len(b) - 1; i >= 0; i-- {
			t = t<<8 | uint64(b[i])
		}
		h ^= t
		h *= m
	}
	h ^= h >> r
	h *= m
	h ^= h >> r
	return h
}

// bloomProbes returns k for a bits-per-key budget: bitsPerKey·ln 2 rounded, clamped to [1, 30].
func bloomProbes(bitsPerKey int) int {
	k := int(math.Round(float64(bitsPerKey) * math.Ln2))
	return min(max(k, 1), 30)
}

// maxFilterBits keeps bit positions within 32 bits for the range reduction (a 512 MiB filter).
const maxFilterBits = 1<<32 - 8

// bloomBuilder collects key hashes while the table is written and builds the filter at Finish.
type bloomBuilder struct {
	bitsPerKey int
	hashes     []uint64
}

func (b *bloomBuilder) add(userKey []byte) { b.hashes = append(b.hashes, filterHash(userKey)) }

// finish appends the filter block to dst.
func (b *bloomBuilder) finish(dst []byte) []byte {
	nbits := uint64(len(b.hashes)) * uint64(b.bitsPerKey)
	nbits = min(max(nbits, 64), maxFilterBits)
	nbytes := int((nbits + 7) / 8)
	nbits = uint64(nbytes) * 8
	k := bloomProbes(b.bitsPerKey)

	start := len(dst)
	dst = append(dst, make([]byte, nbytes)...)
	filter := dst[start:]
	for _, h := range b.hashes {
		h1, h2 := uint32(h), uint32(h>>32)
		for range k {
			pos := reduce(h1, nbits)
			filter[pos/8] |= 1 << (pos % 8)
			h1 += h2
		}
	}
	return append(dst, byte(k))
}

// reduce maps x uniformly onto [0, n) for n < 2^32 (Lemire, "A fast alternative to the modulo
// reduction", 2016).
func reduce(x uint32, n uint64) uint64 { return (uint64(x) * n) >> 32 }

// bloomFilter is a parsed filter block. The zero value (no filter) says "maybe" to everything.
type bloomFilter struct {
	bits  []byte
	nbits uint64
	k     int
}

// parseBloom validates a filter block.
func parseBloom(b []byte) (bloomFilter, error) {
	if len(b) < 2 {
		return bloomFilter{}, corruptf("filter block of %d bytes", len(b))
	}
	k := int(b[len(b)-1])
	if k < 1 || k > 30 {
		return bloomFilter{}, corruptf("filter probe count %d", k)
	}
	bitsArr := b[:len(b)-1]
	if uint64(len(bitsArr))*8 > maxFilterBits {
		return bloomFilter{}, corruptf("filter of %d bytes too large", len(bitsArr))
	}
	return bloomFilter{bits: bitsArr, nbits: uint64(len(bitsArr)) * 8, k: k}, nil
}

func (f *bloomFilter) present() bool { return f.k > 0 }

// mayContain reports whether userKey may be in the set; false means it is certainly absent.
func (f *bloomFilter) mayContain(userKey []byte) bool {
	if f.k == 0 {
		return true
	}
	h := filterHash(userKey)
	h1, h2 := uint32(h), uint32(h>>32)
	for range f.k {
		pos := reduce(h1, f.nbits)
		if f.bits[pos/8]&(1<<(pos%8)) == 0 {
			return false
		}
		h1 += h2
	}
	return true
}
