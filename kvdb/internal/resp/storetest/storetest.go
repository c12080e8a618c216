// Package storetest is the contract suite for resp.Store: every implementation (the in-memory
// MemStore, the lsm.DB adapter) runs the same tests, so the RESP commands behave the same on each.
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, now func() time.Time) resp.Store {
//			return newAdapter(t, lsm.Options{Now: now})
//		})
//	}
package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/resp"
)

// Clock is a manual clock for expiry tests, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Epoch is where the suite's clocks start: a round time, so failures are easy to read.
var Epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// Open returns a new, empty store whose expiry clock is now.
type Open func(t *testing.T, now func() time.Time) resp.Store

// Run runs the contract suite. Each subtest opens its own store with its own clock.
func Run(t *testing.T, open Open) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, s resp.Store, clock *Clock)
	}{
		{"GetSet", testGetSet},
		{"CopiesArguments", testCopiesArguments},
		{"SetConditions", testSetConditions},
		{"SetGetOld", testSetGetOld},
		{"Expiry", testExpiry},
		{"KeepTTL", testKeepTTL},
		{"MSetMGet", testMSetMGet},
		{"DeleteExists", testDeleteExists},
		{"ExpireConditions", testExpireConditions},
		{"ExpireInThePastDeletes", testExpireInThePast},
		{"Scan", testScan},
		{"ScanSkipsExpired", testScanSkipsExpired},
		{"SetBatch", testSetBatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := NewClock(Epoch)
			tc.test(t, open(t, clock.Now), clock)
		})
	}
}

func keys(ks ...string) [][]byte {
	out := make([][]byte, len(ks))
	for i, k := range ks {
		out[i] = []byte(k)
	}
	return out
}

func get(t *testing.T, s resp.Store, key string) (string, bool) {
	t.Helper()
	v, ok, err := s.Get([]byte(key))
	require.NoError(t, err)
	return string(v), ok
}

func set(t *testing.T, s resp.Store, key, value string, opts resp.SetOptions) resp.SetResult {
	t.Helper()
	res, err := s.Set([]byte(key), []byte(value), opts)
	require.NoError(t, err)
	return res
}

func testGetSet(t *testing.T, s resp.Store, _ *Clock) {
	_, ok := get(t, s, "k")
	assert.False(t, ok, "absent key")

	assert.True(t, set(t, s, "k", "v1", resp.SetOptions{}).Written)
	v, ok := get(t, s, "k")
	assert.True(t, ok)
	assert.Equal(t, "v1", v)

	set(t, s, "k", "v2", resp.SetOptions{})
	v, _ = get(t, s, "k")
	assert.Equal(t, "v2", v, "overwrite")

	set(t, s, "empty", "", resp.SetOptions{})
	v, ok = get(t, s, "empty")
	assert.True(t, ok, "an empty value is a value")
	assert.Empty(t, v)

	set(t, s, "", "empty key", resp.SetOptions{})
	v, ok = get(t, s, "")
	assert.True(t, ok, "the empty key is a key")
	assert.Equal(t, "empty key", v)
}

// The server passes slices of its read buffer and reuses them for the next command.
func testCopiesArguments(t *testing.T, s resp.Store, _ *Clock) {
	k, v := []byte("key"), []byte("value")
	_, err := s.Set(k, v, resp.SetOptions{})
	require.NoError(t, err)
	copy(k, "XXX")
	copy(v, "XXXXX")
	got, ok := get(t, s, "key")
	assert.True(t, ok, "the key was copied")
	assert.Equal(t, "value", got, "the value was copied")

	pairs := keys("a", "1", "b", "2")
	require.NoError(t, s.MSet(pairs))
	copy(pairs[0], "z")
	copy(pairs[1], "9")
	got, ok = get(t, s, "a")
	assert.True(t, ok)
	assert.Equal(t, "1", got)
}

func testSetConditions(t *testing.T, s resp.Store, _ *Clock) {
	assert.False(t, set(t, s, "k", "xx", resp.SetOptions{XX: true}).Written, "XX on an absent key")
	_, ok := get(t, s, "k")
	assert.False(t, ok)

	assert.True(t, set(t, s, "k", "nx", resp.SetOptions{NX: true}).Written, "NX on an absent key")
	assert.False(t, set(t, s, "k", "nx2", resp.SetOptions{NX: true}).Written, "NX on a present key")
	v, _ := get(t, s, "k")
	assert.Equal(t, "nx", v)

	assert.True(t, set(t, s, "k", "xx", resp.SetOptions{XX: true}).Written, "XX on a present key")
	v, _ = get(t, s, "k")
	assert.Equal(t, "xx", v)
}

func testSetGetOld(t *testing.T, s resp.Store, _ *Clock) {
	res := set(t, s, "k", "v1", resp.SetOptions{Get: true})
	assert.True(t, res.Written)
	assert.False(t, res.OldFound, "no previous value")

	res = set(t, s, "k", "v2", resp.SetOptions{Get: true})
	assert.True(t, res.Written)
	assert.True(t, res.OldFound)
	assert.Equal(t, "v1", string(res.Old))

	res = set(t, s, "k", "v3", resp.SetOptions{Get: true, NX: true})
	assert.False(t, res.Written, "NX fails")
	assert.True(t, res.OldFound, "the old value is reported even when nothing is written")
	assert.Equal(t, "v2", string(res.Old))
}

func testExpiry(t *testing.T, s resp.Store, clock *Clock) {
	at := clock.Now().Add(10 * time.Second)
	set(t, s, "k", "v", resp.SetOptions{ExpireAt: at})
	set(t, s, "persistent", "v", resp.SetOptions{})

	got, ok, err := s.ExpireTime([]byte("k"))
	require.NoError(t, err)
	assert.True(t, ok)
	assert.True(t, at.Equal(got), "expiry %v, want %v", got, at)
	got, ok, err = s.ExpireTime([]byte("persistent"))
	require.NoError(t, err)
	assert.True(t, ok)
	assert.True(t, got.IsZero(), "no expiry")
	_, ok, err = s.ExpireTime([]byte("absent"))
	require.NoError(t, err)
	assert.False(t, ok)

	clock.Advance(10*time.Second - time.Millisecond)
	_, ok = get(t, s, "k")
	assert.True(t, ok, "live just before its expiry")

	clock.Advance(time.Millisecond)
	_, ok = get(t, s, "k")
	assert.False(t, ok, "expired when now reaches the expiry")
	n, err := s.Exists(keys("k"))
	require.NoError(t, err)
	assert.Zero(t, n)
	_, ok, err = s.ExpireTime([]byte("k"))
	require.NoError(t, err)
	assert.False(t, ok)
	vals, err := s.MGet(nil, keys("k"))
	require.NoError(t, err)
	assert.Equal(t, []resp.Value{{}}, vals)
	assert.True(t, set(t, s, "k", "again", resp.SetOptions{NX: true}).Written, "an expired key is absent for NX")
	got, _, err = s.ExpireTime([]byte("k"))
	require.NoError(t, err)
	assert.True(t, got.IsZero(), "the new value has no expiry")
}

func testKeepTTL(t *testing.T, s resp.Store, clock *Clock) {
	at := clock.Now().Add(time.Minute)
	set(t, s, "k", "v1", resp.SetOptions{ExpireAt: at})
	set(t, s, "k", "v2", resp.SetOptions{KeepTTL: true})
	got, ok, err := s.ExpireTime([]byte("k"))
	require.NoError(t, err)
	assert.True(t, ok)
	assert.True(t, at.Equal(got), "KEEPTTL keeps the expiry")
	v, _ := get(t, s, "k")
	assert.Equal(t, "v2", v)

	set(t, s, "k", "v3", resp.SetOptions{})
	got, _, err = s.ExpireTime([]byte("k"))
	require.NoError(t, err)
	assert.True(t, got.IsZero(), "a plain SET drops the expiry")
}

func testMSetMGet(t *testing.T, s resp.Store, clock *Clock) {
	set(t, s, "b", "old", resp.SetOptions{ExpireAt: clock.Now().Add(time.Minute)})
	require.NoError(t, s.MSet(keys("a", "1", "b", "2", "c", "")))
	dst := []resp.Value{{Bytes: []byte("kept"), Found: true}}
	vals, err := s.MGet(dst, keys("a", "missing", "b", "c", "a"))
	require.NoError(t, err)
	require.Len(t, vals, 6, "MGet appends to dst")
	assert.Equal(t, "kept", string(vals[0].Bytes))
	want := []struct {
		v     string
		found bool
	}{{"1", true}, {"", false}, {"2", true}, {"", true}, {"1", true}}
	for i, w := range want {
		assert.Equal(t, w.found, vals[i+1].Found, "key %d found", i)
		assert.Equal(t, w.v, string(vals[i+1].Bytes), "key %d", i)
	}
	got, _, err := s.ExpireTime([]byte("b"))
	require.NoError(t, err)
	assert.True(t, got.IsZero(), "MSET drops the expiry")
}

func testDeleteExists(t *testing.T, s resp.Store, clock *Clock) {
	require.NoError(t, s.MSet(keys("a", "1", "b", "2")))
	set(t, s, "gone", "v", resp.SetOptions{ExpireAt: clock.Now().Add(time.Second)})
	clock.Advance(time.Second)

	n, err := s.Exists(keys("a", "a", "b", "missing", "gone"))
	require.NoError(t, err)
	assert.Equal(t, 3, n, "a key listed twice counts twice; expired keys do not count")

	n, err = s.Delete(keys("a", "a", "missing", "gone"))
	require.NoError(t, err)
	assert.Equal(t, 1, n, "a key listed twice is deleted once; expired keys do not count")
	_, ok := get(t, s, "a")
	assert.False(t, ok)
	_, ok = get(t, s, "b")
	assert.True(t, ok, "other keys untouched")
}

func testExpireConditions(t *testing.T, s resp.Store, clock *Clock) {
	now := clock.Now()
	cur := now.Add(time.Minute)
	later, earlier := now.Add(2*time.Minute), now.Add(30*time.Second)
	for _, tc := range []struct {
		volatile bool // the key has expiry cur before the call
		cond     resp.ExpireCond
		at       time.Time
		want     bool
	}{
		{false, 0, later, true},
		{true, 0, earlier, true},
		{false, resp.ExpireNX, later, true},
		{true, resp.ExpireNX, later, false},
		{false, resp.ExpireXX, later, false},
		{true, resp.ExpireXX, later, true},
		{true, resp.ExpireGT, later, true},
		{true, resp.ExpireGT, earlier, false},
		{true, resp.ExpireGT, cur, false},
		{false, resp.ExpireGT, later, false}, // no expiry counts as infinite
		{true, resp.ExpireLT, earlier, true},
		{true, resp.ExpireLT, later, false},
		{false, resp.ExpireLT, later, true},
		{true, resp.ExpireXX | resp.ExpireGT, later, true},
		{false, resp.ExpireXX | resp.ExpireLT, earlier, false},
	} {
		key := fmt.Sprintf("k-%v-%d-%v", tc.volatile, tc.cond, tc.at.Sub(now))
		opts := resp.SetOptions{}
		if tc.volatile {
			opts.ExpireAt = cur
		}
		set(t, s, key, "v", opts)
		ok, err := s.Expire([]byte(key), tc.at, tc.cond)
		require.NoError(t, err)
		assert.Equal(t, tc.want, ok, key)
		got, found, err := s.ExpireTime([]byte(key))
		require.NoError(t, err)
		require.True(t, found, key)
		switch {
		case tc.want:
			assert.True(t, tc.at.Equal(got), "%s: expiry %v, want %v", key, got, tc.at)
		case tc.volatile:
			assert.True(t, cur.Equal(got), "%s: expiry unchanged", key)
		default:
			assert.True(t, got.IsZero(), "%s: still no expiry", key)
		}
	}
	ok, err := s.Expire([]byte("absent"), later, 0)
	require.NoError(t, err)
	assert.False(t, ok, "absent key")
}

func testExpireInThePast(t *testing.T, s resp.Store, clock *Clock) {
	set(t, s, "k", "v", resp.SetOptions{})
	ok, err := s.Expire([]byte("k"), clock.Now(), 0)
	require.NoError(t, err)
	assert.True(t, ok)
	_, found := get(t, s, "k")
	assert.False(t, found, "an expiry not after now deletes the key")

	set(t, s, "past", "v", resp.SetOptions{ExpireAt: clock.Now().Add(-time.Hour)})
	_, found = get(t, s, "past")
	assert.False(t, found, "SET with an expiry in the past leaves no key")
}

func scanAll(t *testing.T, s resp.Store, prefix string, count int) []string {
	t.Helper()
	var out []string
	var after []byte
	for calls := 0; ; calls++ {
		require.Less(t, calls, 10000, "scan does not terminate")
		ks, done, err := s.Scan(after, []byte(prefix), count)
		require.NoError(t, err)
		require.LessOrEqual(t, len(ks), count)
		for _, k := range ks {
			out = append(out, string(k))
		}
		if done {
			return out
		}
		require.NotEmpty(t, ks, "not done, so there must be progress")
		after = ks[len(ks)-1]
	}
}

func testScan(t *testing.T, s resp.Store, _ *Clock) {
	var want, wantUser []string
	for i := range 50 {
		for _, p := range []string{"user:", "order:"} {
			k := fmt.Sprintf("%s%03d", p, i)
			set(t, s, k, "v", resp.SetOptions{})
			want = append(want, k)
			if p == "user:" {
				wantUser = append(wantUser, k)
			}
		}
	}
	set(t, s, "user", "v", resp.SetOptions{}) // shorter than the prefix: not under it
	want = append(want, "user")
	for _, count := range []int{1, 7, 50, 100, 1000} {
		got := scanAll(t, s, "", count)
		assert.ElementsMatch(t, want, got, "count %d", count)
		assert.IsNonDecreasing(t, got, "ascending order")
		assert.Equal(t, wantUser, scanAll(t, s, "user:", count), "prefix, count %d", count)
	}
	assert.Empty(t, scanAll(t, s, "nothing:", 10))

	ks, done, err := s.Scan([]byte("user:048"), []byte("user:"), 1)
	require.NoError(t, err)
	assert.Equal(t, []string{"user:049"}, strs(ks))
	assert.True(t, done, "the last key under the prefix: done")

	ks, done, err = s.Scan([]byte("order:999"), []byte("user:"), 2)
	require.NoError(t, err)
	assert.Equal(t, []string{"user:000", "user:001"}, strs(ks), "after sorts before the prefix")
	assert.False(t, done)

	ks, done, err = s.Scan([]byte("zzz"), nil, 10)
	require.NoError(t, err)
	assert.Empty(t, ks)
	assert.True(t, done)
}

func testScanSkipsExpired(t *testing.T, s resp.Store, clock *Clock) {
	set(t, s, "a", "v", resp.SetOptions{})
	set(t, s, "b", "v", resp.SetOptions{ExpireAt: clock.Now().Add(time.Second)})
	set(t, s, "c", "v", resp.SetOptions{})
	set(t, s, "d", "v", resp.SetOptions{ExpireAt: clock.Now().Add(time.Second)})
	clock.Advance(time.Second)
	assert.Equal(t, []string{"a", "c"}, scanAll(t, s, "", 1))
	ks, done, err := s.Scan([]byte("a"), nil, 1)
	require.NoError(t, err)
	assert.Equal(t, []string{"c"}, strs(ks))
	assert.True(t, done, "only expired keys remain after c")
}

func strs(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

// testSetBatch: a Batcher's batch copies what it is given, applies nothing before Commit, then
// everything in order (the last SET of a key wins) with its expiry, and is empty afterwards.
func testSetBatch(t *testing.T, s resp.Store, clock *Clock) {
	batcher, ok := s.(resp.Batcher)
	if !ok {
		t.Skip("the store does not group SETs (not a resp.Batcher)")
	}
	b := batcher.NewSetBatch()
	key, value := []byte("a"), []byte("1")
	b.Set(key, value, time.Time{})
	key[0], value[0] = 'X', 'X' // the connection reuses its buffers
	b.Set([]byte("a"), []byte("2"), time.Time{})
	b.Set([]byte("ttl"), []byte("v"), clock.Now().Add(time.Second))
	assert.Positive(t, b.Size())
	_, found := get(t, s, "a")
	assert.False(t, found, "nothing applied before Commit")

	require.NoError(t, b.Commit())
	v, _ := get(t, s, "a")
	assert.Equal(t, "2", v, "the last SET of a key wins")
	_, found = get(t, s, "X")
	assert.False(t, found, "the batch copied the key")
	_, found = get(t, s, "ttl")
	assert.True(t, found)
	clock.Advance(time.Second)
	_, found = get(t, s, "ttl")
	assert.False(t, found, "expiry applied")

	assert.Zero(t, b.Size(), "empty after Commit")
	b.Set([]byte("b"), []byte("3"), time.Time{})
	require.NoError(t, b.Commit())
	v, _ = get(t, s, "a")
	assert.Equal(t, "2", v, "a second commit does not repeat the first")
	v, _ = get(t, s, "b")
	assert.Equal(t, "3", v)
}
