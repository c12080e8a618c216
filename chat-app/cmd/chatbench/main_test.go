package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
