package lsm

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Expiries are int64 Unix nanoseconds on disk. A time past 2262 or before 1970 must be clamped
// when it is encoded, by every caller: a wrapped value would read back as "expired long ago"
// (the write silently lost) or as a far future (a key that never expires), and the bad value
// would survive a flush and a restart.
func TestExpiryOutsideInt64NanosIsClamped(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	opts := smallOptions()
	opts.Now = clock.Now
	dir := t.TempDir()
	db := openTest(t, dir, opts)

	cases := []struct {
		key  string
		at   time.Time
		want time.Time // zero: already expired
	}{
		{"year 2276", time.Date(2276, 1, 1, 0, 0, 0, 0, time.UTC), MaxExpiry},
		{"year 9999", time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), MaxExpiry},
		{"last nanosecond", MaxExpiry, MaxExpiry},
		{"one past", MaxExpiry.Add(time.Nanosecond), MaxExpiry},
		{"year 2100", time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"year 1600", time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{}},
		{"year 1", time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), time.Time{}},
		{"the epoch", time.Unix(0, 0), time.Time{}},
	}
	check := func(when string) {
		for _, tc := range cases {
			it, err := db.Lookup([]byte(tc.key))
			if tc.want.IsZero() {
				assert.ErrorIs(t, err, ErrNotFound, "%s %s: in the past, so expired", when, tc.key)
				continue
			}
			if assert.NoError(t, err, "%s %s", when, tc.key) {
				assert.True(t, tc.want.Equal(it.ExpiresAt), "%s %s: expires %v, want %v", when, tc.key, it.ExpiresAt, tc.want)
			}
		}
	}
	for _, tc := range cases {
		var b Batch
		b.PutExpiring([]byte(tc.key), []byte("v"), tc.at)
		require.NoError(t, db.Write(&b))
	}
	require.NoError(t, db.PutTTL([]byte("max ttl"), []byte("v"), math.MaxInt64))
	it, err := db.Lookup([]byte("max ttl"))
	require.NoError(t, err, "PutTTL(max duration) from 2030 overflows int64 nanoseconds")
	assert.True(t, MaxExpiry.Equal(it.ExpiresAt))

	check("in the memtable")
	require.NoError(t, db.Flush())
	check("in a table")
	require.NoError(t, db.Close())
	db = openTest(t, dir, opts)
	check("after a restart")
}
