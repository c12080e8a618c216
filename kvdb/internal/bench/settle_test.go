package bench

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSettle is not parallel: it measures this process's CPU, which parallel tests would use.
// (Go releases the parallel tests only after the sequential ones have finished.)
func TestSettle(t *testing.T) {
	if _, ok := cpuTime(); !ok {
		t.Skip("no process CPU time on this platform")
	}
	t.Run("an idle engine settles after one window, and fillrandom reports it", func(t *testing.T) {
		cfg := tinyConfig(t, EngineInfo{Name: "memory", Open: openMem})
		cfg.Workloads = []string{FillRandom, ReadRandom}
		cfg.SettleMax = 10 * time.Second
		rep, err := Run(context.Background(), cfg)
		require.NoError(t, err)
		fill, ok := rep.Result("memory", FillRandom)
		require.True(t, ok)
		require.NoError(t, fill.Err)
		assert.GreaterOrEqual(t, fill.Settle, settleWindow)
		assert.Less(t, fill.Settle, 5*time.Second)
		assert.False(t, fill.SettleCapped)
		assert.Contains(t, rep.Markdown(), "Background work left by fillrandom")
	})
	t.Run("a busy process is waited for up to SettleMax", func(t *testing.T) {
		var stop atomic.Bool
		defer stop.Store(true)
		for range runtime.GOMAXPROCS(0) {
			go func() {
				for !stop.Load() {
				}
			}()
		}
		r := &runner{cfg: Config{SettleMax: 1200 * time.Millisecond}, p: newProgress(nil, false)}
		waited, busy, err := r.settle(context.Background(), "spinner")
		require.NoError(t, err)
		assert.True(t, busy)
		assert.GreaterOrEqual(t, waited, 1200*time.Millisecond)
	})
	t.Run("no wait when SettleMax is 0", func(t *testing.T) {
		r := &runner{cfg: Config{}, p: newProgress(nil, false)}
		waited, busy, err := r.settle(context.Background(), "memory")
		require.NoError(t, err)
		assert.False(t, busy)
		assert.Zero(t, waited)
	})
}
