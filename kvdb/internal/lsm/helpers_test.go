package lsm

import (
	"bytes"
	"flag"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/sstable"
	"github.com/stretchr/testify/require"
)

var seedFlag = flag.Uint64("seed", 0, "seed for randomized tests (0 = from LSM_SEED or the clock)")

// testSeed returns the seed to use and logs it so a failure can be replayed with -seed.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		if s := os.Getenv("LSM_SEED"); s != "" {
			v, err := strconv.ParseUint(s, 10, 64)
			require.NoError(t, err, "LSM_SEED")
			seed = v
		}
	}
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -seed=%d or LSM_SEED=%d)", seed, seed, seed)
	return seed
}

// fakeClock is an injectable Options.Now.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// tableEntries sums the entries of every live table, read from the tables themselves.
func tableEntries(t *testing.T, db *DB) (entries, tombstones uint64) {
	t.Helper()
	s := db.acquireState()
	defer s.v.unref()
	for _, level := range s.v.levels {
		for _, tm := range level {
			f, err := os.Open(tableName(db.dir, tm.fileNum))
			require.NoError(t, err)
			r, err := sstable.Open(f, int64(tm.size), sstable.ReaderOptions{FileNum: tm.fileNum})
			require.NoError(t, err)
			p := r.Properties()
			entries += p.NumEntries
			tombstones += p.NumDeletions
			require.NoError(t, r.Close())
		}
	}
	return entries, tombstones
}

// checkInvariants verifies the version's structural rules: L1+ sorted and disjoint.
func checkInvariants(t *testing.T, db *DB) {
	t.Helper()
	s := db.acquireState()
	defer s.v.unref()
	for l := 1; l < numLevels; l++ {
		ts := s.v.levels[l]
		for i := 1; i < len(ts); i++ {
			require.Negative(t, bytes.Compare(ts[i-1].largestUser(), ts[i].smallestUser()), "L%d tables %d/%d overlap", l, ts[i-1].fileNum, ts[i].fileNum)
		}
	}
}
