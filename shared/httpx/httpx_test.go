package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/shared/logging"
	"github.com/hyperscaledesignhub/DesignSystems/shared/telemetry"
)

func newServer(t *testing.T, o Options) *Server {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := New(o)
	require.NoError(t, err)
	return s
}

// start serves s on a loopback port until the returned cancel is called; done yields Serve's error.
func start(t *testing.T, s *Server) (base string, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx, ln) }()
	t.Cleanup(cancel)
	return "http://" + ln.Addr().String(), cancel, errc
}

func readProblem(t *testing.T, res *http.Response) map[string]any {
	t.Helper()
	assert.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))
	var p map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&p))
	return p
}

func TestShutdownDrainsInFlightRequest(t *testing.T) {
	for _, how := range []string{"context", "SIGTERM"} {
		t.Run(how, func(t *testing.T) {
			s := newServer(t, Options{ShutdownTimeout: 5 * time.Second})
			entered, release := make(chan struct{}), make(chan struct{})
			s.Router().Get("/slow", func(w http.ResponseWriter, r *http.Request) {
				close(entered)
				<-release
				_, _ = io.WriteString(w, "finished")
			})
			base, cancel, done := start(t, s)

			type result struct {
				body string
				err  error
			}
			resc := make(chan result, 1)
			go func() {
				res, err := http.Get(base + "/slow")
				if err != nil {
					resc <- result{err: err}
					return
				}
				defer res.Body.Close()
				b, err := io.ReadAll(res.Body)
				resc <- result{string(b), err}
			}()
			<-entered
			if how == "SIGTERM" {
				// Serve has registered for the signal before accepting, so this does not kill the test binary.
				require.NoError(t, syscall.Kill(syscall.Getpid(), syscall.SIGTERM))
			} else {
				cancel()
			}
			select {
			case err := <-done:
				t.Fatalf("Serve returned (%v) while a request was in flight", err)
			case <-time.After(200 * time.Millisecond):
			}
			// While draining, readiness is off (the in-flight request still holds the server open).
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			assert.Equal(t, http.StatusServiceUnavailable, rec.Code)

			close(release)
			r := <-resc
			require.NoError(t, r.err)
			assert.Equal(t, "finished", r.body)
			require.NoError(t, <-done)
			_, err := http.Get(base + "/slow")
			assert.Error(t, err, "listener is closed after shutdown")
		})
	}
}

func TestReadyzNamesFailingChecks(t *testing.T) {
	s := newServer(t, Options{})
	s.AddCheck("redis", time.Second, func(context.Context) error { return nil })
	s.AddCheck("postgres", time.Second, func(context.Context) error { return errors.New("connection refused") })
	s.AddCheck("kafka", 50*time.Millisecond, func(ctx context.Context) error { time.Sleep(time.Second); return nil })
	base, _, _ := start(t, s)

	res, err := http.Get(base + "/readyz")
	require.NoError(t, err)
	defer res.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	p := readProblem(t, res)
	assert.Equal(t, "not ready: kafka, postgres", p["detail"])
	checks := p["checks"].(map[string]any)
	assert.Equal(t, "ok", checks["redis"])
	assert.Equal(t, "connection refused", checks["postgres"])
	assert.Contains(t, checks["kafka"], "timed out")

	res, err = http.Get(base + "/healthz")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode, "liveness does not depend on dependencies")
}

func TestReadyzOK(t *testing.T) {
	s := newServer(t, Options{})
	s.AddCheck("redis", time.Second, func(context.Context) error { return nil })
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.JSONEq(t, `{"status":"ready","checks":{"redis":"ok"}}`, rec.Body.String())
}

type order struct {
	Item string `json:"item"`
	Qty  int    `json:"qty"`
}

func TestDecodeJSONRejectsBadBodies(t *testing.T) {
	s := newServer(t, Options{MaxBodyBytes: 64})
	s.Router().Post("/orders", func(w http.ResponseWriter, r *http.Request) {
		var o order
		if err := DecodeJSON(r, &o); err != nil {
			WriteError(w, r, nil, err)
			return
		}
		WriteJSON(w, http.StatusCreated, o)
	})
	base, _, _ := start(t, s)

	cases := []struct {
		name, ctype, body string
		chunked           bool
		status            int
		detail            string
	}{
		{"ok", "application/json", `{"item":"pen","qty":2}`, false, 201, ""},
		{"unknown field", "application/json", `{"item":"pen","colour":"red"}`, false, 400, `unknown field "colour"`},
		{"wrong type", "application/json", `{"qty":"two"}`, false, 400, `field "qty" must be int`},
		{"malformed", "application/json", `{"item":}`, false, 400, "malformed JSON"},
		{"trailing", "application/json", `{"item":"a"} {"item":"b"}`, false, 400, "single JSON value"},
		{"empty", "application/json", ``, false, 400, "empty"},
		{"too large, declared", "application/json", `{"item":"` + strings.Repeat("x", 100) + `"}`, false, 413, "larger than 64 bytes"},
		{"too large, chunked", "application/json", `{"item":"` + strings.Repeat("x", 100) + `"}`, true, 413, "larger than 64 bytes"},
		{"not json", "text/plain", `hello`, false, 415, "application/json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(c.body)
			if c.chunked {
				body = io.MultiReader(body) // hides the length: sent chunked
			}
			req, err := http.NewRequest("POST", base+"/orders", body)
			require.NoError(t, err)
			req.Header.Set("Content-Type", c.ctype)
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer res.Body.Close()
			require.Equal(t, c.status, res.StatusCode)
			if c.status >= 400 {
				p := readProblem(t, res)
				assert.Equal(t, float64(c.status), p["status"])
				assert.Equal(t, http.StatusText(c.status), p["title"])
				assert.Equal(t, "about:blank", p["type"])
				assert.Equal(t, "/orders", p["instance"])
				assert.Contains(t, p["detail"], c.detail)
			}
		})
	}
}

func TestPanicBecomes500AndServerStaysUp(t *testing.T) {
	var logs bytes.Buffer
	logger, err := logging.New(&logs, logging.Options{Format: "json"})
	require.NoError(t, err)
	s := newServer(t, Options{Logger: logger})
	s.Router().Get("/boom", func(http.ResponseWriter, *http.Request) { panic("kaboom") })
	s.Router().Get("/fine", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "fine") })
	base, _, _ := start(t, s)

	res, err := http.Get(base + "/boom")
	require.NoError(t, err)
	assert.Equal(t, 500, res.StatusCode)
	p := readProblem(t, res)
	res.Body.Close()
	assert.NotContains(t, p["detail"], "kaboom", "internals stay in the log")
	assert.Contains(t, logs.String(), "kaboom")
	assert.Contains(t, logs.String(), `"request_id"`)

	for range 3 {
		res, err = http.Get(base + "/fine")
		require.NoError(t, err)
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		assert.Equal(t, "fine", string(b))
	}
}

func TestMetricsUseRoutePattern(t *testing.T) {
	tel, err := telemetry.New(context.Background(), telemetry.Options{})
	require.NoError(t, err)
	s := newServer(t, Options{Telemetry: tel})
	s.Router().Get("/users/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for _, p := range []string{"/users/1", "/users/2", "/users/3", "/nowhere/4"} {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	assert.Contains(t, body, `http_requests_total{code="204",method="GET",route="/users/{id}"} 3`)
	assert.Contains(t, body, `http_request_duration_seconds_count{method="GET",route="/users/{id}"} 3`)
	assert.NotContains(t, body, `/users/1`)
	assert.NotContains(t, body, `/nowhere/4`, "unmatched paths never become labels")
	n, err := testutil.GatherAndCount(tel.Registry, "http_requests_total")
	require.NoError(t, err)
	assert.Equal(t, 3, n, "one series each for the pattern, the 404s and the /metrics scrape")
}

func TestRequestIDPropagates(t *testing.T) {
	s := newServer(t, Options{})
	s.Router().Get("/", func(w http.ResponseWriter, _ *http.Request) {})
	for _, c := range []struct{ in, want string }{{"abc-123", "abc-123"}, {"bad id\n", ""}, {"", ""}} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set(RequestIDHeader, c.in)
		s.Handler().ServeHTTP(rec, req)
		got := rec.Header().Get(RequestIDHeader)
		if c.want != "" {
			assert.Equal(t, c.want, got)
		} else {
			assert.Len(t, got, 24, "a fresh ID replaces %q", c.in)
		}
	}
}

func TestWriteErrorHidesInternalErrors(t *testing.T) {
	var logs bytes.Buffer
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/x", nil)
	WriteError(rec, req, slog.New(slog.NewTextHandler(&logs, nil)), fmt.Errorf("query users: %w", errors.New("pq: password leaked")))
	assert.Equal(t, 500, rec.Code)
	assert.NotContains(t, rec.Body.String(), "leaked")
	assert.Contains(t, logs.String(), "leaked")

	rec = httptest.NewRecorder()
	WriteError(rec, req, nil, fmt.Errorf("wrapped: %w", Problemf(409, "version %d is stale", 3).With("current", 4)))
	assert.Equal(t, 409, rec.Code)
	assert.JSONEq(t, `{"type":"about:blank","title":"Conflict","status":409,"detail":"version 3 is stale","instance":"/x","current":4}`, rec.Body.String())
}

func TestUnknownRouteAndMethod(t *testing.T) {
	s := newServer(t, Options{})
	s.Router().Get("/only-get", func(http.ResponseWriter, *http.Request) {})
	for _, c := range []struct {
		method, path string
		status       int
	}{{"GET", "/missing", 404}, {"DELETE", "/only-get", 405}} {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		assert.Equal(t, c.status, rec.Code)
		assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	}
}

func TestClientIPTrustsOnlyConfiguredProxies(t *testing.T) {
	for _, c := range []struct {
		trusted []string
		want    string
	}{
		{nil, "192.0.2.1"},                         // XFF from an untrusted peer is ignored
		{[]string{"192.0.2.0/24"}, "203.0.113.9"},  // the trusted proxy's XFF names the client
		{[]string{"198.51.100.0/24"}, "192.0.2.1"}, // a proxy we do not know is the client
	} {
		s := newServer(t, Options{TrustedProxies: c.trusted})
		var got string
		s.Router().Get("/ip", func(_ http.ResponseWriter, r *http.Request) { got = ClientIP(r) })
		req := httptest.NewRequest("GET", "/ip", nil) // RemoteAddr 192.0.2.1:1234
		req.Header.Set("X-Forwarded-For", "203.0.113.9")
		s.Handler().ServeHTTP(httptest.NewRecorder(), req)
		assert.Equal(t, c.want, got, "trusted %v", c.trusted)
	}
}

func TestNoOpsRoutes(t *testing.T) {
	s := newServer(t, Options{NoOpsRoutes: true})
	s.Router().Handle("/*", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "upstream") }))
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	assert.Equal(t, "upstream", rec.Body.String(), "the path belongs to the proxied service")
}

func TestTwoServersShareOneRegistry(t *testing.T) {
	tel, err := telemetry.New(context.Background(), telemetry.Options{})
	require.NoError(t, err)
	a := newServer(t, Options{Telemetry: tel})
	b := newServer(t, Options{Telemetry: tel})
	a.Router().Get("/a", func(http.ResponseWriter, *http.Request) {})
	a.Handler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/a", nil))
	rec := httptest.NewRecorder()
	b.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	assert.Contains(t, rec.Body.String(), `http_requests_total{code="200",method="GET",route="/a"} 1`, "the ops server shows the API server's series")
}
