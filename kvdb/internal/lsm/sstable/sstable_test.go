package sstable

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/cache"
	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/format"
)

type kv struct{ key, value []byte }

// memFile is an in-memory ReadableFile.
type memFile struct{ *bytes.Reader }

func (memFile) Close() error { return nil }

func fileOf(b []byte) memFile { return memFile{bytes.NewReader(b)} }

func ik(user string, seq uint64, kind format.Kind) []byte {
	return format.MakeInternalKey(nil, []byte(user), seq, kind)
}

// genEntries returns n entries with varied key and value sizes, in internal key order. Some
// user keys have several versions; a few values are large and some compress well.
func genEntries(n int, seed uint64) []kv {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	out := make([]kv, 0, n)
	for i := 0; len(out) < n; i++ {
		user := fmt.Sprintf("user%08d%s", i, strings.Repeat("x", rng.IntN(24)))
		versions := 1
		if rng.IntN(10) == 0 {
			versions = 1 + rng.IntN(4)
		}
		seq := uint64(1000 + rng.IntN(1000))
		for v := 0; v < versions && len(out) < n; v++ {
			kind := format.Kind(rng.IntN(3))
			var val []byte
			switch r := rng.IntN(100); {
			case kind == format.KindDelete:
			case r < 2:
				val = make([]byte, 5000+rng.IntN(10000)) // larger than a block
				for j := range val {
					val[j] = byte(rng.IntN(256))
				}
			case r < 50:
				val = bytes.Repeat([]byte{byte('a' + i%26)}, rng.IntN(200)) // compressible
			default:
				val = make([]byte, rng.IntN(100))
				for j := range val {
					val[j] = byte(rng.IntN(256))
				}
			}
			out = append(out, kv{format.MakeInternalKey(nil, []byte(user), seq, kind), val})
			seq -= uint64(1 + rng.IntN(100))
		}
	}
	return out
}

func build(t testing.TB, entries []kv, opts WriterOptions) ([]byte, Properties) {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf, opts)
	for _, e := range entries {
		require.NoError(t, w.Add(e.key, e.value))
	}
	props, err := w.Finish()
	require.NoError(t, err)
	require.Equal(t, uint64(buf.Len()), props.FileSize)
	return buf.Bytes(), props
}

func openTable(t testing.TB, data []byte, opts ReaderOptions) *Reader {
	t.Helper()
	r, err := Open(fileOf(data), int64(len(data)), opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// mapCache is a trivial BlockCache for tests.
type mapCache struct {
	mu sync.Mutex
	m  map[[2]uint64][]byte
}

func (c *mapCache) Get(f, off uint64) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.m[[2]uint64{f, off}]
	return b, ok
}

func (c *mapCache) Set(f, off uint64, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[[2]uint64][]byte{}
	}
	c.m[[2]uint64{f, off}] = b
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	entries := genEntries(100_000, 1)
	tests := []struct {
		name  string
		wopts WriterOptions
		cache bool
	}{
		{"snappy", WriterOptions{BloomBitsPerKey: 10}, false},
		{"none with cache", WriterOptions{Compression: None, BlockSize: 16 << 10, RestartInterval: 4}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data, props := build(t, entries, tc.wopts)
			ropts := ReaderOptions{FileNum: 7}
			if tc.cache {
				ropts.Cache = &mapCache{}
			}
			r := openTable(t, data, ropts)

			got := r.Properties()
			assert.Equal(t, props, got)
			assert.Equal(t, uint64(len(entries)), got.NumEntries)
			assert.Equal(t, entries[0].key, got.Smallest)
			assert.Equal(t, entries[len(entries)-1].key, got.Largest)
			var dels, minSeq, maxSeq, raw uint64 = 0, math.MaxUint64, 0, 0
			for _, e := range entries {
				_, seq, kind, _ := format.ParseInternalKey(e.key)
				if kind == format.KindDelete {
					dels++
				}
				minSeq, maxSeq = min(minSeq, seq), max(maxSeq, seq)
				raw += uint64(len(e.key) + len(e.value))
			}
			assert.Equal(t, dels, got.NumDeletions)
			assert.Equal(t, minSeq, got.SmallestSeq)
			assert.Equal(t, maxSeq, got.LargestSeq)
			assert.Equal(t, raw, got.RawKeySize+got.RawValueSize)
			assert.Equal(t, got.FileSize, got.DataSize+got.FilterSize+got.IndexSize+
				uint64(len(got.encode(nil)))+TrailerLen+FooterLen)
			if tc.wopts.Compression != None {
				assert.Less(t, got.DataSize, raw, "snappy should shrink the compressible values")
			}

			it := r.NewIterator()
			i := 0
			for ok := it.First(); ok; ok = it.Next() {
				require.Less(t, i, len(entries))
				require.Equal(t, entries[i].key, it.Key(), "entry %d", i)
				require.True(t, bytes.Equal(entries[i].value, it.Value()), "entry %d", i)
				i++
			}
			require.NoError(t, it.Close())
			require.Equal(t, len(entries), i)

			// Point lookups of every 97th key, at its own sequence number.
			for j := 0; j < len(entries); j += 97 {
				k, v, found, err := r.Get(entries[j].key, true)
				require.NoError(t, err)
				require.True(t, found)
				require.Equal(t, entries[j].key, k)
				require.True(t, bytes.Equal(entries[j].value, v))
			}
			if tc.cache {
				hits, misses := r.CacheStats()
				assert.Positive(t, hits)
				assert.Equal(t, got.NumDataBlocks, misses, "each block read from disk exactly once")
			}
		})
	}
}

// TestSeekGE checks SeekGE against a model (binary search over the sorted entries) at every
// kind of position: before the first key, on every key, between keys, on every version of a
// user key, past the end, with several restart intervals and tiny blocks so that block and
// restart boundaries are everywhere.
func TestSeekGE(t *testing.T) {
	t.Parallel()
	var entries []kv
	for i := 0; i < 600; i++ {
		user := fmt.Sprintf("k%05d", 2*i) // odd numbers fall between keys
		for v := uint64(3); v >= 1; v-- {
			if i%3 != 0 && v != 3 {
				break
			}
			entries = append(entries, kv{ik(user, 10*v, format.KindSet), []byte(user)})
		}
	}
	var targets [][]byte
	targets = append(targets, ik("", format.MaxSeq, format.KindMax), ik("a", 1, format.KindSet), ik("z", 1, format.KindSet))
	for i := 0; i <= 1200; i++ {
		user := fmt.Sprintf("k%05d", i)
		for _, seq := range []uint64{format.MaxSeq, 31, 30, 25, 20, 15, 10, 5, 0} {
			targets = append(targets, ik(user, seq, format.KindMax), ik(user, seq, format.KindDelete))
		}
		targets = append(targets, []byte(user)[:len(user)-1]) // shorter than a trailer: treated as a user key
	}
	model := func(target []byte) int {
		i, _ := slices.BinarySearchFunc(entries, target, func(e kv, t []byte) int { return format.CompareInternal(e.key, t) })
		return i
	}
	for _, ri := range []int{1, 2, 16} {
		t.Run(fmt.Sprintf("restart=%d", ri), func(t *testing.T) {
			t.Parallel()
			data, props := build(t, entries, WriterOptions{BlockSize: 256, RestartInterval: ri, Compression: None})
			require.Greater(t, props.NumDataBlocks, uint64(20))
			r := openTable(t, data, ReaderOptions{})
			it := r.NewIterator()
			for _, target := range targets {
				want := model(target)
				ok := it.SeekGE(target)
				if want == len(entries) {
					require.False(t, ok, "seek %q", target)
					require.False(t, it.Valid())
					continue
				}
				require.True(t, ok, "seek %q", target)
				require.Equal(t, entries[want].key, it.Key(), "seek %q", target)
				// Next after a seek continues in order, across block boundaries.
				for j := want + 1; j < min(want+3, len(entries)); j++ {
					require.True(t, it.Next())
					require.Equal(t, entries[j].key, it.Key())
				}
			}
			require.NoError(t, it.Error())
		})
	}
}

// TestGetVersions checks that Get returns the newest version at or below the snapshot.
func TestGetVersions(t *testing.T) {
	t.Parallel()
	var entries []kv
	for i := range 300 {
		user := fmt.Sprintf("key-%04d", i)
		entries = append(entries,
			kv{ik(user, 30, format.KindDelete), nil},
			kv{ik(user, 20, format.KindSetTTL), format.EncodeTTLValue(nil, 99, []byte("v20-"+user))},
			kv{ik(user, 10, format.KindSet), []byte("v10-" + user)},
		)
	}
	data, _ := build(t, entries, WriterOptions{BlockSize: 512, BloomBitsPerKey: 10})
	r := openTable(t, data, ReaderOptions{})
	tests := []struct {
		snap     uint64
		found    bool
		wantSeq  uint64
		wantKind format.Kind
	}{
		{format.MaxSeq, true, 30, format.KindDelete},
		{31, true, 30, format.KindDelete},
		{30, true, 30, format.KindDelete},
		{29, true, 20, format.KindSetTTL},
		{20, true, 20, format.KindSetTTL},
		{15, true, 10, format.KindSet},
		{10, true, 10, format.KindSet},
		{9, false, 0, 0},
		{0, false, 0, 0},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("snap=%d", tc.snap), func(t *testing.T) {
			t.Parallel()
			for i := 0; i < 300; i += 7 {
				user := fmt.Sprintf("key-%04d", i)
				k, v, found, err := r.Get(ik(user, tc.snap, format.KindMax), true)
				require.NoError(t, err)
				require.Equal(t, tc.found, found, user)
				if !found {
					continue
				}
				u, seq, kind, ok := format.ParseInternalKey(k)
				require.True(t, ok)
				assert.Equal(t, user, string(u))
				assert.Equal(t, tc.wantSeq, seq)
				assert.Equal(t, tc.wantKind, kind)
				switch kind {
				case format.KindSet:
					assert.Equal(t, "v10-"+user, string(v))
				case format.KindSetTTL:
					exp, val, err := format.DecodeTTLValue(v)
					require.NoError(t, err)
					assert.Equal(t, int64(99), exp)
					assert.Equal(t, "v20-"+user, string(val))
				}
			}
			// Absent user keys, sorting between, before and after present ones.
			for _, user := range []string{"key-0001a", "a", "zzz", "key-", "key-0299\x00"} {
				_, _, found, err := r.Get(ik(user, tc.snap, format.KindMax), true)
				require.NoError(t, err)
				assert.False(t, found, user)
				_, _, found, err = r.Get(ik(user, tc.snap, format.KindMax), false)
				require.NoError(t, err)
				assert.False(t, found, user)
			}
		})
	}
}

func TestBloomFalsePositiveRate(t *testing.T) {
	t.Parallel()
	const n = 100_000
	tests := []struct {
		bitsPerKey int
	}{{5}, {10}, {16}}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("bits=%d", tc.bitsPerKey), func(t *testing.T) {
			t.Parallel()
			b := bloomBuilder{bitsPerKey: tc.bitsPerKey}
			for i := range n {
				b.add(fmt.Appendf(nil, "present-%d", i))
			}
			f, err := parseBloom(b.finish(nil))
			require.NoError(t, err)
			for i := range n {
				require.True(t, f.mayContain(fmt.Appendf(nil, "present-%d", i)), "false negative %d", i)
			}
			fp := 0
			for i := range n {
				if f.mayContain(fmt.Appendf(nil, "absent-%d", i)) {
					fp++
				}
			}
			k := float64(bloomProbes(tc.bitsPerKey))
			theory := math.Pow(1-math.Exp(-k/float64(tc.bitsPerKey)), k)
			rate := float64(fp) / n
			t.Logf("bits/key=%d k=%v measured=%.4f%% theory=%.4f%%", tc.bitsPerKey, k, 100*rate, 100*theory)
			assert.InDelta(t, theory, rate, theory*0.3+0.0003, "false-positive rate far from theory")
		})
	}
	assert.Equal(t, 7, bloomProbes(10))
	assert.Equal(t, 1, bloomProbes(1))
	assert.Equal(t, 30, bloomProbes(100))
}

func TestFilterStats(t *testing.T) {
	t.Parallel()
	var entries []kv
	for i := range 2000 {
		entries = append(entries, kv{ik(fmt.Sprintf("k%06d", 2*i), 5, format.KindSet), []byte("v")})
	}
	data, props := build(t, entries, WriterOptions{BloomBitsPerKey: 10})
	assert.Positive(t, props.FilterSize)
	r := openTable(t, data, ReaderOptions{})
	for i := range 2000 {
		_, _, found, err := r.Get(ik(fmt.Sprintf("k%06d", 2*i), 9, format.KindMax), true)
		require.NoError(t, err)
		require.True(t, found)
		_, _, found, err = r.Get(ik(fmt.Sprintf("k%06d", 2*i+1), 9, format.KindMax), true)
		require.NoError(t, err)
		require.False(t, found)
	}
	checks, negatives, fps := r.FilterStats()
	assert.Equal(t, uint64(4000), checks)
	assert.Equal(t, uint64(2000), negatives+fps, "every absent key is a true negative or a false positive")
	assert.Less(t, fps, uint64(80), "~1%% false positives expected, got %d", fps)

	assert.True(t, r.MayContain([]byte("k000000")))
	c2, _, _ := r.FilterStats()
	assert.Equal(t, checks+1, c2)

	// Without a filter MayContain says yes and nothing is counted.
	data, _ = build(t, entries, WriterOptions{})
	r = openTable(t, data, ReaderOptions{})
	assert.True(t, r.MayContain([]byte("nope")))
	checks, _, _ = r.FilterStats()
	assert.Zero(t, checks)
}

func TestWriterRejects(t *testing.T) {
	t.Parallel()
	w := NewWriter(&bytes.Buffer{}, WriterOptions{})
	require.NoError(t, w.Add(ik("b", 5, format.KindSet), nil))
	assert.ErrorIs(t, w.Add(ik("b", 5, format.KindSet), nil), ErrOutOfOrder, "duplicate")
	assert.ErrorIs(t, w.Add(ik("b", 6, format.KindSet), nil), ErrOutOfOrder, "newer version after older")
	assert.ErrorIs(t, w.Add(ik("a", 9, format.KindSet), nil), ErrOutOfOrder)
	assert.Error(t, w.Add([]byte("short"), nil), "not an internal key")
	require.NoError(t, w.Add(ik("b", 4, format.KindSet), nil))
	_, err := w.Finish()
	require.NoError(t, err)
	_, err = w.Finish()
	assert.Error(t, err)
	assert.Error(t, w.Add(ik("c", 1, format.KindSet), nil))
}

func TestEmptyTable(t *testing.T) {
	t.Parallel()
	data, props := build(t, nil, WriterOptions{BloomBitsPerKey: 10})
	assert.Zero(t, props.NumEntries)
	r := openTable(t, data, ReaderOptions{})
	it := r.NewIterator()
	assert.False(t, it.First())
	assert.False(t, it.SeekGE(ik("a", 1, format.KindSet)))
	assert.NoError(t, it.Error())
	_, _, found, err := r.Get(ik("a", 1, format.KindSet), true)
	assert.NoError(t, err)
	assert.False(t, found)
	assert.Nil(t, r.Properties().Smallest)
}

func TestEstimatedSize(t *testing.T) {
	t.Parallel()
	w := NewWriter(&bytes.Buffer{}, WriterOptions{BloomBitsPerKey: 10})
	var last uint64
	for i, e := range genEntries(20_000, 3) {
		require.NoError(t, w.Add(e.key, e.value))
		if i%1000 == 0 {
			est := w.EstimatedSize()
			assert.GreaterOrEqual(t, est, last)
			last = est
		}
	}
	est := w.EstimatedSize()
	props, err := w.Finish()
	require.NoError(t, err)
	assert.InEpsilon(t, float64(props.FileSize), float64(est), 0.05)
}

// corruptChecker opens data and reads everything through both the iterator and Get, returning
// the first error. It fails the test if any returned entry differs from entries.
func corruptChecker(t *testing.T, data []byte, entries []kv) error {
	r, err := Open(fileOf(data), int64(len(data)), ReaderOptions{})
	if err != nil {
		return err
	}
	it := r.NewIterator()
	i := 0
	for ok := it.First(); ok; ok = it.Next() {
		if i >= len(entries) || !bytes.Equal(it.Key(), entries[i].key) || !bytes.Equal(it.Value(), entries[i].value) {
			t.Fatalf("iterator returned wrong entry %d: %q=%q", i, it.Key(), it.Value())
		}
		i++
	}
	if err := it.Error(); err != nil {
		return err
	}
	if i != len(entries) {
		t.Fatalf("iterator returned %d of %d entries without error", i, len(entries))
	}
	for _, e := range entries {
		k, v, found, err := r.Get(e.key, true)
		if err != nil {
			return err
		}
		if !found || !bytes.Equal(k, e.key) || !bytes.Equal(v, e.value) {
			t.Fatalf("Get(%q) = %q, %q, %v", e.key, k, v, found)
		}
	}
	return nil
}

// TestEveryBitFlip flips each bit of a small table in turn: every flip must be reported as an
// error wrapping format.ErrCorrupt, never produce a wrong entry, never panic.
func TestEveryBitFlip(t *testing.T) {
	t.Parallel()
	var entries []kv
	for i := range 24 {
		entries = append(entries, kv{ik(fmt.Sprintf("key%03d", i), uint64(100+i), format.Kind(i%3)),
			bytes.Repeat([]byte{byte('a' + i)}, 8+i%5)})
	}
	data, props := build(t, entries, WriterOptions{BlockSize: 96, RestartInterval: 3, BloomBitsPerKey: 10})
	require.Greater(t, props.NumDataBlocks, uint64(3))
	require.NoError(t, corruptChecker(t, data, entries))
	for bit := 0; bit < len(data)*8; bit++ {
		bad := bytes.Clone(data)
		bad[bit/8] ^= 1 << (bit % 8)
		err := corruptChecker(t, bad, entries)
		require.ErrorIs(t, err, format.ErrCorrupt, "bit %d (byte %d of %d) not detected", bit, bit/8, len(data))
	}
}

func TestTruncatedFileRejected(t *testing.T) {
	t.Parallel()
	entries := genEntries(300, 5)
	data, _ := build(t, entries, WriterOptions{BlockSize: 512, BloomBitsPerKey: 10})
	for n := 0; n < len(data); n++ {
		_, err := Open(fileOf(data[:n]), int64(n), ReaderOptions{})
		require.ErrorIs(t, err, format.ErrCorrupt, "truncated to %d of %d", n, len(data))
	}
	// A size larger than the file (lying caller) fails too, without panicking.
	_, err := Open(fileOf(data), int64(len(data))+10, ReaderOptions{})
	require.ErrorIs(t, err, format.ErrCorrupt)
}

func TestDump(t *testing.T) {
	t.Parallel()
	entries := []kv{
		{ik("apple", 3, format.KindSet), []byte("red")},
		{ik("banana", 9, format.KindDelete), nil},
		{ik("banana", 2, format.KindSet), bytes.Repeat([]byte("y"), 100)},
		{ik("cherry", 4, format.KindSetTTL), format.EncodeTTLValue(nil, 1, []byte("dark"))},
	}
	data, _ := build(t, entries, WriterOptions{BlockSize: 64, BloomBitsPerKey: 10})
	path := filepath.Join(t.TempDir(), "000001.sst")
	require.NoError(t, os.WriteFile(path, data, 0o644))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()

	var out bytes.Buffer
	require.NoError(t, Dump(&out, f, int64(len(data))))
	s := out.String()
	for _, want := range []string{
		"footer", "version=1", "properties:", "entries=4 deletions=1", "index (", "data block #0",
		`"apple" #3 SET = "red"`, `"banana" #9 DEL = ""`, `"banana" #2 SET = "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"... (100 bytes)`,
		`"cherry" #4 SETTTL`, "filter: bloom",
	} {
		assert.Contains(t, s, want)
	}

	bad := bytes.Clone(data)
	bad[3] ^= 1
	out.Reset()
	assert.ErrorIs(t, Dump(&out, fileOf(bad), int64(len(bad))), format.ErrCorrupt)
	assert.Contains(t, out.String(), "footer", "prints what it could read")
}

func TestDecodeBlockRoundTrip(t *testing.T) {
	t.Parallel()
	for _, ri := range []int{1, 3, 16} {
		b := blockBuilder{restartInterval: ri}
		var want []Entry
		for i := range 50 {
			e := Entry{Key: ik(fmt.Sprintf("prefix/%04d", i*7), 1, format.KindSet), Value: []byte(fmt.Sprint(i))}
			b.add(e.Key, e.Value)
			want = append(want, e)
		}
		got, err := DecodeBlock(b.finish())
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	got, err := DecodeBlock((&blockBuilder{restartInterval: 16}).finish())
	require.NoError(t, err)
	assert.Empty(t, got)

	for _, bad := range [][]byte{nil, {1, 2}, {0, 0, 0, 0, 1, 0, 0, 0}, {9, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}} {
		_, err := DecodeBlock(bad)
		assert.ErrorIs(t, err, format.ErrCorrupt, "%v", bad)
	}
}

func FuzzBlock(f *testing.F) {
	b := blockBuilder{restartInterval: 2}
	for i := range 5 {
		b.add(ik(fmt.Sprintf("key%d", i), uint64(i), format.KindSet), []byte("value"))
	}
	f.Add(bytes.Clone(b.finish()))
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0, 1, 1, 'a', 'b', 0, 0, 0, 0, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := DecodeBlock(data)
		if err != nil && !errors.Is(err, format.ErrCorrupt) {
			t.Fatalf("error does not wrap ErrCorrupt: %v", err)
		}
		var it blockIter
		if it.init(data) == nil {
			for _, target := range [][]byte{nil, []byte("key2"), ik("key3", 1, format.KindSet), bytes.Repeat([]byte{0xff}, 12)} {
				if it.SeekGE(target) && format.CompareInternal(it.key, target) < 0 {
					t.Fatalf("SeekGE(%q) stopped at smaller key %q", target, it.key)
				}
			}
		}
		if err != nil {
			return
		}
		// Re-encoding the decoded entries must give back the same entries.
		for _, ri := range []int{1, 16} {
			rb := blockBuilder{restartInterval: ri}
			for _, e := range entries {
				rb.add(e.Key, e.Value)
			}
			again, err := DecodeBlock(rb.finish())
			if err != nil {
				t.Fatalf("re-encoded block does not decode: %v", err)
			}
			if len(again) != len(entries) {
				t.Fatalf("re-encoded block has %d entries, want %d", len(again), len(entries))
			}
			for i := range entries {
				if !bytes.Equal(again[i].Key, entries[i].Key) || !bytes.Equal(again[i].Value, entries[i].Value) {
					t.Fatalf("entry %d differs after re-encoding", i)
				}
			}
		}
	})
}

// TestConcurrentReads runs point lookups and scans from several goroutines against one Reader
// sharing a real block cache smaller than the table, so blocks are evicted and re-read.
func TestConcurrentReads(t *testing.T) {
	t.Parallel()
	entries := genEntries(5000, 9)
	data, props := build(t, entries, WriterOptions{BloomBitsPerKey: 10, BlockSize: 1024})
	c := cache.New(int64(props.DataSize / 4))
	r := openTable(t, data, ReaderOptions{Cache: c, FileNum: 3})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for range 300 {
				e := entries[rng.IntN(len(entries))]
				k, v, found, err := r.Get(e.key, true)
				if err != nil || !found || !bytes.Equal(k, e.key) || !bytes.Equal(v, e.value) {
					t.Errorf("Get(%q) = %q, %v, %v", e.key, k, found, err)
					return
				}
			}
			it := r.NewIterator()
			start := rng.IntN(len(entries))
			i := start
			for ok := it.SeekGE(entries[start].key); ok && i < start+200; ok = it.Next() {
				if !bytes.Equal(it.Key(), entries[i].key) || !bytes.Equal(it.Value(), entries[i].value) {
					t.Errorf("scan from %d: entry %d differs", start, i)
					return
				}
				i++
			}
			assert.NoError(t, it.Close())
		})
	}
	wg.Wait()
	hits, misses := r.CacheStats()
	assert.Positive(t, hits)
	assert.Positive(t, misses)
	ch, cm, size := c.Stats()
	assert.Equal(t, hits, ch)
	assert.Equal(t, misses, cm)
	assert.LessOrEqual(t, size, c.Capacity())
}
