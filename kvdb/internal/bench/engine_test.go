package bench

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// openForTest opens e on a fresh directory, closed when the test ends, and skips the test when
// the adapter is not part of this build (-tags nolsm).
func openForTest(t *testing.T, e EngineInfo, dir string, o Options) Engine {
	t.Helper()
	db, err := e.Open(dir, o)
	if errors.Is(err, ErrNotBuilt) {
		t.Skipf("%s: %v", e.Name, err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// adapters are the real engines plus the in-memory reference, whose passing the suite shows
// the suite's expectations are the right ones.
func adapters() []EngineInfo {
	return append(Engines(), EngineInfo{Name: "memory", Open: openMem})
}

// TestEngineContract is the one suite every adapter must pass: exact values, no retained or
// aliased buffers, ordered scans, durability across a reopen, and safety under concurrency.
func TestEngineContract(t *testing.T) {
	t.Parallel()
	for _, e := range adapters() {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range contractCases {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.run(t, e)
				})
			}
		})
	}
}

var contractCases = []struct {
	name string
	run  func(t *testing.T, e EngineInfo)
}{
	{"put then get returns the value, not the caller's buffer", func(t *testing.T, e EngineInfo) {
		db := openForTest(t, e, t.TempDir(), Options{})
		k := putKey(make([]byte, KeySize), 7)
		v := putValue(make([]byte, ValueSize), 7, 0)
		want := bytes.Clone(v)
		require.NoError(t, db.Put(k, v))
		// The workloads reuse their buffers right after a write.
		clear(v)
		got, found, err := db.Get(nil, putKey(make([]byte, KeySize), 7))
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, want, got)
		k[15] = 8 // the key buffer reused for another key must not rename the stored one
		_, found, err = db.Get(nil, putKey(make([]byte, KeySize), 7))
		require.NoError(t, err)
		assert.True(t, found)
	}},
	{"absent key is not found", func(t *testing.T, e EngineInfo) {
		db := openForTest(t, e, t.TempDir(), Options{})
		require.NoError(t, db.Put(putKey(make([]byte, KeySize), 1), putValue(make([]byte, ValueSize), 1, 0)))
		got, found, err := db.Get(make([]byte, 3, ValueSize), putKey(make([]byte, KeySize), 2))
		require.NoError(t, err)
		assert.False(t, found)
		assert.Empty(t, got)
	}},
	{"overwrite returns the newest value", func(t *testing.T, e EngineInfo) {
		db := openForTest(t, e, t.TempDir(), Options{})
		k := putKey(make([]byte, KeySize), 3)
		for ver := range uint64(3) {
			require.NoError(t, db.Put(k, putValue(make([]byte, ValueSize), 3, ver)))
		}
		got, found, err := db.Get(nil, k)
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, putValue(make([]byte, ValueSize), 3, 2), got)
	}},
	{"batch write with reused buffers, then every get", func(t *testing.T, e EngineInfo) {
		db := openForTest(t, e, t.TempDir(), Options{})
		writeShuffled(t, db, 300, 50)
		for i := range uint64(300) {
			got, found, err := db.Get(nil, putKey(make([]byte, KeySize), i))
			require.NoError(t, err)
			require.True(t, found, "key %d", i)
			require.Equal(t, putValue(make([]byte, ValueSize), i, 0), got, "key %d", i)
		}
	}},
	{"get appends to dst[:0] and never aliases the engine", func(t *testing.T, e EngineInfo) {
		db := openForTest(t, e, t.TempDir(), Options{})
		writeShuffled(t, db, 200, 100)
		first, found, err := db.Get([]byte("stale prefix"), putKey(make([]byte, KeySize), 5))
		require.NoError(t, err)
		require.True(t, found)
		require.Equal(t, putValue(make([]byte, ValueSize), 5, 0), first)
		// Other reads, writes and scans must leave a returned value alone.
		for i := range uint64(200) {
			_, _, err := db.Get(nil, putKey(make([]byte, KeySize), i))
			require.NoError(t, err)
			require.NoError(t, db.Put(putKey(make([]byte, KeySize), i), putValue(make([]byte, ValueSize), i, 9)))
		}
		_, err = db.Scan(putKey(make([]byte, KeySize), 0), 200, func(k, v []byte) {})
		require.NoError(t, err)
		assert.Equal(t, putValue(make([]byte, ValueSize), 5, 0), first)
	}},
	{"scan visits consecutive keys in order from start", func(t *testing.T, e EngineInfo) {
		db := openForTest(t, e, t.TempDir(), Options{})
		writeShuffled(t, db, 300, 100)
		between := append(putKey(make([]byte, KeySize), 99), 0) // sorts after key 99, before 100
		for _, sc := range []struct {
			name      string
			start     []byte
			n         int
			wantFirst uint64
			wantCount int
		}{
			{"from an existing key", putKey(make([]byte, KeySize), 100), 50, 100, 50},
			{"from between two keys", between, 10, 100, 10},
			{"cut short by the end", putKey(make([]byte, KeySize), 290), 50, 290, 10},
			{"past the end", putKey(make([]byte, KeySize), 300), 50, 0, 0},
			{"whole data set", putKey(make([]byte, KeySize), 0), 1000, 0, 300},
		} {
			var got []uint64
			n, err := db.Scan(sc.start, sc.n, func(k, v []byte) {
				i, ok := keyIndex(k)
				require.True(t, ok, "key %x", k)
				require.Equal(t, putValue(make([]byte, ValueSize), i, 0), v, "%s: key %d", sc.name, i)
				got = append(got, i)
			})
			require.NoError(t, err, sc.name)
			assert.Equal(t, sc.wantCount, n, sc.name)
			want := make([]uint64, sc.wantCount)
			for j := range want {
				want[j] = sc.wantFirst + uint64(j)
			}
			assert.Equal(t, want, append([]uint64{}, got...), sc.name)
		}
	}},
	{"durable writes survive a close and reopen", func(t *testing.T, e EngineInfo) {
		dir := t.TempDir()
		for _, sync := range []bool{true, false} {
			db, err := e.Open(dir, Options{Sync: sync})
			if errors.Is(err, ErrNotBuilt) {
				t.Skipf("%s: %v", e.Name, err)
			}
			require.NoError(t, err)
			ver := uint64(1)
			if sync {
				ver = 0
			}
			kvs := make([]KV, 100)
			for i := range kvs {
				kvs[i] = KV{putKey(make([]byte, KeySize), uint64(i)), putValue(make([]byte, ValueSize), uint64(i), ver)}
			}
			require.NoError(t, db.Write(kvs))
			require.NoError(t, db.Close())
			db, err = e.Open(dir, Options{})
			require.NoError(t, err)
			for i := range uint64(100) {
				got, found, err := db.Get(nil, putKey(make([]byte, KeySize), i))
				require.NoError(t, err)
				require.True(t, found, "sync=%t key %d", sync, i)
				require.Equal(t, putValue(make([]byte, ValueSize), i, ver), got, "sync=%t key %d", sync, i)
			}
			require.NoError(t, db.Close())
		}
	}},
	{"concurrent puts, gets and scans", func(t *testing.T, e EngineInfo) {
		db := openForTest(t, e, t.TempDir(), Options{})
		writeShuffled(t, db, 100, 100)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 8 {
			wg.Go(func() {
				key := make([]byte, KeySize)
				val := make([]byte, ValueSize)
				for j := range 50 {
					i := uint64((w*50 + j) % 100)
					var err error
					switch j % 3 {
					case 0:
						err = db.Put(putKey(key, i), putValue(val, i, uint64(w+1)))
					case 1:
						var found bool
						_, found, err = db.Get(val[:0], putKey(key, i))
						if err == nil && !found {
							err = fmt.Errorf("key %d not found", i)
						}
					default:
						_, err = db.Scan(putKey(key, i), 10, func(k, v []byte) {})
					}
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			assert.NoError(t, err)
		}
	}},
}

// writeShuffled writes keys 0..n-1 with their version-0 values in a shuffled order, in batches,
// reusing one set of buffers the way the fills do and scribbling over them after each Write.
func writeShuffled(t *testing.T, db Engine, n, batch int) {
	t.Helper()
	perm := permutation(n, 99)
	keys := make([]byte, batch*KeySize)
	vals := make([]byte, batch*ValueSize)
	kvs := make([]KV, batch)
	for j := 0; j < n; j += batch {
		m := min(batch, n-j)
		for x := range m {
			i := uint64(perm[j+x])
			kvs[x] = KV{putKey(keys[x*KeySize:], i), putValue(vals[x*ValueSize:], i, 0)}
		}
		require.NoError(t, db.Write(kvs[:m]))
		for x := range keys {
			keys[x] = 0xff
		}
		clear(vals)
	}
}
