package sstable

import (
	"fmt"
	"testing"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/cache"
	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/format"
)

func benchEntries(n int) []kv {
	out := make([]kv, n)
	for i := range out {
		out[i] = kv{ik(fmt.Sprintf("user:%012d", i), uint64(i+1), format.KindSet), make([]byte, 100)}
	}
	return out
}

// BenchmarkBlockSeek measures SeekGE inside one 4 KiB block (binary search over restart points,
// then a linear scan of at most 16 entries).
func BenchmarkBlockSeek(b *testing.B) {
	entries := benchEntries(1000)
	bb := blockBuilder{restartInterval: 16}
	n := 0
	for _, e := range entries {
		if bb.estimatedSize() >= 4096 {
			break
		}
		bb.add(e.key, e.value)
		n++
	}
	block := bb.finish()
	var it blockIter
	if err := it.init(block); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if !it.SeekGE(entries[(i*7919)%n].key) {
			b.Fatal("not found")
		}
	}
	b.ReportMetric(float64(n), "entries/block")
}

func benchTable(b *testing.B, n int) []byte {
	data, _ := build(b, benchEntries(n), WriterOptions{BloomBitsPerKey: 10})
	return data
}

// BenchmarkGet measures a point lookup in a 100k-entry table whose blocks are in the cache.
func BenchmarkGet(b *testing.B) {
	const n = 100_000
	data := benchTable(b, n)
	r, err := Open(fileOf(data), int64(len(data)), ReaderOptions{Cache: cache.New(64 << 20), FileNum: 1})
	if err != nil {
		b.Fatal(err)
	}
	keys := make([][]byte, 4096)
	for i := range keys {
		keys[i] = ik(fmt.Sprintf("user:%012d", (i*7919)%n), format.MaxSeq, format.KindMax)
	}
	for _, k := range keys { // warm the cache
		_, _, _, _ = r.GetTrailer(k, true)
	}
	b.Run("present", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, _, found, err := r.GetTrailer(keys[i%len(keys)], true); !found || err != nil {
				b.Fatal("not found", err)
			}
		}
	})
	b.Run("absent-filtered", func(b *testing.B) {
		absent := ik("user:nope", format.MaxSeq, format.KindMax)
		b.ReportAllocs()
		for b.Loop() {
			_, _, _, _ = r.GetTrailer(absent, true)
		}
	})
}

// BenchmarkIterate measures a full scan, bytes counted as raw key+value bytes.
func BenchmarkIterate(b *testing.B) {
	const n = 100_000
	data := benchTable(b, n)
	r, err := Open(fileOf(data), int64(len(data)), ReaderOptions{})
	if err != nil {
		b.Fatal(err)
	}
	p := r.Properties()
	b.SetBytes(int64(p.RawKeySize + p.RawValueSize))
	b.ReportAllocs()
	for b.Loop() {
		it := r.NewIterator()
		for ok := it.First(); ok; ok = it.Next() {
		}
		if err := it.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWrite measures building a 100k-entry table in memory.
func BenchmarkWrite(b *testing.B) {
	entries := benchEntries(100_000)
	var raw int64
	for _, e := range entries {
		raw += int64(len(e.key) + len(e.value))
	}
	b.SetBytes(raw)
	b.ReportAllocs()
	for b.Loop() {
		w := NewWriter(discard{}, WriterOptions{BloomBitsPerKey: 10})
		for _, e := range entries {
			if err := w.Add(e.key, e.value); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := w.Finish(); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
