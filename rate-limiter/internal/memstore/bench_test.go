package memstore

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
)

// The benchmarks compare the store with golang.org/x/time/rate, the standard in-process limiter,
// on the same work: decide "may this key go now?" against a token bucket, on the real clock, for
// one hot key and for 100k keys, from one goroutine and from all of them (b.RunParallel). For
// many keys x/time/rate gets the same scaffolding as the store: 64 maps of *rate.Limiter, each
// behind its own mutex, chosen by maphash. The limit is high enough that nearly every request is
// admitted, so both do their full work.
//
//	go test -run '^$' -bench . -benchmem ./rate-limiter/internal/memstore/

const benchKeys = 100_000

var keys = func() []string {
	k := make([]string, benchKeys)
	for i := range k {
		k[i] = fmt.Sprintf("tenant-%d:route-/v1/items", i)
	}
	return k
}()

func benchLimit(a limit.Algorithm) limit.Limit {
	return limit.Limit{Algorithm: a, Requests: 1_000_000_000, Period: time.Second}
}

// noReap keeps the reaper out of the measurement: at a billion per second every state expires
// a nanosecond after its request, and a reap in the middle would have the benchmark measure
// re-creating 100k keys instead of deciding on them (x/time/rate never forgets a limiter).
var noReap = WithReapInterval(time.Hour)

// oursSerialNs holds BenchmarkAllow's serial GCRA ns/op by key count, so BenchmarkXTimeRate (which
// runs after it) can print the ratio the README reports.
var oursSerialNs = map[int]float64{}

func logRatio(b *testing.B, nkeys int) {
	peer := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	if ours := oursSerialNs[nkeys]; ours > 0 {
		b.Logf("%d key(s), serial: ours (GCRA) %.1f ns/op, x/time/rate %.1f ns/op → ours runs at %.2f× its speed (target ≥ 0.5× on one key)",
			nkeys, ours, peer, peer/ours)
	}
}

func benchStore(b *testing.B, l limit.Limit, nkeys int) {
	s := New(nil, noReap)
	defer s.Close()
	ctx := context.Background()
	for _, k := range keys[:nkeys] {
		_, _ = s.Allow(ctx, limit.Request{Key: k, Limit: l})
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := s.Allow(ctx, limit.Request{Key: keys[i%nkeys], Limit: l}); err != nil {
				b.Fatal(err)
			}
			i++
		}
		if l.Algorithm == limit.GCRA {
			oursSerialNs[nkeys] = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		var seq atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(seq.Add(7919)) // each goroutine starts elsewhere in the keys
			for pb.Next() {
				if _, err := s.Allow(ctx, limit.Request{Key: keys[i%nkeys], Limit: l}); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
}

// BenchmarkAllow: the store with the default algorithm (GCRA) and the token bucket.
func BenchmarkAllow(b *testing.B) {
	for _, a := range []limit.Algorithm{limit.GCRA, limit.TokenBucket} {
		b.Run(fmt.Sprintf("%s/1-key", a), func(b *testing.B) { benchStore(b, benchLimit(a), 1) })
		b.Run(fmt.Sprintf("%s/100k-keys", a), func(b *testing.B) { benchStore(b, benchLimit(a), benchKeys) })
	}
}

// BenchmarkAllowAlgorithms: every algorithm on one key, serially.
func BenchmarkAllowAlgorithms(b *testing.B) {
	for _, a := range limit.Algorithms {
		b.Run(string(a), func(b *testing.B) {
			s := New(nil, noReap)
			defer s.Close()
			ctx := context.Background()
			l := benchLimit(a)
			if a == limit.SlidingLog || a == limit.Concurrency {
				l.Requests = 1 << 40 // a log of every hit: keep it from ever denying
				l.Period = time.Millisecond
			}
			req := limit.Request{Key: "k", Limit: l}
			b.ReportAllocs()
			for b.Loop() {
				d, _ := s.Allow(ctx, req)
				if d.Lease != "" {
					_ = s.Release(ctx, "k", d.Lease)
				}
			}
		})
	}
}

// rateMap is x/time/rate behind the same sharding as the store.
type rateMap struct {
	seed   maphash.Seed
	shards [64]struct {
		mu sync.Mutex
		m  map[string]*rate.Limiter
		_  [48]byte
	}
}

func newRateMap() *rateMap {
	r := &rateMap{seed: maphash.MakeSeed()}
	for i := range r.shards {
		r.shards[i].m = map[string]*rate.Limiter{}
	}
	return r
}

func (r *rateMap) allow(key string) bool {
	sh := &r.shards[maphash.String(r.seed, key)&63]
	sh.mu.Lock()
	lim := sh.m[key]
	if lim == nil {
		lim = rate.NewLimiter(1_000_000_000, 1_000_000_000)
		sh.m[key] = lim
	}
	sh.mu.Unlock()
	return lim.Allow()
}

func BenchmarkXTimeRate(b *testing.B) {
	b.Run("1-key", func(b *testing.B) {
		lim := rate.NewLimiter(1_000_000_000, 1_000_000_000)
		b.Run("serial", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				lim.Allow()
			}
			logRatio(b, 1)
		})
		b.Run("parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					lim.Allow()
				}
			})
		})
	})
	for _, n := range []int{1, benchKeys} {
		b.Run(fmt.Sprintf("map-%d-keys", n), func(b *testing.B) {
			r := newRateMap()
			for _, k := range keys[:n] {
				r.allow(k)
			}
			b.Run("serial", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					r.allow(keys[i%n])
					i++
				}
				if n > 1 {
					logRatio(b, n)
				}
			})
			b.Run("parallel", func(b *testing.B) {
				b.ReportAllocs()
				var seq atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					i := int(seq.Add(7919))
					for pb.Next() {
						r.allow(keys[i%n])
						i++
					}
				})
			})
		})
	}
}

// BenchmarkAllowEvicting: the store full at its cap (50k) while decisions cycle over 100k keys,
// so every decision is a new key that evicts a live one — the cost of the cap when it binds.
func BenchmarkAllowEvicting(b *testing.B) {
	s := New(nil, noReap, WithMaxKeys(benchKeys/2))
	defer s.Close()
	ctx := context.Background()
	l := limit.Limit{Algorithm: limit.GCRA, Requests: 1000, Period: time.Hour} // keys stay live
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Allow(ctx, limit.Request{Key: keys[i%benchKeys], Limit: l}); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(s.Evicted())/float64(b.N), "evictions/op")
}
