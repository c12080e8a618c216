package proxy

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/client"
	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
)

const proxyRules = `
domain: proxy
descriptors:
  - key: remote_address
    rate_limit: {name: per_ip, unit: minute, requests_per_unit: 3, algorithm: gcra}
  - key: slots
    rate_limit: {unit: minute, requests_per_unit: 1, algorithm: concurrency}
  - key: queue
    rate_limit: {unit: second, requests_per_unit: 10, algorithm: leaky_queue, burst: 5}
`

// newProxy serves the proxy (behind httpx, as the binary does) in front of upstream.
func newProxy(t *testing.T, descriptors string, upstream http.Handler) *httptest.Server {
	t.Helper()
	return newProxyTrusting(t, descriptors, nil, upstream)
}

// newProxyTrusting is newProxy with TRUSTED_PROXIES set to trusted.
func newProxyTrusting(t *testing.T, descriptors string, trusted []string, upstream http.Handler) *httptest.Server {
	t.Helper()
	up := httptest.NewServer(upstream)
	t.Cleanup(up.Close)
	limiter, err := client.NewLocal([]byte(proxyRules), "proxy")
	require.NoError(t, err)
	t.Cleanup(func() { _ = limiter.Close() })
	templates, err := ParseDescriptors(descriptors)
	require.NoError(t, err)
	u, _ := url.Parse(up.URL)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := New(Options{Upstream: u, Limiter: limiter, Domain: "proxy", Descriptors: templates, Logger: logger})
	require.NoError(t, err)
	srv, err := httpx.New(httpx.Options{Logger: logger, NoOpsRoutes: true, TrustedProxies: trusted})
	require.NoError(t, err)
	srv.Router().Handle("/*", h)
	front := httptest.NewServer(srv.Handler())
	t.Cleanup(front.Close)
	return front
}

func TestProxyLimitsAndSetsHeaders(t *testing.T) {
	front := newProxy(t, "remote_address=ip", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello from upstream "+r.URL.Path)
	}))
	for i := range 3 {
		res, err := http.Get(front.URL + "/orders")
		require.NoError(t, err)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		assert.Equal(t, http.StatusOK, res.StatusCode)
		assert.Equal(t, "hello from upstream /orders", string(body))
		assert.Equal(t, "3", res.Header.Get("X-RateLimit-Limit"))
		assert.Equal(t, []string{"2", "1", "0"}[i], res.Header.Get("X-RateLimit-Remaining"))
		assert.Equal(t, `"per_ip";q=3;w=60`, res.Header.Get("RateLimit-Policy"))
		assert.Regexp(t, `^"per_ip";r=\d;t=\d+$`, res.Header.Get("RateLimit"))
	}
	res, err := http.Get(front.URL + "/orders")
	require.NoError(t, err)
	defer res.Body.Close()
	assert.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	assert.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))
	retry := res.Header.Get("Retry-After")
	assert.Regexp(t, `^\d+$`, retry)
	assert.NotEqual(t, "0", retry)
	var p map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&p))
	assert.Equal(t, float64(429), p["status"])
}

func TestMissingHeaderSkipsDescriptor(t *testing.T) {
	front := newProxy(t, "slots=header:X-Slot", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for range 5 { // no X-Slot header: no descriptor, never limited
		res, err := http.Get(front.URL + "/")
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, http.StatusOK, res.StatusCode)
	}
}

// A concurrency lease is held while the upstream works and released when it answers.
func TestConcurrencyLeaseReleasedAfterUpstream(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	front := newProxy(t, "slots=header:X-Slot", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			once.Do(func() { close(entered) })
			<-release
		}
	}))
	get := func(path string) int {
		req, _ := http.NewRequest("GET", front.URL+path, nil)
		req.Header.Set("X-Slot", "worker")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	done := make(chan int, 1)
	go func() { done <- get("/slow") }()
	<-entered
	assert.Equal(t, http.StatusTooManyRequests, get("/fast"), "the only slot is held by /slow")
	close(release)
	assert.Equal(t, http.StatusOK, <-done)
	assert.Equal(t, http.StatusOK, get("/fast"), "the slot came back when /slow finished")
}

// A leaky_queue rule admits a burst but spaces the requests out at its rate.
func TestLeakyQueueShapes(t *testing.T) {
	var mu sync.Mutex
	var arrivals []time.Time
	front := newProxy(t, "queue=method", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		mu.Unlock()
	}))
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			res, err := http.Get(front.URL + "/")
			if assert.NoError(t, err) {
				res.Body.Close()
				assert.Equal(t, http.StatusOK, res.StatusCode)
			}
		})
	}
	wg.Wait()
	require.Len(t, arrivals, 5)
	first, last := arrivals[0], arrivals[0]
	for _, a := range arrivals {
		first, last = minTime(first, a), maxTime(last, a)
	}
	// 5 requests at 10/s leave the queue over ~400 ms; without shaping they would arrive together.
	assert.Greater(t, last.Sub(first), 300*time.Millisecond)
}

func TestParseDescriptors(t *testing.T) {
	ts, err := ParseDescriptors("remote_address=ip; method=method,path=path ;api_key=header:x-api-key")
	require.NoError(t, err)
	require.Len(t, ts, 3)
	r := httptest.NewRequest("POST", "/a/b", nil)
	r.Header.Set("X-Api-Key", "k1")
	d, ok := build(ts[1], r)
	require.True(t, ok)
	assert.Equal(t, []client.Entry{{Key: "method", Value: "POST"}, {Key: "path", Value: "/a/b"}}, d.Entries)
	d, ok = build(ts[2], r)
	require.True(t, ok)
	assert.Equal(t, "k1", d.Entries[0].Value)

	for _, bad := range []string{"", "novalue", "k=nowhere", "k=header:", "=ip"} {
		_, err := ParseDescriptors(bad)
		assert.Error(t, err, bad)
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
