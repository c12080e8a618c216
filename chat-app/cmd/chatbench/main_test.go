package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
)

// The harness in a tiny mode against ours only: it builds and starts the real server, and must
// measure every delivery it owes (10 receivers × the publishes in a 1 s window) with a latency.
func TestTinyRunMeasuresDeliveries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the chat server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	report := filepath.Join(t.TempDir(), "bench.md")
	var out, progress bytes.Buffer
	err := run(ctx, []string{"-skip-centrifugo", "-database-url=", "-duration=1s", "-warmup=200ms", "-receivers=10",
		"-rate=50", "-report=" + report}, &out, &progress)
	require.NoError(t, err, progress.String())

	text := out.String()
	assert.Contains(t, text, "| chat-app | ", text)
	assert.Contains(t, text, "1.0× Centrifugo at equal or lower p99: not measured", text)
	assert.Contains(t, text, "this run cannot reach it", "500 deliveries/s offered cannot meet the 50k target")
	assert.Contains(t, progress.String(), "chat-app: ")
	// 50 publishes in the window, each to 10 receivers.
	assert.Contains(t, text, "| 500 / 500 |", "every delivery owed was measured:\n%s", text)
}

func TestSummarizeIsNearestRank(t *testing.T) {
	t.Parallel()
	ns := make([]int64, 1000)
	for i := range ns {
		ns[len(ns)-1-i] = int64(i+1) * int64(time.Microsecond) // 1..1000 µs, reversed
	}
	l := summarize(ns)
	assert.Equal(t, 500*time.Microsecond, l.p50)
	assert.Equal(t, 990*time.Microsecond, l.p99)
	assert.Equal(t, 999*time.Microsecond, l.p999)
	assert.Equal(t, 1000*time.Microsecond, l.max)
	assert.Equal(t, latency{}, summarize(nil))
}

func TestStampReadsTheNumberAfterTheKey(t *testing.T) {
	t.Parallel()
	n, ok := stamp([]byte(`{"type":"message","seq":3,"body":"1234567890123"}`), []byte(`"body":"`))
	assert.True(t, ok)
	assert.EqualValues(t, 1234567890123, n)
	n, ok = stamp([]byte(`{"push":{"channel":"bench","pub":{"data":{"t":42},"offset":7}}}`), []byte(`"t":`))
	assert.True(t, ok)
	assert.EqualValues(t, 42, n)
	_, ok = stamp([]byte(`{"type":"presence"}`), []byte(`"body":"`))
	assert.False(t, ok)
	_, ok = stamp([]byte(`{"body":"x"}`), []byte(`"body":"`))
	assert.False(t, ok)
}

// Scenario (a) in a tiny mode: 50 authenticated sockets on one node (one user's devices), held and
// closed, with the server's RSS before and after.
func TestTinyConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the chat server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	report := filepath.Join(t.TempDir(), "bench.md")
	var out, progress bytes.Buffer
	err := run(ctx, []string{"-scenario=connections", "-conns=50", "-report=" + report}, &out, &progress)
	require.NoError(t, err, progress.String())

	text := out.String()
	assert.Contains(t, text, "scenario (a) connections", text)
	assert.Contains(t, text, "| 50 | 1 | ", "50 connections of one user:\n%s", text)
	assert.NotContains(t, text, "N lowered", text)
	assert.Contains(t, progress.String(), "50 open in ")
	md, err := os.ReadFile(report)
	require.NoError(t, err)
	assert.Contains(t, string(md), "## (a) Connections on one node")
	assert.Contains(t, string(md), "-scenario connections -conns 50")
}

// Scenario (c) in a tiny mode: 4 receivers over two gateways on Redis and a fresh PostgreSQL
// database; every delivery owed is measured.
func TestTinyTwoNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs chat-api and two gateways")
	}
	rdb := testkit.Redis(t)
	pg := testkit.Postgres(t) // an admin connection: the benchmark creates and drops its own database
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	report := filepath.Join(t.TempDir(), "bench.md")
	var out, progress bytes.Buffer
	err := run(ctx, []string{"-scenario=two-nodes", "-redis-url=" + rdb.URL, "-postgres-url=" + pg.URL,
		"-duration=1s", "-warmup=300ms", "-receivers=4", "-rate=20", "-report=" + report}, &out, &progress)
	require.NoError(t, err, progress.String())

	text := out.String()
	assert.Contains(t, text, "scenario (c) two gateways over Redis", text)
	assert.Contains(t, text, "| chat-app, 2 gateways | ", text)
	// 20 publishes in the window, each to 4 receivers, with no send refused.
	assert.Contains(t, text, "| 80 / 80 | 20 / 20 | 0 |", "every delivery owed was measured:\n%s", text)
	assert.NotContains(t, progress.String(), "drop database", "the database is dropped")
}

func TestScenarioFlag(t *testing.T) {
	t.Parallel()
	_, err := parseFlags([]string{"-scenario=nope"}, io.Discard, t.TempDir())
	require.ErrorContains(t, err, `-scenario "nope"`)
	o, err := parseFlags([]string{"-scenario=all"}, io.Discard, t.TempDir())
	require.NoError(t, err)
	assert.True(t, o.runs(scenarioFanout) && o.runs(scenarioConnections) && o.runs(scenarioTwoNodes))
	assert.Equal(t, 10000, o.conns)
}
