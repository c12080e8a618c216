package limit

import (
	"testing"
	"time"
)

// BenchmarkState is the cost of the math alone: one decision on one state, no map, no lock.
func BenchmarkState(b *testing.B) {
	for _, a := range Algorithms {
		b.Run(string(a), func(b *testing.B) {
			l := Limit{Algorithm: a, Requests: 1_000_000_000, Period: time.Second}
			if a == SlidingLog || a == Concurrency {
				l.Period = time.Microsecond // keep the log and the leases short
			}
			st, now := NewState(a), base
			b.ReportAllocs()
			for b.Loop() {
				now = now.Add(time.Nanosecond)
				d := st.Allow(now, l, 1)
				if c, ok := st.(*ConcurrencyState); ok {
					c.Release(d.Lease)
				}
			}
		})
	}
}
