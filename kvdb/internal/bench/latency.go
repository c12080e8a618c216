package bench

import (
	"slices"
	"time"
)

// Latency summarizes the latencies of one kind of operation in a workload.
//
// Every operation is timed and kept (8 bytes each: 8 MB for a million reads), then sorted once:
// exact percentiles with no histogram resolution to argue about, at a cost paid after the
// measured phase. The workloads are closed loops (a goroutine issues its next operation when
// the previous one returns), so these are service times, not response times under an arrival
// rate: shared/loadgen is the open-loop tool for that.
type Latency struct {
	Count         int
	P50, P99, Max time.Duration
}

// samples is one goroutine's record; merged after the workers have stopped.
type samples []time.Duration

func summarize(parts ...samples) *Latency {
	var all []time.Duration
	for _, p := range parts {
		all = append(all, p...)
	}
	if len(all) == 0 {
		return nil
	}
	slices.Sort(all)
	return &Latency{
		Count: len(all),
		P50:   quantile(all, 0.50),
		P99:   quantile(all, 0.99),
		Max:   all[len(all)-1],
	}
}

// quantile is the nearest-rank quantile of sorted values: the smallest value that at least q of
// them do not exceed.
func quantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(q*float64(len(sorted)) + 0.999999)
	return sorted[min(max(rank, 1), len(sorted))-1]
}
