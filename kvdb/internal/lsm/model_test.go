package lsm

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/lsm/wal"
	"github.com/stretchr/testify/require"
)

// Model-based test: random operations against the DB and against a plain map that is
// obviously right; after every read the two must agree. Flushes, compactions, snapshots and
// close/reopen are mixed in, with memtables and tables small enough that the tree really gets
// reshaped many times during the run (asserted through Metrics at the end).

type modelEntry struct {
	value   []byte
	version uint64
	expires int64 // unix ns, 0 = never
}

type model map[string]modelEntry

func (m model) live(key string, now int64) (modelEntry, bool) {
	e, ok := m[key]
	if !ok || (e.expires != 0 && e.expires <= now) {
		return modelEntry{}, false
	}
	return e, true
}

type modelSnapshot struct {
	snap  *Snapshot
	state model
}

type modelRun struct {
	t     *testing.T
	rng   *rand.Rand
	clock *fakeClock
	dir   string
	opts  Options
	db    *DB
	m     model
	seq   uint64 // last sequence number given out
	snaps []modelSnapshot
	keys  []string

	flushes, compactions, reopens, snapshotChecks, iterations, condFailures int
	dbFlushes, dbCompactions, dbMoves                                       uint64
}

func TestModel(t *testing.T) {
	seed := testSeed(t)
	clock := newFakeClock()
	r := &modelRun{
		t:     t,
		rng:   rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		clock: clock,
		dir:   t.TempDir(),
		opts: Options{
			Sync:                wal.SyncNone,
			MemtableSize:        64 << 10,
			TargetFileSize:      16 << 10,
			LevelSizeBase:       64 << 10,
			L0CompactionTrigger: 2,
			L0StopWritesTrigger: 6,
			BlockSize:           512,
			BlockCacheSize:      256 << 10,
			Now:                 clock.Now,
			maxOpenTables:       8, // force table cache evictions
		},
		m: model{},
	}
	for i := range 1500 {
		r.keys = append(r.keys, fmt.Sprintf("key%05d", i*7))
	}
	r.open()
	ops := 8000
	if testing.Short() {
		ops = 2000
	}
	for range ops {
		r.step()
	}
	r.closeSnapshots()
	r.verifyAll()
	r.accumulateMetrics()
	require.NoError(t, r.db.Close())

	t.Logf("ops=%d flushes=%d(db %d) compactions=%d(db %d, moves %d) reopens=%d snapshot checks=%d iterations=%d failed conditions=%d",
		ops, r.flushes, r.dbFlushes, r.compactions, r.dbCompactions, r.dbMoves, r.reopens, r.snapshotChecks, r.iterations, r.condFailures)
	require.Greater(t, r.dbFlushes, uint64(20), "the run should flush many memtables")
	require.Greater(t, r.dbCompactions, uint64(10), "the run should run many merging compactions")
}

func (r *modelRun) open() {
	db, err := Open(r.dir, r.opts)
	require.NoError(r.t, err)
	r.db = db
}

func (r *modelRun) accumulateMetrics() {
	m := r.db.Metrics()
	r.dbFlushes += m.Flushes
	r.dbCompactions += m.Compactions
	r.dbMoves += m.TrivialMoves
}

func (r *modelRun) now() int64 { return r.clock.Now().UnixNano() }

func (r *modelRun) key() string {
	if r.rng.IntN(20) == 0 {
		return fmt.Sprintf("key%05d", r.rng.IntN(11000)) // mostly absent keys
	}
	return r.keys[r.rng.IntN(len(r.keys))]
}

func (r *modelRun) value() []byte {
	v := make([]byte, r.rng.IntN(120))
	for i := range v {
		v[i] = byte('a' + r.rng.IntN(26))
	}
	return v
}

func (r *modelRun) step() {
	t := r.t
	switch p := r.rng.IntN(1000); {
	case p < 300: // put
		k, v := r.key(), r.value()
		require.NoError(t, r.db.Put([]byte(k), v))
		r.seq++
		r.m[k] = modelEntry{value: v, version: r.seq}
	case p < 380: // put with TTL
		k, v := r.key(), r.value()
		ttl := time.Duration(r.rng.IntN(200)) * time.Millisecond
		require.NoError(t, r.db.PutTTL([]byte(k), v, ttl))
		r.seq++
		r.m[k] = modelEntry{value: v, version: r.seq, expires: r.now() + int64(ttl)}
	case p < 460: // delete
		k := r.key()
		require.NoError(t, r.db.Delete([]byte(k)))
		r.seq++
		delete(r.m, k)
	case p < 560:
		r.batch()
	case p < 760: // get
		r.checkGet(r.db.Lookup, r.m, r.key())
	case p < 840:
		r.checkIter(r.db.NewIterator, r.m)
	case p < 880:
		r.clock.Advance(time.Duration(r.rng.IntN(80)) * time.Millisecond)
	case p < 905: // snapshot
		if len(r.snaps) < 8 {
			r.snaps = append(r.snaps, modelSnapshot{snap: r.db.Snapshot(), state: maps.Clone(r.m)})
		}
	case p < 950: // check a snapshot
		if len(r.snaps) > 0 {
			s := r.snaps[r.rng.IntN(len(r.snaps))]
			for range 10 {
				r.checkGet(s.snap.Lookup, s.state, r.key())
			}
			r.checkIter(s.snap.NewIterator, s.state)
			r.snapshotChecks++
		}
	case p < 965: // close a snapshot
		if len(r.snaps) > 0 {
			i := r.rng.IntN(len(r.snaps))
			require.NoError(t, r.snaps[i].snap.Close())
			r.snaps = slices.Delete(r.snaps, i, i+1)
		}
	case p < 980:
		require.NoError(t, r.db.Flush())
		r.flushes++
	case p < 994:
		require.NoError(t, r.db.Compact())
		r.compactions++
		checkInvariants(t, r.db)
		r.verifySnapshots()
	default: // close and reopen
		r.verifySnapshots()
		r.closeSnapshots()
		r.accumulateMetrics()
		require.NoError(t, r.db.Close())
		r.open()
		r.reopens++
		r.verifyAll()
	}
}

// batch writes a random batch, sometimes with conditions that may or may not hold.
func (r *modelRun) batch() {
	t := r.t
	var b Batch
	now := r.now()
	ok := true
	for range r.rng.IntN(3) {
		k := r.key()
		e, exists := r.m.live(k, now)
		switch r.rng.IntN(4) {
		case 0:
			v := e.version
			if r.rng.IntN(3) == 0 {
				v += uint64(r.rng.IntN(2)) + 1 // likely wrong
			}
			b.ExpectVersion([]byte(k), v)
			ok = ok && ((v == 0 && !exists) || (exists && v == e.version))
		case 1:
			b.ExpectVersion([]byte(k), 0)
			ok = ok && !exists
		default:
			want := r.rng.IntN(2) == 0
			b.ExpectExists([]byte(k), want)
			ok = ok && exists == want
		}
	}
	next := model{}
	deleted := map[string]bool{}
	seq := r.seq
	for range 1 + r.rng.IntN(12) {
		k := r.key()
		seq++
		switch r.rng.IntN(3) {
		case 0:
			b.Delete([]byte(k))
			delete(next, k)
			deleted[k] = true
		case 1:
			v := r.value()
			exp := r.clock.Now().Add(time.Duration(1+r.rng.IntN(200)) * time.Millisecond)
			b.PutExpiring([]byte(k), v, exp)
			next[k] = modelEntry{value: v, version: seq, expires: exp.UnixNano()}
			delete(deleted, k)
		default:
			v := r.value()
			b.Put([]byte(k), v)
			next[k] = modelEntry{value: v, version: seq}
			delete(deleted, k)
		}
	}
	err := r.db.Write(&b)
	if !ok {
		require.ErrorIs(t, err, ErrConditionFailed)
		r.condFailures++
		return
	}
	require.NoError(t, err)
	r.seq = seq
	for k := range deleted {
		delete(r.m, k)
	}
	maps.Copy(r.m, next)
}

func (r *modelRun) checkGet(lookup func([]byte) (Item, error), m model, k string) {
	t := r.t
	item, err := lookup([]byte(k))
	want, ok := m.live(k, r.now())
	if !ok {
		require.ErrorIs(t, err, ErrNotFound, "key %s should be absent, got %q v%d", k, item.Value, item.Version)
		return
	}
	require.NoError(t, err, "key %s", k)
	require.Equal(t, string(want.value), string(item.Value), "key %s", k)
	require.Equal(t, want.version, item.Version, "key %s", k)
	if want.expires == 0 {
		require.True(t, item.ExpiresAt.IsZero(), "key %s", k)
	} else {
		require.Equal(t, want.expires, item.ExpiresAt.UnixNano(), "key %s", k)
	}
}

func (r *modelRun) checkIter(newIter func(IterOptions) *Iterator, m model) {
	t := r.t
	r.iterations++
	var o IterOptions
	switch r.rng.IntN(4) {
	case 0: // unbounded
	case 1:
		o.Prefix = []byte(fmt.Sprintf("key%03d", r.rng.IntN(110)))
	default:
		lo := r.key()
		hi := fmt.Sprintf("key%05d", r.rng.IntN(11000))
		if lo > hi {
			lo, hi = hi, lo
		}
		if r.rng.IntN(4) > 0 {
			o.Lower = []byte(lo)
		}
		if r.rng.IntN(4) > 0 {
			o.Upper = []byte(hi)
		}
	}
	lower, upper := o.Lower, o.Upper
	if o.Prefix != nil {
		lower, upper = o.Prefix, prefixSuccessor(o.Prefix)
	}
	now := r.now()
	var want []string
	for k := range m {
		if _, ok := m.live(k, now); !ok {
			continue
		}
		if (lower == nil || k >= string(lower)) && (upper == nil || k < string(upper)) {
			want = append(want, k)
		}
	}
	slices.Sort(want)

	it := newIter(o)
	defer func() { require.NoError(t, it.Close()) }()
	var got []string
	ok := it.First()
	// Sometimes start with a SeekGE into the middle of the range instead.
	if len(want) > 2 && r.rng.IntN(3) == 0 {
		i := r.rng.IntN(len(want))
		want = want[i:]
		ok = it.SeekGE([]byte(want[0]))
	}
	for ; ok; ok = it.Next() {
		k := string(it.Key())
		got = append(got, k)
		e := m[k]
		require.Equal(t, string(e.value), string(it.Value()), "key %s", k)
		require.Equal(t, e.version, it.Item().Version, "key %s", k)
		if len(got) > len(want)+1 {
			break
		}
	}
	require.NoError(t, it.Error())
	require.Equal(t, want, got, "range %q..%q prefix %q", o.Lower, o.Upper, o.Prefix)
}

func (r *modelRun) verifySnapshots() {
	for _, s := range r.snaps {
		r.checkIter(s.snap.NewIterator, s.state)
	}
}

func (r *modelRun) closeSnapshots() {
	for _, s := range r.snaps {
		require.NoError(r.t, s.snap.Close())
	}
	r.snaps = nil
}

// verifyAll reads every key of the key space.
func (r *modelRun) verifyAll() {
	for _, k := range r.keys {
		r.checkGet(r.db.Lookup, r.m, k)
	}
	r.checkIter(r.db.NewIterator, r.m)
}
