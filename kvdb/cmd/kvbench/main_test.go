package main

import (
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/kvdb/internal/bench"
)

// TestMain lets an isolated run work under go test: it starts this binary again with -child,
// and in a test that binary is the test binary, which then has to behave as kvbench.
func TestMain(m *testing.M) {
	if os.Getenv("KVBENCH_TEST_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	if err := os.Setenv("KVBENCH_TEST_AS_MAIN", "1"); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

func TestParseFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                          string
		args                          []string
		n, syncN, scans, mixed, procs int
		engines                       []string
		workloads                     []string
	}{
		{"defaults: the issue's 1M keys, 100k durable", nil, 1_000_000, 100_000, 100_000, 1_000_000, runtime.GOMAXPROCS(0),
			[]string{"lsm", "pebble", "bbolt", "badger"}, bench.Workloads()},
		{"quick", []string{"-quick"}, 50_000, 10_000, 5000, 50_000, runtime.GOMAXPROCS(0), nil, nil},
		{"quick keeps explicit sizes", []string{"-quick", "-n", "20000", "-sync-n", "300"}, 20_000, 300, 2000, 20_000, runtime.GOMAXPROCS(0), nil, nil},
		{"durable keys capped at -n", []string{"-n", "500"}, 500, 500, 50, 500, runtime.GOMAXPROCS(0), nil, nil},
		{"selections", []string{"-engines", "pebble,lsm", "-workloads", "scan,fillseq", "-g", "3", "-scans", "7", "-mixed-ops", "9"},
			1_000_000, 100_000, 7, 9, 3, []string{"pebble", "lsm"}, []string{"scan", "fillseq"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o, err := parseFlags(tc.args, io.Discard)
			require.NoError(t, err)
			c := o.cfg
			assert.Equal(t, []int{tc.n, tc.syncN, tc.scans, tc.mixed, tc.procs, 100, 100, 16},
				[]int{c.N, c.SyncN, c.Scans, c.MixedOps, c.Readers, c.Batch, c.ScanLen, c.MixedWorkers})
			if tc.engines != nil {
				var names []string
				for _, e := range c.Engines {
					names = append(names, e.Name)
				}
				assert.Equal(t, tc.engines, names)
			}
			if tc.workloads != nil {
				assert.Equal(t, tc.workloads, c.Workloads)
			}
		})
	}
}

func TestParseFlagsErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-engines", "leveldb"},
		{"-workloads", "readseq"},
		{"extra"},
		{"-n", "many"},
	} {
		_, err := parseFlags(args, io.Discard)
		assert.Error(t, err, "%q", args)
	}
	_, err := parseFlags([]string{"-h"}, io.Discard)
	assert.ErrorIs(t, err, flag.ErrHelp)
}

// TestRun runs the command end to end on two peers with tiny sizes, each engine and data set in
// a child process: the table goes to stdout and to -out, progress to stderr, and the data
// directory is gone afterwards.
func TestRun(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	out := filepath.Join(base, "reports", "kvbench.md")
	var stdout, stderr strings.Builder
	err := run(context.Background(), []string{"-engines", "pebble,bbolt", "-n", "1000", "-sync-n", "200",
		"-dir", filepath.Join(base, "data"), "-out", out}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())

	assert.Contains(t, stdout.String(), "| workload | unit | pebble | bbolt | ours/pebble |")
	assert.Regexp(t, `\| readrandom \| gets/s \| [0-9.]+[kM]? \| [0-9.]+[kM]? \| – \|`, stdout.String())
	assert.Contains(t, stdout.String(), "**not measured** — no ratio for fillseq")
	assert.NotContains(t, stdout.String(), "Errors:")
	file, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, stdout.String(), string(file))
	assert.Contains(t, stderr.String(), "pebble readrandom")
	assert.Regexp(t, `pebble settle +idle after`, stderr.String(), "each child settles alone after fillrandom")
	assert.Contains(t, stdout.String(), "Background work left by fillrandom")
	assert.Contains(t, stderr.String(), "bbolt fillsync-batch")

	left, err := os.ReadDir(filepath.Join(base, "data"))
	require.NoError(t, err)
	assert.Empty(t, left, "the run directory is removed")
}

func TestRunInProcess(t *testing.T) {
	t.Parallel()
	var stdout strings.Builder
	// -settle-max 0: the parallel tests share this process's CPU, which settling watches.
	err := run(context.Background(), []string{"-isolate=false", "-engines", "bbolt", "-workloads", "fillseq,readrandom",
		"-n", "500", "-settle-max", "0", "-dir", t.TempDir()}, &stdout, io.Discard)
	require.NoError(t, err)
	assert.Contains(t, stdout.String(), "| workload | unit | bbolt | ours/pebble |")
	assert.Regexp(t, `\| fillseq \| keys/s \| [0-9.]+[kM]? \| – \|`, stdout.String())
	assert.Regexp(t, `\| readrandom \| gets/s \| [0-9.]+[kM]? \| – \|`, stdout.String())
	assert.NotContains(t, stdout.String(), "fillsync-batch |")
}

// TestRunGroupReportsACrash stands a script in for a child that dies the way a Go program does
// on a fatal error: its workloads get the crash's first line, and its stderr still reaches ours.
func TestRunGroupReportsACrash(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, script, want string
	}{
		{"fatal error", "echo 'lsm fillrandom 10.0%' >&2; printf 'fatal error: sync: unlock of unlocked mutex\\n\\ngoroutine 48 [running]:\\n' >&2; exit 2",
			"the lsm process for fillrandom, readrandom crashed (exit status 2): fatal error: sync: unlock of unlocked mutex"},
		{"panic", "echo 'panic: runtime error: index out of range [3] with length 3' >&2; exit 2",
			"crashed (exit status 2): panic: runtime error: index out of range"},
		{"garbage on stdout", "echo not json; exit 1", "the lsm process for fillrandom, readrandom failed (exit status 1)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			self := filepath.Join(t.TempDir(), "child.sh")
			require.NoError(t, os.WriteFile(self, []byte("#!/bin/sh\n"+tc.script+"\n"), 0o755))
			var stderr strings.Builder
			rs := runGroup(context.Background(), self, nil, "lsm", []string{bench.FillRandom, bench.ReadRandom}, &stderr)
			require.Len(t, rs, 2)
			for _, r := range rs {
				assert.Equal(t, "lsm", r.Engine)
				assert.ErrorContains(t, r.Err, tc.want)
			}
			assert.Equal(t, []string{bench.FillRandom, bench.ReadRandom}, []string{rs[0].Workload, rs[1].Workload})
		})
	}
}

func TestCrashWatcher(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	c := &crashWatcher{w: &out}
	for _, chunk := range []string{"lsm mixed 50%\rlsm mixed 60%\n", "fatal err", "or: concurrent map writes\n", "panic: later\n"} {
		_, err := c.Write([]byte(chunk))
		require.NoError(t, err)
	}
	assert.Equal(t, "fatal error: concurrent map writes", c.line())
	assert.Equal(t, "lsm mixed 50%\rlsm mixed 60%\nfatal error: concurrent map writes\npanic: later\n", out.String())
}
