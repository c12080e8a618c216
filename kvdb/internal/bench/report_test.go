package bench

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// result makes a Result of the given throughput (1 s of ops).
func result(engine, workload string, perSec int64) Result {
	return Result{Engine: engine, Workload: workload, Ops: perSec, Elapsed: time.Second,
		Latency: &Latency{Count: 1, P50: 2 * time.Microsecond, P99: 9 * time.Microsecond, Max: time.Millisecond}}
}

func fakeReport(engines []string, results ...Result) *Report {
	rep := &Report{Config: Config{Workloads: Workloads(), N: 1_000_000, SyncN: 100_000, Batch: 100,
		Readers: 2, Scans: 100_000, ScanLen: 100, MixedOps: 1_000_000, MixedWorkers: 16},
		Machine: Machine{CPU: "Test CPU", NumCPU: 2, GOMAXPROCS: 2, Go: "go1.26", OSArch: "linux/amd64"}}
	for _, e := range engines {
		rep.Config.Engines = append(rep.Config.Engines, EngineInfo{Name: e, Config: e + " settings"})
	}
	rep.Results = results
	return rep
}

// allRows returns ours and Pebble on every workload, ours at ratio times Pebble's rate, and
// ours at the given durable and get rates.
func allRows(ratio float64, durable, gets int64) []Result {
	var out []Result
	for _, w := range Workloads() {
		peb := int64(400_000)
		ours := int64(ratio * float64(peb))
		switch w {
		case FillSyncBatch:
			ours, peb = durable, durable
		case ReadRandom:
			ours, peb = gets, gets
		}
		out = append(out, result(Ours, w, ours), result(Baseline, w, peb))
	}
	return out
}

// withResult replaces the result of r's engine and workload.
func withResult(rs []Result, r Result) []Result {
	for i := range rs {
		if rs[i].Engine == r.Engine && rs[i].Workload == r.Workload {
			rs[i] = r
		}
	}
	return rs
}

func TestVerdicts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		rep     *Report
		want    []string // status of: ratio, durable, gets
		details []string // a part of each detail
	}{
		{"all reached", fakeReport([]string{Ours, Baseline}, allRows(0.8, 150_000, 300_000)...),
			[]string{"reached", "reached", "reached"}, []string{"lowest: fillseq 0.80×", "150k/s", "300k/s"}},
		{"every target missed", fakeReport([]string{Ours, Baseline}, allRows(0.3, 60_000, 90_000)...),
			[]string{"NOT reached", "NOT reached", "NOT reached"}, []string{"below on fillseq 0.30×", "60.0k/s", "90.0k/s"}},
		{"one row below is enough to miss", fakeReport([]string{Ours, Baseline},
			append(allRows(0.9, 150_000, 150_000)[2:], result(Ours, FillSeq, 100), result(Baseline, FillSeq, 1000))...),
			[]string{"NOT reached", "reached", "reached"}, []string{"fillseq 0.10×", "", ""}},
		{"pebble not run", fakeReport([]string{Ours}, result(Ours, FillSyncBatch, 150_000), result(Ours, ReadRandom, 200_000)),
			[]string{"not measured", "reached", "reached"}, []string{"pebble not in -engines", "", ""}},
		{"ours failed", fakeReport([]string{Ours, Baseline}, withResult(allRows(1, 1, 1),
			Result{Engine: Ours, Workload: FillSeq, Err: errors.New("boom")})...),
			[]string{"not measured", "NOT reached", "NOT reached"}, []string{"lsm failed, see Errors", "1.00/s", "1.00/s"}},
		{"ours failed on the durable row", fakeReport([]string{Ours, Baseline}, withResult(allRows(1, 150_000, 200_000),
			Result{Engine: Ours, Workload: FillSyncBatch, Err: errors.New("fsync: EIO")})...),
			[]string{"not measured", "not measured", "reached"}, []string{"no ratio for fillsync-batch", "fsync: EIO", "200k/s"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			vs := tc.rep.Verdicts()
			require.Len(t, vs, 3)
			for i, v := range vs {
				assert.Equal(t, tc.want[i], v.Status, v.Target)
				if tc.details != nil {
					assert.Contains(t, v.Detail, tc.details[i], v.Target)
				}
			}
		})
	}
}

func TestVerdictNotSelected(t *testing.T) {
	t.Parallel()
	rep := fakeReport([]string{Ours, Baseline}, result(Ours, FillSeq, 10), result(Baseline, FillSeq, 10))
	rep.Config.Workloads = []string{FillSeq}
	vs := rep.Verdicts()
	assert.Equal(t, "reached", vs[0].Status)
	assert.Equal(t, "not measured", vs[1].Status)
	assert.Equal(t, "fillsync-batch not in -workloads", vs[1].Detail)
	assert.Equal(t, "readrandom not in -workloads", vs[2].Detail)
}

func TestMarkdown(t *testing.T) {
	t.Parallel()
	results := allRows(0.6, 120_000, 250_000)
	results[0] = result(Ours, FillSeq, 100_000) // 0.25× Pebble's 400k: flagged in bold
	results = append(results, result("bbolt", FillSeq, 1_234_567),
		Result{Engine: "bbolt", Workload: ReadRandom, Err: errors.New("mmap: ENOMEM")})
	mixed := results[len(Workloads())*2-1]
	require.Equal(t, Mixed, mixed.Workload)
	results[len(Workloads())*2-1].WriteLatency = &Latency{Count: 1, P50: 3 * time.Millisecond, P99: 2 * time.Second}
	md := fakeReport([]string{Ours, Baseline, "bbolt"}, results...).Markdown()

	for _, want := range []string{
		"## kvdb storage engine benchmark: lsm vs pebble, bbolt",
		"Test CPU (2 logical CPUs, GOMAXPROCS 2)",
		"1M keys per data set, 100k for fillsync-batch; fills in batches of 100",
		"| workload | unit | lsm | pebble | bbolt | ours/pebble |\n| --- | --- | ---: | ---: | ---: | ---: |\n",
		"| fillseq | keys/s | 100k | 400k | 1.23M | **0.25×** |\n",
		"| fillrandom | keys/s | 240k | 400k | – | 0.60× |\n",
		"| fillsync-batch | keys/s | 120k | 120k | – | 1.00× |\n",
		"| readrandom | gets/s | 250k | 250k | error | 1.00× |\n",
		"| readrandom | get | 2.0µs / 9.0µs | 2.0µs / 9.0µs | error |\n",
		"| mixed | put | – | 3.00ms / 2.00s | – |\n",
		"- ≥ 0.5× Pebble on every row: **NOT reached** — below on fillseq 0.25×\n",
		"- ≥ 100k durable keys/s, batched (fillsync-batch): **reached** — 120k/s\n",
		"- ≥ 100k random gets/s (readrandom): **reached** — 250k/s\n",
		"- pebble: pebble settings\n",
		"- bbolt readrandom: mmap: ENOMEM\n",
	} {
		assert.Contains(t, md, want)
	}
	// The mixed put row exists only once per report.
	assert.Equal(t, 1, strings.Count(md, "| mixed | put |"))
}

func TestSettleLine(t *testing.T) {
	t.Parallel()
	a, b := result(Ours, FillRandom, 1), result(Baseline, FillRandom, 1)
	a.Settle, b.Settle, b.SettleCapped = 3200*time.Millisecond, 120*time.Second, true
	md := fakeReport([]string{Ours, Baseline, "bbolt"}, a, b, result("bbolt", FillRandom, 1)).Markdown()
	assert.Contains(t, md, "in steps of 500ms; not in the fill's rate, done before the reads): lsm 3.2s, pebble still busy after 120s.\n")
	assert.NotContains(t, fakeReport([]string{Ours}, result(Ours, FillRandom, 1)).Markdown(), "Background work")
}

func TestFormatting(t *testing.T) {
	t.Parallel()
	for in, want := range map[float64]string{0: "0.00", 7.5: "7.50", 999: "999", 1000: "1.00k", 47_600: "47.6k",
		476_000: "476k", 1_230_000: "1.23M", 12_345_678: "12.3M"} {
		assert.Equal(t, want, fmtRate(in), "%v", in)
	}
	for in, want := range map[int]string{50_000: "50k", 1_000_000: "1M", 1234: "1234", 2_500_000: "2500k"} {
		assert.Equal(t, want, fmtCount(in), "%v", in)
	}
	for in, want := range map[time.Duration]string{800 * time.Nanosecond: "0.8µs", 12 * time.Microsecond: "12.0µs",
		1500 * time.Microsecond: "1.50ms", 2 * time.Second: "2.00s"} {
		assert.Equal(t, want, fmtDuration(in), "%v", in)
	}
}

func TestMachineFacts(t *testing.T) {
	t.Parallel()
	m := MachineFacts("/data")
	assert.Positive(t, m.GOMAXPROCS)
	assert.Positive(t, m.NumCPU)
	assert.True(t, strings.HasPrefix(m.Go, "go"))
	assert.NotEmpty(t, m.CPU)
	assert.Equal(t, "/data", m.Dir)
}
