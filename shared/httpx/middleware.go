package httpx

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/hyperscaledesignhub/DesignSystems/shared/logging"
	"github.com/hyperscaledesignhub/DesignSystems/shared/telemetry"
)

// RequestIDHeader carries the request ID in and out.
const RequestIDHeader = "X-Request-ID"

// requestID keeps a caller's request ID when it is a sane token (so one ID follows a request
// through every service) and makes a new random one otherwise.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !validID(id) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(logging.WithRequestID(r.Context(), id)))
	})
}

func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c == '-' || c == '_' || c == '.' || c == ':' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false // no spaces or control characters smuggled into log lines
		}
	}
	return true
}

// clientIP records the client's IP for logs and handlers (read it with ClientIP). Forwarding
// headers are trusted only from the proxies named in Options.TrustedProxies — a client can write
// any X-Forwarded-For it likes, so believing it from anyone would let callers pick their own IP
// (and so dodge per-IP rate limits).
func clientIP(trustedProxies []string) func(http.Handler) http.Handler {
	if len(trustedProxies) == 0 {
		return middleware.ClientIPFromRemoteAddr
	}
	return middleware.ClientIPFromXFF(trustedProxies...)
}

// ClientIP is the caller's IP as the server determined it ("" when unknown).
func ClientIP(r *http.Request) string { return middleware.GetClientIP(r.Context()) }

// tracing starts a server span per request, continuing the caller's trace (W3C traceparent), and
// names it by route pattern once the router has matched one.
func tracing(tel *telemetry.Telemetry) func(http.Handler) http.Handler {
	tracer := tel.Tracer("github.com/hyperscaledesignhub/DesignSystems/shared/httpx")
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := tel.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
			ctx, span := tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path)))
			defer span.End()
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			next.ServeHTTP(ww, r.WithContext(ctx))
			route := routePattern(r)
			span.SetName(r.Method + " " + route)
			span.SetAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", status(ww)))
			if status(ww) >= 500 {
				span.SetStatus(codes.Error, http.StatusText(status(ww)))
			}
		})
	}
}

// metrics are the RED metrics. Their route label is the chi pattern ("/users/{id}"), never the
// raw path, which would make one time series per user and exhaust Prometheus.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inflight prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "HTTP requests by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds", Help: "HTTP request latency by method and route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "http_requests_in_flight", Help: "HTTP requests being served.",
		}),
	}
	var err error
	if m.requests, err = registerOrReuse(reg, m.requests); err != nil {
		return nil, err
	}
	if m.duration, err = registerOrReuse(reg, m.duration); err != nil {
		return nil, err
	}
	if m.inflight, err = registerOrReuse(reg, m.inflight); err != nil {
		return nil, err
	}
	return m, nil
}

// registerOrReuse registers c, or returns the collector registered before it under the same name:
// two servers of one process (an API port and an ops port) share one registry, and so the series.
func registerOrReuse[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(T); ok {
			return existing, nil
		}
	}
	if err != nil {
		return c, fmt.Errorf("register http metrics: %w", err)
	}
	return c, nil
}

// accessLog writes one line per request and records the RED metrics. Probe and scrape routes log
// at debug so they do not drown the requests that matter.
func accessLog(logger *slog.Logger, m *metrics) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			m.inflight.Inc()
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			defer func() {
				m.inflight.Dec()
				d := time.Since(start)
				route, code := routePattern(r), status(ww)
				m.requests.WithLabelValues(r.Method, route, fmt.Sprint(code)).Inc()
				m.duration.WithLabelValues(r.Method, route).Observe(d.Seconds())
				level := slog.LevelInfo
				switch {
				case code >= 500:
					level = slog.LevelError
				case route == "/healthz" || route == "/readyz" || route == "/metrics":
					level = slog.LevelDebug
				}
				logger.Log(r.Context(), level, "http request", "method", r.Method, "route", route, "path", r.URL.Path,
					"status", code, "bytes", ww.BytesWritten(), "duration_ms", float64(d.Microseconds())/1000, "client_ip", ClientIP(r))
			}()
			next.ServeHTTP(ww, r)
		})
	}
}

// recoverer turns a handler panic into a logged 500 problem; the server keeps serving.
func recoverer(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler { //nolint:errorlint // sentinel compared by identity, as net/http does
					panic(v) // the handler asked net/http to abort the connection
				}
				logger.ErrorContext(r.Context(), "handler panicked", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if ww, ok := w.(middleware.WrapResponseWriter); !ok || ww.Status() == 0 {
					WriteProblem(w, r, NewProblem(http.StatusInternalServerError, "internal error; the request ID identifies it in the logs"))
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// limitBody caps request bodies: a declared oversized body is refused at once, and an undeclared
// one (chunked) fails when the handler reads past the limit, which DecodeJSON reports as 413.
func limitBody(limit int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > limit {
				WriteProblem(w, r, Problemf(http.StatusRequestEntityTooLarge, "body is larger than %d bytes", limit))
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
			next.ServeHTTP(w, r)
		})
	}
}

func routePattern(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil {
		if p := rc.RoutePattern(); p != "" {
			return p
		}
	}
	return "unmatched"
}

func status(ww middleware.WrapResponseWriter) int {
	if ww.Status() == 0 {
		return http.StatusOK // nothing written: net/http sends 200
	}
	return ww.Status()
}
