package bench

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// chunk is how many operations a worker does between progress updates and cancellation checks.
const chunk = 256

// counter batches a worker's progress into the shared count.
type counter struct {
	shared  *atomic.Int64
	pending int64
}

// tick counts one operation and reports whether it is time to look at the context.
func (c *counter) tick() bool {
	c.pending++
	if c.pending < chunk {
		return false
	}
	c.shared.Add(c.pending)
	c.pending = 0
	return true
}

func (c *counter) flush() {
	c.shared.Add(c.pending)
	c.pending = 0
}

// parallel runs work on n goroutines; the first error stops the others and is returned.
func parallel(ctx context.Context, n int, work func(ctx context.Context, w int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() {
			if err := work(ctx, w); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

// fill writes total keys in batches of cfg.Batch from one goroutine, the key of the j-th write
// being index(j), each with its version-0 value. A batch is one Engine.Write: atomic, and
// durable when the engine was opened with Sync.
func (r *runner) fill(ctx context.Context, engine, workload string, db Engine, total int, index func(j int) uint64) Result {
	res := Result{Engine: engine, Workload: workload}
	batch := r.cfg.Batch
	keys := make([]byte, batch*KeySize)
	vals := make([]byte, batch*ValueSize)
	kvs := make([]KV, batch)
	lat := make(samples, 0, total/batch+1)
	var done atomic.Int64
	stop := r.p.track(engine+" "+workload, int64(total), &done)
	start := time.Now()
	for j := 0; j < total; j += batch {
		if err := ctx.Err(); err != nil {
			res.Err = err
			break
		}
		m := min(batch, total-j)
		for x := range m {
			i := index(j + x)
			kvs[x] = KV{Key: putKey(keys[x*KeySize:], i), Value: putValue(vals[x*ValueSize:], i, 0)}
		}
		t0 := time.Now()
		err := db.Write(kvs[:m])
		lat = append(lat, time.Since(t0))
		if err != nil {
			res.Err = fmt.Errorf("write batch at key %d: %w", j, err)
			break
		}
		done.Add(int64(m))
	}
	res.Elapsed = time.Since(start)
	stop()
	res.Ops = done.Load()
	res.Latency = summarize(lat)
	return res
}

// check reads the whole data set of keys 0..total-1 once in key order, unmeasured: it checks that
// every key a fill wrote comes back, in order, with its exact value, so that an adapter losing
// writes cannot post a good number. Before the reads it also warms the block cache and the OS
// page cache as far as they hold the data.
func (r *runner) check(ctx context.Context, engine, label string, db Engine, total int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n := uint64(total)
	var done atomic.Int64
	stop := r.p.track(engine+" "+label, int64(n), &done)
	defer stop()
	var (
		key  [KeySize]byte
		want [ValueSize]byte
		next uint64
		fail error
	)
	_, err := db.Scan(putKey(key[:], 0), int(n)+1, func(k, v []byte) {
		if fail != nil {
			return
		}
		if i, ok := keyIndex(k); !ok || i != next {
			fail = fmt.Errorf("key #%d is %x, want index %d", next, k, next)
			return
		}
		if !bytes.Equal(v, putValue(want[:], next, 0)) {
			fail = fmt.Errorf("key %d: wrong value %x", next, v)
			return
		}
		next++
		if next%4096 == 0 {
			done.Store(int64(next))
		}
	})
	done.Store(int64(next))
	switch {
	case err != nil:
		return err
	case fail != nil:
		return fail
	case next != n:
		return fmt.Errorf("full scan saw %d keys, want %d", next, n)
	}
	return nil
}

// readRandom gets every key of the data set once, in a random order shared out among
// cfg.Readers goroutines, and checks each value byte for byte (outside the timed call).
func (r *runner) readRandom(ctx context.Context, engine string, db Engine) Result {
	n, g := r.cfg.N, r.cfg.Readers
	perm := permutation(n, seedReads)
	lat := make([]samples, g)
	var done atomic.Int64
	stop := r.p.track(engine+" "+ReadRandom, int64(n), &done)
	start := time.Now()
	err := parallel(ctx, g, func(ctx context.Context, w int) error {
		part := perm[w*n/g : (w+1)*n/g]
		l := make(samples, 0, len(part))
		defer func() { lat[w] = l }()
		c := counter{shared: &done}
		defer c.flush()
		var key [KeySize]byte
		var want [ValueSize]byte
		buf := make([]byte, 0, ValueSize)
		for _, idx := range part {
			i := uint64(idx)
			k := putKey(key[:], i)
			t0 := time.Now()
			v, found, err := db.Get(buf, k)
			l = append(l, time.Since(t0))
			switch {
			case err != nil:
				return fmt.Errorf("get key %d: %w", i, err)
			case !found:
				return fmt.Errorf("get key %d: not found after the fill", i)
			case !bytes.Equal(v, putValue(want[:], i, 0)):
				return fmt.Errorf("get key %d: wrong value %x", i, v)
			}
			buf = v
			if c.tick() && ctx.Err() != nil {
				return ctx.Err()
			}
		}
		return nil
	})
	elapsed := time.Since(start)
	stop()
	return Result{Engine: engine, Workload: ReadRandom, Ops: done.Load(), Elapsed: elapsed,
		Latency: summarize(lat...), Err: err}
}

// scan runs cfg.Scans range scans of cfg.ScanLen keys from uniformly random start keys, shared
// out among cfg.Readers goroutines. Every scan must return the consecutive keys from its start;
// the first value of each is checked byte for byte (checking all of them would cost as much as
// the scan and blur the comparison; the warm-up pass checked every value already).
func (r *runner) scan(ctx context.Context, engine string, db Engine) Result {
	g, total, n := r.cfg.Readers, r.cfg.Scans, uint64(r.cfg.N)
	lat := make([]samples, g)
	var done atomic.Int64
	stop := r.p.track(engine+" "+ScanRandom, int64(total), &done)
	start := time.Now()
	err := parallel(ctx, g, func(ctx context.Context, w int) error {
		count := (w+1)*total/g - w*total/g
		l := make(samples, 0, count)
		defer func() { lat[w] = l }()
		c := counter{shared: &done}
		defer c.flush()
		rng := newRand(seedScans, w)
		var (
			key   [KeySize]byte
			want  [ValueSize]byte
			first uint64
			next  uint64
			fail  error
		)
		// One closure for all the scans of this worker: no allocation in the timed loop.
		visit := func(k, v []byte) {
			if fail != nil {
				return
			}
			if i, ok := keyIndex(k); !ok || i != next {
				fail = fmt.Errorf("scan from key %d: got key %x, want index %d", first, k, next)
				return
			}
			if len(v) != ValueSize || next == first && !bytes.Equal(v, putValue(want[:], first, 0)) {
				fail = fmt.Errorf("scan from key %d: key %d has a wrong value %x", first, next, v)
				return
			}
			next++
		}
		for range count {
			first = rng.Uint64N(n)
			next = first
			expect := int(min(uint64(r.cfg.ScanLen), n-first))
			t0 := time.Now()
			got, err := db.Scan(putKey(key[:], first), r.cfg.ScanLen, visit)
			l = append(l, time.Since(t0))
			switch {
			case err != nil:
				return fmt.Errorf("scan from key %d: %w", first, err)
			case fail != nil:
				return fail
			case got != expect || int(next-first) != expect:
				return fmt.Errorf("scan from key %d: returned %d and visited %d pairs, want %d", first, got, next-first, expect)
			}
			if c.tick() && ctx.Err() != nil {
				return ctx.Err()
			}
		}
		return nil
	})
	elapsed := time.Since(start)
	stop()
	return Result{Engine: engine, Workload: ScanRandom, Ops: done.Load(), Elapsed: elapsed,
		Latency: summarize(lat...), Err: err}
}

// mixed runs cfg.MixedOps operations from cfg.MixedWorkers goroutines, each a get or a put (a
// single non-durable write of a new value) with even odds, on uniformly random keys of the
// data set. A get must find its key; its value may be any version.
func (r *runner) mixed(ctx context.Context, engine string, db Engine) Result {
	g, total, n := r.cfg.MixedWorkers, r.cfg.MixedOps, uint64(r.cfg.N)
	reads, writes := make([]samples, g), make([]samples, g)
	var done atomic.Int64
	stop := r.p.track(engine+" "+Mixed, int64(total), &done)
	start := time.Now()
	err := parallel(ctx, g, func(ctx context.Context, w int) error {
		count := (w+1)*total/g - w*total/g
		rl, wl := make(samples, 0, count/2+count/8), make(samples, 0, count/2+count/8)
		defer func() { reads[w], writes[w] = rl, wl }()
		c := counter{shared: &done}
		defer c.flush()
		rng := newRand(seedMixed, w)
		var key [KeySize]byte
		var val [ValueSize]byte
		buf := make([]byte, 0, ValueSize)
		for j := range count {
			i := rng.Uint64N(n)
			k := putKey(key[:], i)
			if rng.Uint64()&1 == 0 {
				t0 := time.Now()
				v, found, err := db.Get(buf, k)
				rl = append(rl, time.Since(t0))
				switch {
				case err != nil:
					return fmt.Errorf("get key %d: %w", i, err)
				case !found || len(v) != ValueSize:
					return fmt.Errorf("get key %d: found=%t, %d bytes", i, found, len(v))
				}
				buf = v
			} else {
				// A version no other worker uses, so that every put writes a new value.
				v := putValue(val[:], i, uint64(w+1)<<32|uint64(j+1))
				t0 := time.Now()
				err := db.Put(k, v)
				wl = append(wl, time.Since(t0))
				if err != nil {
					return fmt.Errorf("put key %d: %w", i, err)
				}
			}
			if c.tick() && ctx.Err() != nil {
				return ctx.Err()
			}
		}
		return nil
	})
	elapsed := time.Since(start)
	stop()
	return Result{Engine: engine, Workload: Mixed, Ops: done.Load(), Elapsed: elapsed,
		Latency: summarize(reads...), WriteLatency: summarize(writes...), Err: err}
}
