package kv

import (
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm"
)

// FuzzExpiry: for any clock reading and TTL, the expiry a write stores is now+ttl computed
// exactly, clamped to what int64 Unix nanoseconds hold; never a wrapped value.
func FuzzExpiry(f *testing.F) {
	f.Add(int64(1893456000), int64(0), int64(2190000*time.Hour)) // 2030 + 250 years
	f.Add(int64(1893456000), int64(0), int64(math.MaxInt64))     // the largest TTL
	f.Add(int64(9223372035), int64(999999999), int64(time.Hour)) // an hour before the end
	f.Add(int64(-62135596800), int64(0), int64(time.Nanosecond)) // year 1
	f.Add(int64(1893456000), int64(0), int64(-time.Second))      // no TTL
	f.Fuzz(func(t *testing.T, sec, nsec, ttl int64) {
		if sec < -1<<40 || sec > 1<<40 {
			return // ±35,000 years: time.Time's own seconds would overflow near its ends, no clock is there
		}
		now := time.Unix(sec, nsec%int64(time.Second))
		exp := expiry(now, time.Duration(ttl))
		if ttl <= 0 {
			require.True(t, exp.IsZero(), "no TTL, no expiry")
			return
		}
		want := new(big.Int).Mul(big.NewInt(now.Unix()), big.NewInt(int64(time.Second)))
		want.Add(want, big.NewInt(int64(now.Nanosecond())))
		want.Add(want, big.NewInt(ttl))
		switch {
		case want.Cmp(big.NewInt(math.MaxInt64)) > 0:
			want.SetInt64(math.MaxInt64)
		case want.Sign() <= 0:
			want.SetInt64(1)
		}
		require.Equal(t, want.Int64(), exp.UnixNano(), "now %v + %v", now, time.Duration(ttl))
		require.True(t, lsm.ClampExpiry(exp).Equal(exp), "stored as computed")
	})
}
