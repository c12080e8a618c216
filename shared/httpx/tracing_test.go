package httpx

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/hyperscaledesignhub/DesignSystems/shared/telemetry"
)

func TestSpanContinuesCallerTraceAndNamesRoute(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tel := &telemetry.Telemetry{
		Registry:   prometheus.NewRegistry(),
		Tracers:    sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)),
		Propagator: propagation.TraceContext{},
	}
	s := newServer(t, Options{Telemetry: tel})
	s.Router().Get("/orders/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })

	req := httptest.NewRequest("GET", "/orders/7", nil)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	s.Handler().ServeHTTP(httptest.NewRecorder(), req)

	spans := rec.Ended()
	require.Len(t, spans, 1)
	sp := spans[0]
	assert.Equal(t, "GET /orders/{id}", sp.Name())
	assert.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", sp.SpanContext().TraceID().String(), "continues the caller's trace")
	assert.Equal(t, "00f067aa0ba902b7", sp.Parent().SpanID().String())
	assert.Contains(t, sp.Attributes(), attribute.Int("http.response.status_code", http.StatusTeapot))
	assert.Contains(t, sp.Attributes(), attribute.String("http.route", "/orders/{id}"))
}

// A client that sends headers too slowly (slow loris) is cut off by ReadHeaderTimeout.
func TestSlowHeadersAreCutOff(t *testing.T) {
	s := newServer(t, Options{ReadHeaderTimeout: 200 * time.Millisecond})
	base, _, _ := start(t, s)
	conn, err := net.Dial("tcp", base[len("http://"):])
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n")) // never finishes the headers
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	began := time.Now()
	_, err = io.ReadAll(conn) // returns when the server closes the connection
	var ne net.Error
	assert.False(t, errors.As(err, &ne) && ne.Timeout(), "the server, not our 5 s deadline, ended the connection")
	assert.Less(t, time.Since(began), 3*time.Second)
}
