package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/format"
)

// payloads returns n distinct payloads of varied sizes, including an empty one.
func payloads(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		size := (i * 37) % 300
		if i%50 == 7 {
			size = 70_000 // larger than the reader's buffer and the writer's initial buffer
		}
		p := make([]byte, size)
		for j := range p {
			p[j] = byte(i*31 + j)
		}
		out[i] = p
	}
	return out
}

func readAll(t *testing.T, r io.Reader) ([][]byte, *Reader, error) {
	t.Helper()
	rd := NewReader(r)
	var got [][]byte
	for {
		p, err := rd.Next()
		if err != nil {
			return got, rd, err
		}
		got = append(got, append([]byte{}, p...))
	}
}

func encodeLog(ps [][]byte) (log []byte, starts []int) {
	for _, p := range ps {
		starts = append(starts, len(log))
		log = AppendRecord(log, p)
	}
	return log, starts
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, policy := range []SyncPolicy{SyncAlways, SyncGroup, SyncNone} {
		t.Run(policy.String(), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "000001.log")
			var syncs atomic.Int64
			w, err := Create(path, Options{Policy: policy, OnSync: func(time.Duration) { syncs.Add(1) }})
			require.NoError(t, err)
			ps := payloads(120)
			ps = append(ps, bytes.Repeat([]byte{7}, 3<<20))
			var want int64
			for _, p := range ps {
				require.NoError(t, w.Append(p))
				want += int64(HeaderLen + len(p))
			}
			assert.Equal(t, want, w.Size())
			require.NoError(t, w.Close())
			assert.ErrorIs(t, w.Append([]byte("x")), ErrClosed)
			assert.ErrorIs(t, w.Close(), ErrClosed)
			if policy == SyncNone {
				assert.Equal(t, int64(1), syncs.Load(), "SyncNone syncs only at Close")
			}
			if policy == SyncAlways {
				assert.GreaterOrEqual(t, syncs.Load(), int64(len(ps)), "sequential appends each need an fsync")
			}

			f, err := os.Open(path)
			require.NoError(t, err)
			defer f.Close()
			got, rd, err := readAll(t, f)
			require.ErrorIs(t, err, io.EOF)
			require.Len(t, got, len(ps))
			for i := range ps {
				assert.Equal(t, ps[i], got[i], "record %d", i)
			}
			assert.Equal(t, want, rd.Offset())
		})
	}
}

func TestAppendTooLarge(t *testing.T) {
	t.Parallel()
	w := newWriter(&memFile{}, Options{Policy: SyncNone})
	err := w.Append(make([]byte, MaxRecordSize+1))
	require.ErrorIs(t, err, ErrRecordTooLarge)
	require.NoError(t, w.Append(nil), "writer still usable")
	require.NoError(t, w.Close())
}

// memFile is an in-memory syncFile. It records which payload ids (first 8 bytes of a payload)
// have been covered by an fsync, and can make Sync slow or Write fail.
type memFile struct {
	mu         sync.Mutex
	data       []byte
	syncedLen  int
	syncedIDs  map[uint64]bool
	syncDelay  time.Duration
	writeErr   error
	syncs      int
	closeCalls int
}

func (m *memFile) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.writeErr != nil {
		return 0, m.writeErr
	}
	m.data = append(m.data, p...)
	return len(p), nil
}

func (m *memFile) Sync() error {
	time.Sleep(m.syncDelay)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.syncs++
	if m.syncedIDs == nil {
		m.syncedIDs = map[uint64]bool{}
	}
	rd := NewReader(bytes.NewReader(m.data[m.syncedLen:]))
	for {
		p, err := rd.Next()
		if err != nil {
			break
		}
		if len(p) >= 8 {
			m.syncedIDs[binary.LittleEndian.Uint64(p)] = true
		}
	}
	m.syncedLen = len(m.data)
	return nil
}

func (m *memFile) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closeCalls++
	return nil
}

func (m *memFile) isSynced(id uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.syncedIDs[id]
}

// TestGroupCommit runs many concurrent appenders against a file whose fsync takes 1ms and checks
// that (a) every Append returns only after its own record was fsynced and (b) the appenders share
// fsyncs: far fewer fsyncs than records.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	const writers, perWriter = 32, 50
	mf := &memFile{syncDelay: time.Millisecond}
	var syncs atomic.Int64
	w := newWriter(mf, Options{Policy: SyncAlways, OnSync: func(time.Duration) { syncs.Add(1) }})

	var wg sync.WaitGroup
	var notDurable atomic.Int64
	for g := range writers {
		wg.Go(func() {
			p := make([]byte, 40)
			for i := range perWriter {
				id := uint64(g*perWriter + i)
				binary.LittleEndian.PutUint64(p, id)
				if err := w.Append(p); err != nil {
					t.Error(err)
					return
				}
				if !mf.isSynced(id) {
					notDurable.Add(1)
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, w.Close())
	records := int64(writers * perWriter)
	assert.Zero(t, notDurable.Load(), "Append returned before its record was fsynced")
	assert.Less(t, syncs.Load(), records/4, "group commit should share fsyncs between appenders")
	t.Logf("%d records, %d fsyncs", records, syncs.Load())

	got, _, err := readAll(t, bytes.NewReader(mf.data))
	require.ErrorIs(t, err, io.EOF)
	require.Len(t, got, int(records))
	seen := map[uint64]bool{}
	for _, p := range got {
		seen[binary.LittleEndian.Uint64(p)] = true
	}
	assert.Len(t, seen, int(records))
}

// TestGroupCommitRealFile runs concurrent appenders on the real file system: every record is
// durable and readable, and there is never more than one fsync per record. (Whether fsyncs are
// shared depends on how long one takes: on tmpfs or a fast disk with one CPU a leader can finish
// before anyone queues behind it. TestGroupCommit proves the sharing with a slow fsync.)
func TestGroupCommitRealFile(t *testing.T) {
	t.Parallel()
	var syncs atomic.Int64
	path := filepath.Join(t.TempDir(), "a.log")
	w, err := Create(path, Options{Policy: SyncAlways, OnSync: func(time.Duration) { syncs.Add(1) }})
	require.NoError(t, err)
	const writers, perWriter = 16, 20
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range perWriter {
				assert.NoError(t, w.Append(make([]byte, 100)))
			}
		})
	}
	wg.Wait()
	n := syncs.Load()
	require.NoError(t, w.Close())
	assert.LessOrEqual(t, n, int64(writers*perWriter))
	assert.Positive(t, n)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	got, _, err := readAll(t, bytes.NewReader(b))
	require.ErrorIs(t, err, io.EOF)
	assert.Len(t, got, writers*perWriter)
	t.Logf("%d records, %d fsyncs", writers*perWriter, n)
}

func TestSyncGroupWindow(t *testing.T) {
	t.Parallel()
	const window = 10 * time.Millisecond
	mf := &memFile{}
	var syncs atomic.Int64
	w := newWriter(mf, Options{Policy: SyncGroup, GroupWindow: window,
		OnSync: func(time.Duration) { syncs.Add(1) }})

	start := time.Now()
	p := make([]byte, 16)
	var id uint64
	for time.Since(start) < 100*time.Millisecond {
		id++
		binary.LittleEndian.PutUint64(p, id)
		require.NoError(t, w.Append(p))
		time.Sleep(50 * time.Microsecond)
	}
	elapsed := time.Since(start)
	n := syncs.Load()
	assert.LessOrEqual(t, n, int64(elapsed/window)+2, "at most one fsync per window")
	assert.Positive(t, n, "SyncGroup must sync while writes flow")

	// The last record becomes durable within about one window without further writes.
	require.Eventually(t, func() bool { return mf.isSynced(id) }, 200*window, window/2) // generous: a loaded CI machine
	require.NoError(t, w.Close())
}

func TestSyncNoneAndExplicitSync(t *testing.T) {
	t.Parallel()
	mf := &memFile{}
	w := newWriter(mf, Options{Policy: SyncNone})
	p := make([]byte, 8)
	for i := range 100 {
		binary.LittleEndian.PutUint64(p, uint64(i))
		require.NoError(t, w.Append(p))
	}
	mf.mu.Lock()
	assert.Zero(t, mf.syncs)
	assert.Len(t, mf.data, 100*(HeaderLen+8), "SyncNone still hands every record to write(2)")
	mf.mu.Unlock()
	require.NoError(t, w.Sync())
	assert.True(t, mf.isSynced(99))
	require.NoError(t, w.Close())
	assert.Equal(t, 1, mf.closeCalls)
}

func TestWriteErrorIsSticky(t *testing.T) {
	t.Parallel()
	boom := errors.New("disk on fire")
	mf := &memFile{writeErr: boom}
	w := newWriter(mf, Options{Policy: SyncNone})
	require.ErrorIs(t, w.Append([]byte("a")), boom)
	mf.mu.Lock()
	mf.writeErr = nil
	mf.mu.Unlock()
	assert.ErrorIs(t, w.Append([]byte("b")), boom, "a log with a failed write must not accept more")
	assert.ErrorIs(t, w.Close(), boom)
}

// TestTornTailEveryOffset truncates the log at every byte inside the last record: the reader must
// return every earlier record, then io.EOF, and Offset must point at the torn record.
func TestTornTailEveryOffset(t *testing.T) {
	t.Parallel()
	ps := payloads(6)
	ps[5] = bytes.Repeat([]byte("last"), 20)
	log, starts := encodeLog(ps)
	last := starts[len(starts)-1]
	for cut := last; cut < len(log); cut++ {
		got, rd, err := readAll(t, bytes.NewReader(log[:cut]))
		require.ErrorIs(t, err, io.EOF, "cut at %d", cut)
		require.NotErrorIs(t, err, format.ErrCorrupt)
		require.Len(t, got, len(ps)-1, "cut at %d", cut)
		for i := range got {
			require.Equal(t, ps[i], got[i])
		}
		require.Equal(t, int64(last), rd.Offset())
	}
}

func TestZeroedTail(t *testing.T) {
	t.Parallel()
	ps := payloads(5)
	log, starts := encodeLog(ps)
	tests := []struct {
		name    string
		log     []byte
		records int
		offset  int
	}{
		{"preallocated zeros", append(bytes.Clone(log), make([]byte, 4096)...), 5, len(log)},
		{"torn record then zeros", append(bytes.Clone(log[:len(log)-3]), make([]byte, 100)...), 4, starts[4]},
		{"zeroed header only", append(bytes.Clone(log), make([]byte, HeaderLen)...), 5, len(log)},
		{"empty log", nil, 0, 0},
		{"torn large record", append(bytes.Clone(log), AppendRecord(nil, make([]byte, 3<<20))[:2<<20]...), 5, len(log)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, rd, err := readAll(t, bytes.NewReader(tc.log))
			require.ErrorIs(t, err, io.EOF)
			assert.Len(t, got, tc.records)
			assert.Equal(t, int64(tc.offset), rd.Offset())
		})
	}
}

// TestBitFlips flips every bit of a small log. A flip in any record but the last must produce an
// error wrapping format.ErrCorrupt; a flip in the last record looks like a torn write and gives
// io.EOF. In no case may a wrong payload come out.
func TestBitFlips(t *testing.T) {
	t.Parallel()
	ps := [][]byte{[]byte("alpha"), {}, []byte("gamma-gamma"), bytes.Repeat([]byte{0}, 12), []byte("omega")}
	log, starts := encodeLog(ps)
	last := starts[len(starts)-1]
	for bit := 0; bit < len(log)*8; bit++ {
		bad := bytes.Clone(log)
		bad[bit/8] ^= 1 << (bit % 8)
		got, _, err := readAll(t, bytes.NewReader(bad))
		for i := range got {
			require.Equal(t, ps[i], got[i], "bit %d: wrong payload for record %d", bit, i)
		}
		require.Less(t, len(got), len(ps), "bit %d: the damaged record was returned", bit)
		if bit/8 < last {
			require.ErrorIs(t, err, format.ErrCorrupt, "bit %d", bit)
		} else {
			require.ErrorIs(t, err, io.EOF, "bit %d", bit)
			require.Len(t, got, len(ps)-1)
		}
	}
}

func TestCorruptionInMiddle(t *testing.T) {
	t.Parallel()
	ps := payloads(4)
	log, starts := encodeLog(ps)
	tests := []struct {
		name string
		log  []byte
		good int
	}{
		{"garbage between records", append(append(bytes.Clone(log[:starts[2]]), "garbage!garbage!"...), log[starts[2]:]...), 2},
		{"zeroed record in the middle", func() []byte {
			b := bytes.Clone(log)
			clear(b[starts[1]:starts[2]])
			return b
		}(), 1},
		{"huge length in the middle", func() []byte {
			b := bytes.Clone(log)
			binary.LittleEndian.PutUint32(b[starts[1]+4:], MaxRecordSize+1)
			return b
		}(), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, rd, err := readAll(t, bytes.NewReader(tc.log))
			require.ErrorIs(t, err, format.ErrCorrupt)
			assert.Len(t, got, tc.good)
			assert.Equal(t, int64(starts[tc.good]), rd.Offset())
			_, err2 := rd.Next()
			assert.Equal(t, err, err2, "errors are sticky")
		})
	}
}

// TestTruncateTornTail shows the recovery procedure: read to the end, truncate at Offset, and
// append again.
func TestTruncateTornTail(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "x.log")
	log, _ := encodeLog(payloads(3))
	require.NoError(t, os.WriteFile(path, append(bytes.Clone(log), AppendRecord(nil, []byte("torn-record"))[:12]...), 0o644))

	f, err := os.Open(path)
	require.NoError(t, err)
	got, rd, err := readAll(t, f)
	require.NoError(t, f.Close())
	require.ErrorIs(t, err, io.EOF)
	require.Len(t, got, 3)
	require.NoError(t, os.Truncate(path, rd.Offset()))

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, log, data)
}

func TestParseSyncPolicy(t *testing.T) {
	t.Parallel()
	for _, p := range []SyncPolicy{SyncAlways, SyncGroup, SyncNone} {
		got, err := ParseSyncPolicy(p.String())
		require.NoError(t, err)
		assert.Equal(t, p, got)
	}
	_, err := ParseSyncPolicy("sometimes")
	assert.Error(t, err)
}

// FuzzReader feeds arbitrary bytes to the reader: it must never panic, every payload it returns
// must sit in the input at Offset behind a header with a matching CRC, and it must stop.
func FuzzReader(f *testing.F) {
	log, _ := encodeLog([][]byte{[]byte("hello"), {}, []byte("world")})
	f.Add(log)
	f.Add(log[:len(log)-2])
	f.Add(append(bytes.Clone(log), make([]byte, 16)...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		rd := NewReader(bytes.NewReader(data))
		for i := 0; ; i++ {
			if i > len(data)/HeaderLen+1 {
				t.Fatalf("reader returned %d records from %d bytes", i, len(data))
			}
			off := rd.Offset()
			p, err := rd.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, format.ErrCorrupt) {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			rec := data[off:]
			if len(rec) < HeaderLen+len(p) {
				t.Fatalf("payload of %d bytes at %d overruns input of %d", len(p), off, len(data))
			}
			if int(binary.LittleEndian.Uint32(rec[4:])) != len(p) || !bytes.Equal(rec[HeaderLen:HeaderLen+len(p)], p) {
				t.Fatalf("payload does not match input at %d", off)
			}
			if crc32.Checksum(rec[4:HeaderLen+len(p)], crcTable) != binary.LittleEndian.Uint32(rec) {
				t.Fatalf("payload at %d returned with bad crc", off)
			}
			if rd.Offset() != off+int64(HeaderLen+len(p)) {
				t.Fatalf("offset %d after record at %d of %d bytes", rd.Offset(), off, len(p))
			}
		}
	})
}

// BenchmarkAppend measures Append of 128-byte records under each policy with one writer and
// with 16 concurrent writers; fsyncs/op shows how group commit shares fsyncs.
func BenchmarkAppend(b *testing.B) {
	for _, policy := range []SyncPolicy{SyncNone, SyncGroup, SyncAlways} {
		for _, writers := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/writers=%d", policy, writers), func(b *testing.B) {
				var syncs atomic.Int64
				w, err := Create(filepath.Join(b.TempDir(), "bench.log"), Options{Policy: policy,
					OnSync: func(time.Duration) { syncs.Add(1) }})
				require.NoError(b, err)
				payload := make([]byte, 128)
				b.SetBytes(int64(len(payload)))
				b.ResetTimer()
				if writers == 1 {
					for b.Loop() {
						if err := w.Append(payload); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					// RunParallel starts parallelism*GOMAXPROCS goroutines.
					b.SetParallelism(max(1, writers/runtime.GOMAXPROCS(0)))
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := w.Append(payload); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				b.StopTimer()
				b.ReportMetric(float64(syncs.Load())/float64(b.N), "fsyncs/op")
				require.NoError(b, w.Close())
			})
		}
	}
}
