package limittest

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/memstore"
)

// A case disturbed by a stall runs again on a fresh store; only three disturbed attempts in a
// row skip it.
func TestJitteredCasesRetry(t *testing.T) {
	harness := func(t *testing.T) Harness {
		clock := NewFakeClock(time.Unix(1_700_000_000, 0))
		s := memstore.New(clock)
		t.Cleanup(func() { _ = s.Close() })
		return Harness{Store: s, Now: clock.Now, Sleep: clock.Sleep, Period: time.Second}
	}
	for _, tc := range []struct {
		name        string
		disturbed   int // attempts that stall before one that does not
		wantRuns    int
		wantSkipped bool
	}{
		{"clean", 0, 1, false},
		{"two stalls then clean", 2, 3, false},
		{"always stalled, want_skip", 99, jitterAttempts, true},
	} {
		var mu sync.Mutex
		runs := 0
		c := testCase{name: tc.name, run: func(e *env) {
			mu.Lock()
			runs++
			n := runs
			mu.Unlock()
			e.skipIf(n <= tc.disturbed, "stall %d", n)
		}}
		var skipped bool
		t.Run(tc.name, func(t *testing.T) {
			defer func() { skipped = t.Skipped() }()
			runCase(t, harness, limit.GCRA, c)
		})
		assert.Equal(t, tc.wantRuns, runs, tc.name)
		assert.Equal(t, tc.wantSkipped, skipped, tc.name)
	}
}
