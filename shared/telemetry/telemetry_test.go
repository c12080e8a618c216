package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNoExporterIsNoop(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	tel, err := New(context.Background(), Options{Service: "svc"})
	require.NoError(t, err)
	_, span := tel.Tracer("t").Start(context.Background(), "op")
	assert.False(t, span.SpanContext().IsValid(), "no-op spans carry no IDs")
	span.End()
	require.NoError(t, tel.Shutdown(context.Background()))

	rec := httptest.NewRecorder()
	tel.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	assert.Equal(t, 200, rec.Code)
	assert.Contains(t, rec.Body.String(), "go_goroutines")
	assert.Contains(t, rec.Body.String(), "process_cpu_seconds_total")
}

func TestExportsSpansOverOTLP(t *testing.T) {
	var got atomic.Int32
	var body atomic.Value
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/traces" {
			b, _ := io.ReadAll(r.Body)
			body.Store(string(b))
			got.Add(1)
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")

	tel, err := New(context.Background(), Options{Service: "checkout", Version: "1.2.3"})
	require.NoError(t, err)
	_, span := tel.Tracer("t").Start(context.Background(), "charge-card")
	assert.True(t, span.SpanContext().IsValid())
	span.End()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, tel.Shutdown(ctx))
	require.GreaterOrEqual(t, got.Load(), int32(1), "the collector received an export")
	b, _ := body.Load().(string)
	assert.True(t, strings.Contains(b, "charge-card") && strings.Contains(b, "checkout"), "span name and service in the payload")
}
