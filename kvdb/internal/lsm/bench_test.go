package lsm

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/wal"
)

// Benchmarks for the hot paths, with the default (production) sizes. Keys are 16 bytes, values
// 100 bytes, as in the engine comparison (internal/bench).

func benchKey(dst []byte, i uint64) []byte {
	dst = append(dst[:0], "key-"...)
	return binary.BigEndian.AppendUint64(append(dst, "...."...), i)
}

var benchValue = func() []byte {
	v := make([]byte, 100)
	for i := range v {
		v[i] = byte(i*7 + 3)
	}
	return v
}()

func benchOpen(b *testing.B, sync wal.SyncPolicy) *DB {
	b.Helper()
	o := DefaultOptions()
	o.Sync = sync
	db, err := Open(b.TempDir(), o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	return db
}

// BenchmarkPut: random-order single puts, SyncNone.
func BenchmarkPut(b *testing.B) {
	db := benchOpen(b, wal.SyncNone)
	rng := rand.New(rand.NewPCG(1, 2))
	var k []byte
	b.SetBytes(int64(16 + len(benchValue)))
	b.ResetTimer()
	for range b.N {
		k = benchKey(k, rng.Uint64())
		if err := db.Put(k, benchValue); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutParallel: puts from GOMAXPROCS goroutines (group commit), SyncNone.
func BenchmarkPutParallel(b *testing.B) {
	db := benchOpen(b, wal.SyncNone)
	b.SetBytes(int64(16 + len(benchValue)))
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 2))
		var k []byte
		for pb.Next() {
			k = benchKey(k, rng.Uint64())
			if err := db.Put(k, benchValue); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkBatchDurable: batches of 100 puts, each batch fsynced (SyncAlways). Reports keys/s.
func BenchmarkBatchDurable(b *testing.B) {
	db := benchOpen(b, wal.SyncAlways)
	var batch Batch
	var k []byte
	n := uint64(0)
	b.SetBytes(100 * int64(16+len(benchValue)))
	b.ResetTimer()
	for range b.N {
		batch.Reset()
		for range 100 {
			n++
			k = benchKey(k, n)
			batch.Put(k, benchValue)
		}
		if err := db.Write(&batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "keys/s")
}

const benchReadKeys = 200_000

// loadForReads fills a DB with benchReadKeys sequential keys and compacts it.
func loadForReads(b *testing.B) *DB {
	b.Helper()
	db := benchOpen(b, wal.SyncNone)
	var batch Batch
	var k []byte
	for i := uint64(0); i < benchReadKeys; i++ {
		k = benchKey(k, i)
		batch.Put(k, benchValue)
		if batch.Len() == 1000 {
			if err := db.Write(&batch); err != nil {
				b.Fatal(err)
			}
			batch.Reset()
		}
	}
	if err := db.Compact(); err != nil {
		b.Fatal(err)
	}
	return db
}

// BenchmarkGetWarm: random point reads of existing keys, block cache warm.
func BenchmarkGetWarm(b *testing.B) {
	db := loadForReads(b)
	var k []byte
	for i := uint64(0); i < benchReadKeys; i++ { // warm the cache
		k = benchKey(k, i)
		if _, err := db.Get(k); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 3))
		var k []byte
		for pb.Next() {
			k = benchKey(k, rng.Uint64N(benchReadKeys))
			if _, err := db.Get(k); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkScan: range scans of 100 keys from random starting points.
func BenchmarkScan(b *testing.B) {
	db := loadForReads(b)
	rng := rand.New(rand.NewPCG(4, 5))
	var k []byte
	b.ResetTimer()
	for range b.N {
		k = benchKey(k, rng.Uint64N(benchReadKeys-100))
		it := db.NewIterator(IterOptions{})
		n := 0
		for ok := it.SeekGE(k); ok && n < 100; ok = it.Next() {
			n++
		}
		if err := it.Close(); err != nil || n != 100 {
			b.Fatal(fmt.Sprint(n, err))
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "keys/s")
}

// BenchmarkMixed: 50% gets / 50% puts of random existing keys from 16 goroutines, SyncNone.
func BenchmarkMixed(b *testing.B) {
	db := loadForReads(b)
	b.SetParallelism(16 / max(1, runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 6))
		var k []byte
		for pb.Next() {
			k = benchKey(k, rng.Uint64N(benchReadKeys))
			if rng.IntN(2) == 0 {
				if _, err := db.Get(k); err != nil {
					b.Fatal(err)
				}
			} else if err := db.Put(k, benchValue); err != nil {
				b.Fatal(err)
			}
		}
	})
}
