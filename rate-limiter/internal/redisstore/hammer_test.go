package redisstore

import (
	"bytes"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
	"github.com/hyperscaledesignhub/DesignSystems/shared/proc"
	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// buildHammer builds testdata/hammer into dir and returns its path (the build cache makes
// rebuilding cheap).
func buildHammer(t *testing.T, dir string) string {
	t.Helper()
	root, err := proc.RepoRoot()
	require.NoError(t, err)
	bin, err := proc.Build(t.Context(), root, "./rate-limiter/internal/redisstore/testdata/hammer", dir)
	require.NoError(t, err)
	return bin
}

// Three limiter processes, each with 16 goroutines, share one Redis and hammer one key: together
// they admit exactly the limit. The periods are long enough that nothing comes back during the
// run (a bucket refills 0.1 unit/s, well under one unit over the run), so any excess would be
// double counting between processes.
//
// Not parallel with the other tests: 24 processes hammering Redis would slow their schedules.
func TestThreeProcessesShareOneLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a binary")
	}
	env := testkit.Redis(t)
	bin := buildHammer(t, t.TempDir())

	const limitN, procs, run = 100, 3, time.Second
	tests := []struct {
		alg    limit.Algorithm
		period time.Duration
	}{
		{limit.FixedWindow, 24 * time.Hour},
		{limit.SlidingLog, 20 * time.Second},
		{limit.SlidingWindow, 24 * time.Hour},
		{limit.GCRA, 1000 * time.Second},
		{limit.TokenBucket, 1000 * time.Second},
		{limit.LeakyBucket, 1000 * time.Second},
		{limit.LeakyQueue, 1000 * time.Second},
		{limit.Concurrency, time.Hour},
	}
	// Fixed and sliding windows of a day: do not start within a few seconds of midnight UTC,
	// where the window would change during the run.
	now := redisNow(t, env.Client)
	if left := 24*time.Hour - time.Duration(now.UnixNano()%int64(24*time.Hour)); left < 10*time.Second {
		time.Sleep(left + time.Second)
	}

	for _, tt := range tests {
		t.Run(string(tt.alg), func(t *testing.T) {
			t.Parallel()
			startAt := time.Now().Add(500 * time.Millisecond) // lets all processes start first
			outs := make([]bytes.Buffer, procs)
			cmds := make([]*exec.Cmd, procs)
			for i := range cmds {
				cmds[i] = exec.Command(bin,
					"-redis", env.URL, "-prefix", env.Prefix, "-key", string(tt.alg),
					"-algorithm", string(tt.alg), "-limit", strconv.Itoa(limitN), "-period", tt.period.String(),
					"-goroutines", "16", "-duration", run.String(),
					"-start-at", strconv.FormatInt(startAt.UnixMilli(), 10))
				cmds[i].Stdout = &outs[i]
				cmds[i].Stderr = &outs[i]
				require.NoError(t, cmds[i].Start())
			}
			t0 := time.Now()
			total, denied := 0, 0
			for i, cmd := range cmds {
				err := cmd.Wait()
				require.NoError(t, err, "process %d: %s", i, outs[i].String())
				var a, d int
				_, err = fmt.Sscanf(strings.TrimSpace(outs[i].String()), "admitted %d denied %d", &a, &d)
				require.NoError(t, err, "process %d printed %q", i, outs[i].String())
				total += a
				denied += d
			}
			elapsed := time.Since(t0)
			// Units that came back during the run, for the refilling algorithms.
			refill := 0
			switch tt.alg {
			case limit.GCRA, limit.TokenBucket, limit.LeakyBucket, limit.LeakyQueue:
				refill = int(elapsed * limitN / tt.period)
			}
			t.Logf("%s: %d processes admitted %d of a limit of %d (refill during the run: %d), denied %d",
				tt.alg, procs, total, limitN, refill, denied)
			assert.GreaterOrEqual(t, total, limitN)
			assert.LessOrEqual(t, total, limitN+refill, "processes admitted more than the limit together")
			assert.Greater(t, denied, 1000, "the processes did not compete")
		})
	}
}
