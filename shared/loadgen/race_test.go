//go:build race

package loadgen

// raceEnabled: the race detector slows goroutines several-fold, so
// throughput assertions are skipped under it.
const raceEnabled = true
