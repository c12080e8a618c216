package bench

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKeysSortInIndexOrder(t *testing.T) {
	t.Parallel()
	idx := []uint64{0, 1, 255, 256, 65535, 1 << 20, 1<<32 - 1}
	var prev []byte
	for _, i := range idx {
		k := putKey(make([]byte, KeySize), i)
		require.Len(t, k, KeySize)
		if prev != nil {
			assert.Negative(t, bytes.Compare(prev, k), "key %d after the previous one", i)
		}
		got, ok := keyIndex(k)
		require.True(t, ok)
		assert.Equal(t, i, got)
		prev = k
	}
	_, ok := keyIndex(append(putKey(make([]byte, KeySize), 1), 0))
	assert.False(t, ok, "17 bytes")
	_, ok = keyIndex(bytes.Repeat([]byte{0xff}, KeySize))
	assert.False(t, ok, "non-zero prefix")
}

func TestValues(t *testing.T) {
	t.Parallel()
	a := putValue(make([]byte, ValueSize), 42, 0)
	require.Len(t, a, ValueSize)
	assert.Equal(t, a, putValue(make([]byte, ValueSize), 42, 0), "deterministic")
	assert.NotEqual(t, a, putValue(make([]byte, ValueSize), 43, 0), "depends on the key")
	assert.NotEqual(t, a, putValue(make([]byte, ValueSize), 42, 1), "depends on the version")

	// About half compressible, like db_bench's default: a block of values shrinks to ~50-60%
	// under Snappy, neither incompressible nor free.
	var block []byte
	for i := range uint64(40) {
		block = append(block, putValue(make([]byte, ValueSize), i, 0)...)
	}
	ratio := float64(len(snappy.Encode(nil, block))) / float64(len(block))
	assert.InDelta(t, 0.55, ratio, 0.06)

	seen := map[string]bool{}
	for i := range uint64(10_000) {
		seen[string(putValue(make([]byte, ValueSize), i, 0))] = true
	}
	assert.Len(t, seen, 10_000, "every value distinct")
}

func TestPermutation(t *testing.T) {
	t.Parallel()
	p := permutation(1000, 7)
	assert.Equal(t, p, permutation(1000, 7), "deterministic")
	assert.NotEqual(t, p, permutation(1000, 8), "depends on the seed")
	sorted := slices.Clone(p)
	slices.Sort(sorted)
	for i, v := range sorted {
		require.Equal(t, uint32(i), v, "every index exactly once")
	}
	inPlace := 0
	for i, v := range p {
		if uint32(i) == v {
			inPlace++
		}
	}
	assert.Less(t, inPlace, 10, "shuffled")
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	assert.Nil(t, summarize(nil, samples{}))
	var a, b samples
	for i := 1; i <= 100; i++ {
		// Split unevenly and out of order across two workers.
		if i%3 == 0 {
			a = append(a, time.Duration(i)*time.Microsecond)
		} else {
			b = append([]time.Duration{time.Duration(i) * time.Microsecond}, b...)
		}
	}
	l := summarize(a, b)
	require.NotNil(t, l)
	assert.Equal(t, 100, l.Count)
	assert.Equal(t, 50*time.Microsecond, l.P50)
	assert.Equal(t, 99*time.Microsecond, l.P99)
	assert.Equal(t, 100*time.Microsecond, l.Max)
	one := summarize(samples{7})
	assert.Equal(t, time.Duration(7), one.P50)
	assert.Equal(t, time.Duration(7), one.P99)
}
