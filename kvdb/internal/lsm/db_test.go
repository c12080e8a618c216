package lsm

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/wal"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// smallOptions make memtables and tables tiny so flushes and compactions happen constantly.
func smallOptions() Options {
	return Options{
		Sync:                wal.SyncNone,
		MemtableSize:        32 << 10,
		TargetFileSize:      16 << 10,
		LevelSizeBase:       64 << 10,
		L0CompactionTrigger: 2,
		BlockSize:           512,
		maxOpenTables:       8, // readers race with table cache evictions
	}
}

func openTest(t *testing.T, dir string, opts Options) *DB {
	t.Helper()
	db, err := Open(dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestBasicOperations(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir(), smallOptions())
	k := []byte("k")

	_, err := db.Get(k)
	require.ErrorIs(t, err, ErrNotFound)

	require.NoError(t, db.Put(k, []byte("v1")))
	item, err := db.Lookup(k)
	require.NoError(t, err)
	assert.Equal(t, "v1", string(item.Value))
	assert.Equal(t, uint64(1), item.Version)
	assert.True(t, item.ExpiresAt.IsZero())

	require.NoError(t, db.Put(k, nil))
	v, err := db.Get(k)
	require.NoError(t, err)
	assert.NotNil(t, v, "an empty value is present, not absent")
	assert.Empty(t, v)

	require.NoError(t, db.Delete(k))
	_, err = db.Get(k)
	require.ErrorIs(t, err, ErrNotFound)

	// A value bigger than a whole memtable gets a memtable of its own.
	big := bytes.Repeat([]byte("B"), 100<<10)
	require.NoError(t, db.Put([]byte("big"), big))
	require.NoError(t, db.Flush())
	require.NoError(t, db.Put([]byte("big2"), big)) // into an empty memtable
	require.NoError(t, db.Flush())
	for _, k := range []string{"big", "big2"} {
		v, err = db.Get([]byte(k))
		require.NoError(t, err)
		require.Equal(t, big, v)
	}

	// Returned values are copies: changing them does not change the DB.
	require.NoError(t, db.Put(k, []byte("abc")))
	v, _ = db.Get(k)
	v[0] = 'X'
	v, _ = db.Get(k)
	assert.Equal(t, "abc", string(v))
}

func TestConditions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(db *DB) // before the conditional batch
		cond  func(b *Batch, version uint64)
		ok    bool
	}{
		{"version matches", putK, func(b *Batch, v uint64) { b.ExpectVersion([]byte("k"), v) }, true},
		{"version differs", putK, func(b *Batch, v uint64) { b.ExpectVersion([]byte("k"), v+1) }, false},
		{"version 0 on absent", nil, func(b *Batch, _ uint64) { b.ExpectVersion([]byte("k"), 0) }, true},
		{"version 0 on present", putK, func(b *Batch, _ uint64) { b.ExpectVersion([]byte("k"), 0) }, false},
		{"version 0 after delete", func(db *DB) { putK(db); _ = db.Delete([]byte("k")) }, func(b *Batch, _ uint64) { b.ExpectVersion([]byte("k"), 0) }, true},
		{"exists true", putK, func(b *Batch, _ uint64) { b.ExpectExists([]byte("k"), true) }, true},
		{"exists true on absent", nil, func(b *Batch, _ uint64) { b.ExpectExists([]byte("k"), true) }, false},
		{"exists false (NX) on absent", nil, func(b *Batch, _ uint64) { b.ExpectExists([]byte("k"), false) }, true},
		{"exists false (NX) on present", putK, func(b *Batch, _ uint64) { b.ExpectExists([]byte("k"), false) }, false},
		{"exists after flush", func(db *DB) { putK(db); _ = db.Flush() }, func(b *Batch, _ uint64) { b.ExpectExists([]byte("k"), true) }, true},
		{"two conditions, one fails", putK, func(b *Batch, v uint64) {
			b.ExpectVersion([]byte("k"), v)
			b.ExpectExists([]byte("other"), true)
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := openTest(t, t.TempDir(), smallOptions())
			if tc.setup != nil {
				tc.setup(db)
			}
			var version uint64
			if item, err := db.Lookup([]byte("k")); err == nil {
				version = item.Version
			}
			var b Batch
			tc.cond(&b, version)
			b.Put([]byte("k"), []byte("new"))
			b.Put([]byte("side"), []byte("effect"))
			err := db.Write(&b)
			_, sideErr := db.Get([]byte("side"))
			if tc.ok {
				require.NoError(t, err)
				require.NoError(t, sideErr)
				item, err := db.Lookup([]byte("k"))
				require.NoError(t, err)
				require.Equal(t, item.Version, b.Seq(), "Batch.Seq is the version of its first op")
				side, _ := db.Lookup([]byte("side"))
				require.Equal(t, b.Seq()+1, side.Version)
				return
			}
			require.ErrorIs(t, err, ErrConditionFailed)
			require.Zero(t, b.Seq())
			require.ErrorIs(t, sideErr, ErrNotFound, "a failed batch must write nothing")
		})
	}
}

func putK(db *DB) { _ = db.Put([]byte("k"), []byte("old")) }

// TestConditionsUnderContention: many writers race SET NX on the same keys; group commit puts
// several of them in one WAL record, so exactly one per key may win, which requires the leader
// to see the earlier batches of its own group.
func TestConditionsUnderContention(t *testing.T) {
	t.Parallel()
	opts := smallOptions()
	opts.Sync = wal.SyncAlways // slow appends make big groups
	db := openTest(t, t.TempDir(), opts)
	const keys, writers = 200, 16
	var wins [keys]atomic.Int32
	var winSeq [keys]atomic.Uint64
	var wg sync.WaitGroup
	for w := range writers {
		order := rand.New(rand.NewPCG(uint64(w), 1)).Perm(keys) // writers meet on different keys
		wg.Go(func() {
			for _, k := range order {
				var b Batch
				key := []byte(fmt.Sprintf("nx%03d", k))
				b.ExpectExists(key, false)
				b.Put(key, []byte(fmt.Sprint(w)))
				switch err := db.Write(&b); err {
				case nil:
					wins[k].Add(1)
					winSeq[k].Store(b.Seq())
				case ErrConditionFailed:
				default:
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for k := range keys {
		require.Equal(t, int32(1), wins[k].Load(), "key %d", k)
		item, err := db.Lookup([]byte(fmt.Sprintf("nx%03d", k)))
		require.NoError(t, err)
		require.Equal(t, item.Version, winSeq[k].Load(), "Batch.Seq of a grouped batch")
	}
	m := db.Metrics()
	t.Logf("writes=%d commit groups=%d", m.Writes, m.CommitGroups)
}

// TestGroupCommitBatchesFsyncs: concurrent durable writers share WAL records and fsyncs.
func TestGroupCommitBatchesFsyncs(t *testing.T) {
	t.Parallel()
	opts := smallOptions()
	opts.Sync = wal.SyncAlways
	opts.MemtableSize = 4 << 20
	db := openTest(t, t.TempDir(), opts)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 100 {
				assert.NoError(t, db.Put([]byte(fmt.Sprintf("w%02d-%03d", w, i)), []byte("v")))
			}
		})
	}
	wg.Wait()
	m := db.Metrics()
	t.Logf("1600 durable puts from 16 goroutines: %d WAL records, %d fsyncs", m.CommitGroups, m.WALSyncs)
	require.Equal(t, uint64(1600), m.Writes)
	require.Less(t, m.CommitGroups, uint64(1600), "concurrent writers must be grouped")
	require.LessOrEqual(t, m.WALSyncs, m.CommitGroups+1)
}

// TestSnapshotAndIteratorStability: writers rewrite all keys in atomic rounds while flushes and
// compactions run; every iterator and snapshot must see exactly one round for all keys.
func TestSnapshotAndIteratorStability(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir(), smallOptions())
	const keys = 200
	writeRound := func(round int) error {
		var b Batch
		for k := range keys {
			b.Put([]byte(fmt.Sprintf("key%04d", k)), []byte(fmt.Sprintf("round%06d-%s", round, strings.Repeat("x", 40))))
		}
		return db.Write(&b)
	}
	require.NoError(t, writeRound(0))

	stop := make(chan struct{})
	var round atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for r := 1; ; r++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := writeRound(r); err != nil {
				t.Error(err)
				return
			}
			round.Store(int64(r))
		}
	})
	wg.Go(func() { // explicit flushes and compactions on top of the background ones
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			var err error
			if i%3 == 2 {
				err = db.Compact()
			} else {
				err = db.Flush()
			}
			if err != nil {
				t.Error(err)
				return
			}
		}
	})

	// scan returns the single round seen by it, failing on any mix.
	scan := func(it *Iterator) string {
		defer func() { require.NoError(t, it.Close()) }()
		seen, n := "", 0
		for ok := it.First(); ok; ok = it.Next() {
			r := string(it.Value()[:11])
			if seen == "" {
				seen = r
			}
			require.Equal(t, seen, r, "iterator mixes rounds at %s", it.Key())
			n++
			if n%50 == 0 {
				time.Sleep(time.Millisecond) // let writers, flushes and compactions run mid-scan
			}
		}
		require.NoError(t, it.Error())
		require.Equal(t, keys, n)
		return seen
	}
	deadline := time.Now().Add(1500 * time.Millisecond)
	checks := 0
	for time.Now().Before(deadline) {
		snap := db.Snapshot()
		first := scan(snap.NewIterator(IterOptions{}))
		time.Sleep(5 * time.Millisecond)
		require.Equal(t, first, scan(snap.NewIterator(IterOptions{})), "a snapshot's view changed")
		for k := 0; k < keys; k += 17 {
			v, err := snap.Get([]byte(fmt.Sprintf("key%04d", k)))
			require.NoError(t, err)
			require.Equal(t, first, string(v[:11]))
		}
		require.NoError(t, snap.Close())
		scan(db.NewIterator(IterOptions{}))
		checks++
	}
	close(stop)
	wg.Wait()
	m := db.Metrics()
	t.Logf("%d snapshot checks over %d rounds; flushes=%d compactions=%d moves=%d stalls=%d (%.3fs)",
		checks, round.Load(), m.Flushes, m.Compactions, m.TrivialMoves, m.WriteStalls, m.WriteStallSeconds)
	require.Positive(t, m.Flushes)
	require.Positive(t, m.Compactions)
	checkInvariants(t, db)
}

// TestTTL: expired keys disappear from reads at once and from the tables after Compact.
func TestTTL(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	opts := smallOptions()
	opts.Now = clock.Now
	db := openTest(t, t.TempDir(), opts)
	const n = 500
	for i := range n {
		require.NoError(t, db.PutTTL([]byte(fmt.Sprintf("ttl%04d", i)), []byte("soon gone"), 10*time.Second))
		require.NoError(t, db.Put([]byte(fmt.Sprintf("keep%04d", i)), []byte("stays")))
	}
	item, err := db.Lookup([]byte("ttl0000"))
	require.NoError(t, err)
	require.Equal(t, clock.Now().Add(10*time.Second).UnixNano(), item.ExpiresAt.UnixNano())
	require.NoError(t, db.Compact())
	entries, _ := tableEntries(t, db)
	require.Equal(t, uint64(2*n), entries, "nothing expired yet")

	clock.Advance(10*time.Second + time.Nanosecond)
	_, err = db.Get([]byte("ttl0000"))
	require.ErrorIs(t, err, ErrNotFound)
	count := func(prefix string) int {
		it := db.NewIterator(IterOptions{Prefix: []byte(prefix)})
		defer it.Close()
		c := 0
		for ok := it.First(); ok; ok = it.Next() {
			c++
		}
		return c
	}
	require.Equal(t, 0, count("ttl"))
	require.Equal(t, n, count("keep"))

	// A conditional write treats the expired key as absent.
	var b Batch
	b.ExpectExists([]byte("ttl0001"), false)
	b.Put([]byte("ttl0001"), []byte("back"))
	require.NoError(t, db.Write(&b))

	require.NoError(t, db.Compact())
	entries, tombstones := tableEntries(t, db)
	require.Equal(t, uint64(n+1), entries, "expired entries must be physically dropped")
	require.Zero(t, tombstones)
	v, err := db.Get([]byte("ttl0001"))
	require.NoError(t, err)
	require.Equal(t, "back", string(v))
}

// TestTombstonesDroppedOnlyWhenSafe: a snapshot keeps deleted data alive through Compact;
// once it is closed, Compact removes both the data and the tombstones.
func TestTombstonesDroppedOnlyWhenSafe(t *testing.T) {
	t.Parallel()
	db := openTest(t, t.TempDir(), smallOptions())
	for i := range 300 {
		require.NoError(t, db.Put([]byte(fmt.Sprintf("k%04d", i)), bytes.Repeat([]byte("v"), 50)))
	}
	require.NoError(t, db.Compact())
	snap := db.Snapshot()
	for i := range 300 {
		require.NoError(t, db.Delete([]byte(fmt.Sprintf("k%04d", i))))
	}
	require.NoError(t, db.Compact())
	entries, tombstones := tableEntries(t, db)
	require.Equal(t, uint64(600), entries)
	require.Equal(t, uint64(300), tombstones)
	v, err := snap.Get([]byte("k0007"))
	require.NoError(t, err)
	require.Len(t, v, 50)

	require.NoError(t, snap.Close())
	require.NoError(t, db.Compact())
	entries, _ = tableEntries(t, db)
	require.Zero(t, entries)
}

func TestLockPreventsSecondOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := openTest(t, dir, smallOptions())
	_, err := Open(dir, smallOptions())
	require.ErrorIs(t, err, ErrLocked)
	require.NoError(t, db.Close())
	db2, err := Open(dir, smallOptions())
	require.NoError(t, err)
	require.NoError(t, db2.Close())
}

func TestClosed(t *testing.T) {
	t.Parallel()
	db, err := Open(t.TempDir(), smallOptions())
	require.NoError(t, err)
	snap := db.Snapshot()
	require.NoError(t, db.Close())
	require.ErrorIs(t, db.Close(), ErrClosed)
	require.ErrorIs(t, db.Put([]byte("k"), nil), ErrClosed)
	_, err = db.Get([]byte("k"))
	require.ErrorIs(t, err, ErrClosed)
	_, err = snap.Get([]byte("k"))
	require.ErrorIs(t, err, ErrClosed)
	it := db.NewIterator(IterOptions{})
	require.False(t, it.First())
	require.ErrorIs(t, it.Error(), ErrClosed)
	require.ErrorIs(t, db.Flush(), ErrClosed)
}

func TestPrometheusCollector(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	opts := smallOptions()
	opts.Registerer = reg
	dir := t.TempDir()
	db, err := Open(dir, opts)
	require.NoError(t, err)
	for i := range 2000 {
		require.NoError(t, db.Put([]byte(fmt.Sprintf("k%05d", i)), bytes.Repeat([]byte("v"), 40)))
	}
	require.NoError(t, db.Flush())
	_, _ = db.Get([]byte("k00001"))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	got := map[string]int{}
	for _, mf := range mfs {
		got[mf.GetName()] = len(mf.GetMetric())
		switch mf.GetName() {
		case "kvdb_flushes_total":
			require.Positive(t, mf.GetMetric()[0].GetCounter().GetValue())
		case "kvdb_wal_sync_duration_seconds":
			require.Positive(t, mf.GetMetric()[0].GetHistogram().GetSampleCount(), "fsyncs observed")
		}
	}
	require.Equal(t, numLevels, got["kvdb_level_tables"])
	for _, name := range []string{"kvdb_wal_sync_duration_seconds", "kvdb_bloom_checks_total", "kvdb_write_stall_seconds_total", "kvdb_compaction_written_bytes_total"} {
		require.Equal(t, 1, got[name], name)
	}
	require.NoError(t, db.Close())
	// Close unregisters, so the DB can be reopened with the same registry.
	db, err = Open(dir, opts)
	require.NoError(t, err)
	require.NoError(t, db.Close())
}

func TestWriteStallIsMeasured(t *testing.T) {
	t.Parallel()
	opts := smallOptions()
	opts.L0CompactionTrigger = 1
	opts.L0StopWritesTrigger = 1
	opts.CompactionRate = 4 << 20 // slow compactions so writers catch up with them
	db := openTest(t, t.TempDir(), opts)
	val := bytes.Repeat([]byte("v"), 200)
	for i := range 3000 {
		require.NoError(t, db.Put([]byte(fmt.Sprintf("k%06d", i*7919%3000)), val))
	}
	m := db.Metrics()
	t.Logf("stalls=%d stall seconds=%.3f compactions=%d", m.WriteStalls, m.WriteStallSeconds, m.Compactions)
	require.Positive(t, m.WriteStalls)
	require.Positive(t, m.WriteStallSeconds)
}

func TestRateLimiter(t *testing.T) {
	t.Parallel()
	var now time.Time = time.Unix(0, 0)
	var slept time.Duration
	l := newRateLimiter(1 << 20) // 1 MiB/s, burst 100 KiB
	l.now = func() time.Time { return now }
	l.sleep = func(d time.Duration) { slept += d; now = now.Add(d) }
	for range 100 {
		l.wait(64 << 10)
	}
	// 6.25 MiB at 1 MiB/s minus the initial burst.
	want := float64(100*(64<<10)-(1<<20)/10) / float64(1<<20)
	require.InDelta(t, want, slept.Seconds(), 0.01)
}

func TestVersionEditRoundTrip(t *testing.T) {
	t.Parallel()
	e := &versionEdit{}
	e.setLogNum(7)
	e.setNextFileNum(42)
	e.setLastSeq(1 << 40)
	e.deleted = []deletedTable{{level: 1, fileNum: 3}, {level: 6, fileNum: 1 << 33}}
	e.added = []newTable{{level: 2, meta: &tableMeta{fileNum: 9, size: 12345, smallestSeq: 5, largestSeq: 900,
		smallest: []byte("a\x01\x05\x00\x00\x00\x00\x00\x00"), largest: []byte("zz\x01\x84\x03\x00\x00\x00\x00\x00")}}}
	enc := e.encode(nil)
	d, err := decodeVersionEdit(enc)
	require.NoError(t, err)
	require.Equal(t, enc, d.encode(nil))
	require.Equal(t, e.added[0].meta.largest, d.added[0].meta.largest)
	// Every truncation is an error, never a panic.
	for i := 1; i < len(enc); i++ {
		if _, err := decodeVersionEdit(enc[:i]); err == nil {
			// A prefix that ends exactly at a field boundary is a valid shorter edit.
			continue
		}
	}
	_, err = decodeVersionEdit([]byte{99, 1})
	require.ErrorIs(t, err, ErrCorrupt)
}

func FuzzDecodeVersionEdit(f *testing.F) {
	e := &versionEdit{}
	e.setLogNum(3)
	e.added = []newTable{{level: 0, meta: &tableMeta{fileNum: 4, size: 10, smallest: []byte("a\x01\x01\x00\x00\x00\x00\x00\x00"), largest: []byte("b\x01\x02\x00\x00\x00\x00\x00\x00")}}}
	f.Add(e.encode(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeVersionEdit(b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to something that decodes the same.
		again, err := decodeVersionEdit(e.encode(nil))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !bytes.Equal(again.encode(nil), e.encode(nil)) {
			t.Fatal("round trip changed the edit")
		}
	})
}

func FuzzBatchDecode(f *testing.F) {
	var b Batch
	b.Put([]byte("k"), []byte("v"))
	b.Delete([]byte("d"))
	b.PutExpiring([]byte("t"), []byte("x"), time.Unix(100, 0))
	f.Add(b.encode(5))
	f.Fuzz(func(t *testing.T, p []byte) {
		br, err := newBatchReader(p)
		if err != nil {
			return
		}
		for {
			_, ok, err := br.next()
			if err != nil || !ok {
				return
			}
		}
	})
}

func TestRecoveryKeepsUnflushedWrites(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	opts := smallOptions()
	opts.MemtableSize = 1 << 20
	db, err := Open(dir, opts)
	require.NoError(t, err)
	for i := range 100 {
		require.NoError(t, db.Put([]byte(fmt.Sprintf("k%03d", i)), []byte(fmt.Sprint(i))))
	}
	require.NoError(t, db.Delete([]byte("k050")))
	require.NoError(t, db.Close())
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	require.Len(t, logs, 1)

	db, err = Open(dir, opts)
	require.NoError(t, err)
	defer db.Close()
	v, err := db.Get([]byte("k099"))
	require.NoError(t, err)
	require.Equal(t, "99", string(v))
	_, err = db.Get([]byte("k050"))
	require.ErrorIs(t, err, ErrNotFound)
	item, err := db.Lookup([]byte("k099"))
	require.NoError(t, err)
	require.Equal(t, uint64(100), item.Version, "sequence numbers survive recovery")
	require.NoError(t, db.Put([]byte("new"), nil))
	item, _ = db.Lookup([]byte("new"))
	require.Equal(t, uint64(102), item.Version)
	_, err = os.Stat(logs[0])
	require.True(t, os.IsNotExist(err), "the replayed WAL is flushed and deleted")
}

func TestDumps(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	opts := smallOptions()
	opts.Now = clock.Now
	dir := t.TempDir()
	db, err := Open(dir, opts)
	require.NoError(t, err)
	require.NoError(t, db.Put([]byte("a"), []byte("1")))
	require.NoError(t, db.Flush())
	require.NoError(t, db.PutTTL([]byte("b"), []byte("2"), time.Hour))
	require.NoError(t, db.Delete([]byte("a")))
	require.NoError(t, db.Close())

	var out strings.Builder
	require.NoError(t, DumpWAL(&out, newestFile(t, dir, "*.log")))
	require.Contains(t, out.String(), `#2 SETTTL "b" expires 2030-01-01T01:00:00Z = "2"`)
	require.Contains(t, out.String(), `#3 DEL "a"`)

	out.Reset()
	require.NoError(t, DumpManifest(&out, newestFile(t, dir, "MANIFEST-*")))
	require.Contains(t, out.String(), "last-seq=")
	require.Contains(t, out.String(), "add    L0 ")
	require.Contains(t, out.String(), `["a" #1 SET .. "a" #1 SET]`)
}
