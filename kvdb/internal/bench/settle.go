package bench

import (
	"context"
	"time"
)

// An LSM returns from a fill with work still owed: memtables to flush and compactions that can
// run for seconds after the last write. Measuring reads during that time would compare how
// much debt each engine left rather than how fast it reads, so after fillrandom the run waits
// until the process is idle — any engine, no engine-specific hook — and reports how long that
// took next to the fill's rate, since deferring work is how a fill looks fast.
const (
	settleWindow  = 500 * time.Millisecond
	settleIdleCPU = 0.05 // of one core, over a window
)

// settle waits until the process used less than settleIdleCPU over a settleWindow, or
// cfg.SettleMax has passed (busy is then true), and returns how long it waited.
func (r *runner) settle(ctx context.Context, engine string) (waited time.Duration, busy bool, err error) {
	start := time.Now()
	prev, ok := cpuTime()
	if !ok || r.cfg.SettleMax == 0 {
		return 0, false, nil // no way to tell on this platform, or not asked to: go on at once
	}
	lastPrint := start
	for {
		select {
		case <-ctx.Done():
			return time.Since(start), true, ctx.Err()
		case <-time.After(settleWindow):
		}
		now, _ := cpuTime()
		load := float64(now-prev) / float64(settleWindow)
		prev = now
		waited = time.Since(start)
		if load < settleIdleCPU {
			r.p.printf("%-28s idle after %s", engine+" settle", waited.Round(100*time.Millisecond))
			return waited, false, nil
		}
		if waited >= r.cfg.SettleMax {
			r.p.printf("%-28s still busy (%.0f%% CPU) after %s; measuring anyway", engine+" settle", 100*load, waited.Round(time.Second))
			return waited, true, nil
		}
		if time.Since(lastPrint) >= plainEvery {
			r.p.printf("%-28s background work, %.0f%% CPU, %s", engine+" settle", 100*load, waited.Round(100*time.Millisecond))
			lastPrint = time.Now()
		}
	}
}
