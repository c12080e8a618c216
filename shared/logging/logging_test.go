package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
)

func TestContextIDsAreLogged(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(&buf, Options{Format: "json", Service: "svc"})
	require.NoError(t, err)

	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(WithRequestID(context.Background(), "req-1"),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	l.With("k", "v").InfoContext(ctx, "hello")

	var rec map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &rec))
	assert.Equal(t, "hello", rec["msg"])
	assert.Equal(t, "svc", rec["service"])
	assert.Equal(t, "v", rec["k"])
	assert.Equal(t, "req-1", rec["request_id"])
	assert.Equal(t, tid.String(), rec["trace_id"])
	assert.Equal(t, sid.String(), rec["span_id"])
}

func TestFormatAndLevel(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(&buf, Options{Level: "warn"}) // a bytes.Buffer is not a terminal: JSON
	require.NoError(t, err)
	l.Info("dropped")
	l.Warn("kept")
	assert.NotContains(t, buf.String(), "dropped")
	assert.True(t, json.Valid(buf.Bytes()), buf.String())

	buf.Reset()
	l, err = New(&buf, Options{Format: "text"})
	require.NoError(t, err)
	l.Info("plain", "a", 1)
	assert.Contains(t, buf.String(), "msg=plain a=1")

	for _, bad := range []Options{{Level: "loud"}, {Format: "xml"}} {
		_, err := New(&buf, bad)
		assert.Error(t, err, "%+v", bad)
	}
	lvl, err := ParseLevel("DEBUG")
	require.NoError(t, err)
	assert.Equal(t, slog.LevelDebug, lvl)
}
