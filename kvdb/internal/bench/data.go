package bench

import (
	"encoding/binary"
	"math/rand/v2"
)

// Key and value sizes of every workload (the 16 B keys and 100 B values).
const (
	KeySize   = 16
	ValueSize = 100
)

// putKey writes the key of index i into dst[:KeySize]: eight zero bytes, then i big-endian, so that
// keys sort in index order and the sequential fill is sequential for every engine. Random
// workloads visit a permutation of the same indexes rather than hashing them, which guarantees
// that a read after a random fill always targets a key that exists.
func putKey(dst []byte, i uint64) []byte {
	dst = dst[:KeySize]
	clear(dst[:8])
	binary.BigEndian.PutUint64(dst[8:], i)
	return dst
}

// keyIndex is the inverse of putKey; ok is false for a key putKey does not produce.
func keyIndex(k []byte) (i uint64, ok bool) {
	if len(k) != KeySize || binary.BigEndian.Uint64(k[:8]) != 0 {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[8:]), true
}

// putValue writes the value of index i at version ver into dst[:ValueSize]. Its first half is
// pseudo-random bytes derived from (i, ver) and its second half repeats the first, so a block
// compressor halves it: the compression ratio of 0.5 that LevelDB's and Pebble's db_bench use
// by default, which keeps Snappy honest without making the values free to store. Every value is
// distinct and can be recomputed to check a read byte for byte.
func putValue(dst []byte, i, ver uint64) []byte {
	dst = dst[:ValueSize]
	const half = ValueSize / 2
	// Seeding with a hash of (i, ver), not i itself: SplitMix64 streams from seeds that differ by
	// its increment are shifted copies of each other, which would make neighbours share bytes.
	seed := splitmix{state: i}
	s := splitmix{state: seed.next() ^ ver*0xD6E8FEB86659FD93}
	for off := 0; off < half; off += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], s.next())
		copy(dst[off:half], w[:])
	}
	copy(dst[half:], dst[:half])
	return dst
}

// splitmix is SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number
// generators", OOPSLA 2014): a few multiplications per 8 bytes, plenty for benchmark data.
type splitmix struct{ state uint64 }

func (s *splitmix) next() uint64 {
	s.state += 0x9E3779B97F4A7C15
	z := s.state
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

// Seeds of the permutations, fixed so that every engine sees the same order in every run.
const (
	seedFillRandom = 1
	seedFillSync   = 2
	seedReads      = 3
	seedScans      = 4
	seedMixed      = 5
)

// permutation returns 0..n-1 shuffled (Fisher-Yates) by a PCG seeded with seed. uint32 halves
// the memory of []int: 4 MB for a million keys.
func permutation(n int, seed uint64) []uint32 {
	p := make([]uint32, n)
	for i := range p {
		p[i] = uint32(i)
	}
	r := rand.New(rand.NewPCG(seed, 0))
	r.Shuffle(n, func(i, j int) { p[i], p[j] = p[j], p[i] })
	return p
}

// newRand returns the deterministic random source of worker w of a workload.
func newRand(seed uint64, w int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(w)+1))
}
