package bench

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tinyConfig is a run small enough for the race detector: every workload, 2k keys.
func tinyConfig(t *testing.T, engines ...EngineInfo) Config {
	return Config{
		Engines:      engines,
		Workloads:    Workloads(),
		Dir:          t.TempDir(),
		N:            2000,
		SyncN:        300,
		Batch:        100,
		Readers:      2,
		Scans:        100,
		ScanLen:      100,
		MixedOps:     2000,
		MixedWorkers: 16,
	}
}

// TestRunEveryEngine runs every workload on every adapter in this build: each must complete all
// its operations, with every read checked against what the fills wrote.
func TestRunEveryEngine(t *testing.T) {
	t.Parallel()
	for _, e := range adapters() {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			cfg := tinyConfig(t, e)
			rep, err := Run(context.Background(), cfg)
			require.NoError(t, err)
			want := map[string]int64{
				FillSeq: 2000, FillRandom: 2000, FillSyncBatch: 300,
				ReadRandom: 2000, ScanRandom: 100, Mixed: 2000,
			}
			require.Len(t, rep.Results, len(want))
			for i, r := range rep.Results {
				if errors.Is(r.Err, ErrNotBuilt) {
					t.Skipf("%s: %v", e.Name, r.Err)
				}
				assert.Equal(t, Workloads()[i], r.Workload, "report order")
				assert.NoError(t, r.Err, r.Workload)
				assert.Equal(t, want[r.Workload], r.Ops, r.Workload)
				assert.Positive(t, r.OpsPerSec(), r.Workload)
				if assert.NotNil(t, r.Latency, r.Workload) {
					assert.LessOrEqual(t, r.Latency.P50, r.Latency.P99, r.Workload)
					assert.LessOrEqual(t, r.Latency.P99, r.Latency.Max, r.Workload)
				}
			}
			mixed, ok := rep.Result(e.Name, Mixed)
			require.True(t, ok)
			require.NotNil(t, mixed.Latency)
			require.NotNil(t, mixed.WriteLatency)
			// Even odds: neither side of 2000 operations should be far from half.
			assert.InDelta(t, 1000, mixed.Latency.Count, 150)
			assert.Equal(t, 2000, mixed.Latency.Count+mixed.WriteLatency.Count)
		})
	}
}

// TestRunCatchesBrokenAdapters shows that a faulty adapter cannot post a number: the workload
// that meets the fault fails with an error saying what was wrong, and the others still pass.
func TestRunCatchesBrokenAdapters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		fault  fault
		failed map[string]string // workload -> part of its error
	}{
		{"value corrupted on get", faultFlipValue, map[string]string{ReadRandom: "wrong value"}},
		{"last write of each batch lost", faultDropLast, map[string]string{
			FillSeq: "read back", FillRandom: "read back", FillSyncBatch: "read back",
			ReadRandom: "wrong after the fill", ScanRandom: "wrong after the fill", Mixed: "wrong after the fill",
		}},
		{"scan skips a key", faultSkipScan, map[string]string{ScanRandom: "want index"}},
		{"every get misses", faultMissAll, map[string]string{ReadRandom: "not found", Mixed: "found=false"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rep, err := Run(context.Background(), tinyConfig(t, EngineInfo{Name: "faulty", Open: openFaulty(tc.fault)}))
			require.NoError(t, err)
			require.Len(t, rep.Results, len(Workloads()))
			for _, r := range rep.Results {
				if part, ok := tc.failed[r.Workload]; ok {
					if assert.Error(t, r.Err, r.Workload) {
						assert.Contains(t, r.Err.Error(), part, r.Workload)
					}
				} else {
					assert.NoError(t, r.Err, r.Workload)
				}
			}
		})
	}
}

func TestRunFailingOpenIsIsolated(t *testing.T) {
	t.Parallel()
	broken := EngineInfo{Name: "broken", Open: func(string, Options) (Engine, error) { return nil, errors.New("disk on fire") }}
	cfg := tinyConfig(t, broken, EngineInfo{Name: "memory", Open: openMem})
	cfg.Workloads = []string{ReadRandom, FillSeq}
	rep, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	require.Len(t, rep.Results, 4)
	for _, r := range rep.Results {
		if r.Engine == "broken" {
			assert.ErrorContains(t, r.Err, "disk on fire")
		} else {
			assert.NoError(t, r.Err)
		}
	}
	assert.Equal(t, []string{FillSeq, ReadRandom}, []string{rep.Results[2].Workload, rep.Results[3].Workload})
	assert.Contains(t, rep.Markdown(), "- broken fillseq, readrandom: disk on fire")
}

func TestRunStopsWhenCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep, err := Run(ctx, tinyConfig(t, EngineInfo{Name: "memory", Open: openMem}))
	require.ErrorIs(t, err, context.Canceled)
	for _, r := range rep.Results {
		assert.ErrorIs(t, r.Err, context.Canceled, r.Workload)
	}
}

func TestRunProgressNamesEngineAndWorkload(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	cfg := tinyConfig(t, EngineInfo{Name: "memory", Open: openMem})
	cfg.Workloads = []string{FillSeq, ReadRandom}
	cfg.Progress = &out
	_, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	// The final line of each phase: 100% and the total.
	assert.Regexp(t, `memory fillseq +100\.0%  2000/2000 `, out.String())
	assert.Regexp(t, `memory load +100\.0%`, out.String())
	assert.Regexp(t, `memory readrandom +100\.0%  2000/2000 `, out.String())
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ok := tinyConfig(t, EngineInfo{Name: "memory", Open: openMem})
	require.NoError(t, ok.validate())
	tests := map[string]func(c *Config){
		"no engine":   func(c *Config) { c.Engines = nil },
		"no workload": func(c *Config) { c.Workloads = nil },
		"no dir":      func(c *Config) { c.Dir = "" },
		"zero keys":   func(c *Config) { c.N = 0 },
		"zero batch":  func(c *Config) { c.Batch = 0 },
		"no readers":  func(c *Config) { c.Readers = 0 },
		"no scans":    func(c *Config) { c.Scans = 0 },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := ok
			mutate(&c)
			assert.Error(t, c.validate())
		})
	}
}

func TestSelect(t *testing.T) {
	t.Parallel()
	es, err := SelectEngines(" pebble,bbolt")
	require.NoError(t, err)
	assert.Equal(t, []string{"pebble", "bbolt"}, []string{es[0].Name, es[1].Name})
	es, err = SelectEngines("")
	require.NoError(t, err)
	assert.Len(t, es, 4)
	assert.Equal(t, Ours, es[0].Name)
	_, err = SelectEngines("pebble,rocksdb")
	assert.ErrorContains(t, err, `unknown engine "rocksdb"`)
	_, err = SelectEngines("pebble,pebble")
	assert.Error(t, err)

	ws, err := SelectWorkloads("scan,fillseq")
	require.NoError(t, err)
	assert.Equal(t, []string{ScanRandom, FillSeq}, ws)
	_, err = SelectWorkloads("readseq")
	assert.ErrorContains(t, err, `unknown workload "readseq"`)
}
