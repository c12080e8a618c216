package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	rlcommon "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/client"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/memstore"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/rules"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/service"
	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
)

const testRules = `
domain: api
descriptors:
  - key: user
    rate_limit: {name: per_user, unit: minute, requests_per_unit: 3, algorithm: fixed_window}
  - key: plan
    value: free
    rate_limit: {unit: hour, requests_per_unit: 10, algorithm: gcra, burst: 5}
  - key: beta
    shadow_mode: true
    rate_limit: {unit: minute, requests_per_unit: 1}
  - key: health
    rate_limit: {unlimited: true}
`

type fixture struct {
	http *httptest.Server
	rls  rlv3.RateLimitServiceClient
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	store := memstore.New(limit.SystemClock{})
	t.Cleanup(func() { _ = store.Close() })
	return newFixtureOn(t, store, false)
}

// newFixtureOn serves an engine on store; shared says it is a networked store (as Redis).
func newFixtureOn(t *testing.T, store limit.Store, shared bool) fixture {
	t.Helper()
	set, err := rules.Parse("test.yaml", []byte(testRules))
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	engine, err := service.New(service.Options{Store: store, Shared: shared, Rules: func() *rules.Set { return set }, Registry: reg})
	require.NoError(t, err)
	t.Cleanup(func() { _ = engine.Close() })
	m, err := NewMetrics(reg)
	require.NoError(t, err)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	srv, err := httpx.New(httpx.Options{Logger: logger})
	require.NoError(t, err)
	(&HTTP{Engine: engine, Rules: rules.Static(set, "test"), Metrics: m, Logger: logger}).Routes(srv.Router())
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)

	gs := grpc.NewServer()
	rlv3.RegisterRateLimitServiceServer(gs, &RLS{Engine: engine, Metrics: m})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return fixture{http: hs, rls: rlv3.NewRateLimitServiceClient(conn)}
}

func (f fixture) check(t *testing.T, body string) (*http.Response, client.CheckResponse) {
	t.Helper()
	res, err := http.Post(f.http.URL+"/v1/check", "application/json", bytes.NewBufferString(body))
	require.NoError(t, err)
	defer res.Body.Close()
	var out client.CheckResponse
	if res.StatusCode == http.StatusOK {
		require.NoError(t, json.NewDecoder(res.Body).Decode(&out))
	}
	return res, out
}

func TestHTTPCheck(t *testing.T) {
	f := newFixture(t)
	req := `{"domain":"api","descriptors":[{"entries":[{"key":"user","value":"ann"}]}]}`
	for i := range 3 {
		res, out := f.check(t, req)
		require.Equal(t, http.StatusOK, res.StatusCode)
		assert.Equal(t, "OK", out.Overall, "request %d", i+1)
		assert.Equal(t, int64(2-i), out.Results[0].Remaining)
		assert.Equal(t, "per_user", out.Results[0].Rule)
		assert.Equal(t, "3", res.Header.Get("X-RateLimit-Limit"))
		assert.Equal(t, `"per_user";q=3;w=60`, res.Header.Get("RateLimit-Policy"))
	}
	res, out := f.check(t, req)
	assert.Equal(t, "OVER_LIMIT", out.Overall)
	assert.Equal(t, "OVER_LIMIT", out.Results[0].Code)
	assert.Positive(t, out.Results[0].RetryAfterMs)
	assert.NotEmpty(t, res.Header.Get("Retry-After"))
	assert.Equal(t, "0", res.Header.Get("X-RateLimit-Remaining"))
	assert.Regexp(t, `^"per_user";r=0;t=\d+$`, res.Header.Get("RateLimit"))

	// Another user has their own counter; an unknown descriptor matches no rule and passes.
	_, out = f.check(t, `{"domain":"api","descriptors":[{"entries":[{"key":"user","value":"bob"}]},{"entries":[{"key":"nothing","value":"x"}]}]}`)
	assert.Equal(t, "OK", out.Overall)
	assert.Equal(t, "", out.Results[1].Rule)

	// Shadow mode: over the limit, still OK, and flagged.
	for range 2 {
		_, out = f.check(t, `{"domain":"api","descriptors":[{"entries":[{"key":"beta","value":"x"}]}]}`)
	}
	assert.Equal(t, "OK", out.Overall)
	assert.True(t, out.Results[0].Shadow)

	// Cost: 6 free-plan hits at once exceed the burst of 5 and consume nothing; 5 fit.
	_, out = f.check(t, `{"domain":"api","hits":6,"descriptors":[{"entries":[{"key":"plan","value":"free"}]}]}`)
	assert.Equal(t, "OVER_LIMIT", out.Overall)
	_, out = f.check(t, `{"domain":"api","hits":5,"descriptors":[{"entries":[{"key":"plan","value":"free"}]}]}`)
	assert.Equal(t, "OK", out.Overall)
}

func TestHTTPBadInput(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct{ body, detail string }{
		{`{"domain":"api","descriptors":[],"colour":1}`, "unknown field"},
		{`{"domain":"api","descriptors":[]}`, "at least one"},
		{`{"domain":"","descriptors":[{"entries":[{"key":"user","value":"a"}]}]}`, "domain is required"},
		{`{"domain":"api","descriptors":[{"entries":[]}]}`, "no entries"},
		{`{"domain":"api","hits":-1,"descriptors":[{"entries":[{"key":"user","value":"a"}]}]}`, "negative"},
		{`{"domain":`, "JSON"},
	} {
		res, _ := f.check(t, c.body)
		assert.Equal(t, http.StatusBadRequest, res.StatusCode, c.body)
		assert.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))
	}
}

func TestHTTPRules(t *testing.T) {
	f := newFixture(t)
	res, err := http.Get(f.http.URL + "/v1/rules")
	require.NoError(t, err)
	defer res.Body.Close()
	var out rulesResponse
	require.NoError(t, json.NewDecoder(res.Body).Decode(&out))
	assert.Len(t, out.Rules, 4)
	assert.Equal(t, []string{"api"}, out.Status.Domains)
	assert.Equal(t, 4, out.Status.Rules)
	for _, r := range out.Rules {
		assert.Equal(t, rules.FailOpen, r.FailureMode, "%s: the mode that applies, the engine's default here", r.Path)
	}
}

func TestGRPCShouldRateLimit(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	desc := func(kv ...string) *rlcommon.RateLimitDescriptor {
		d := &rlcommon.RateLimitDescriptor{}
		for i := 0; i < len(kv); i += 2 {
			d.Entries = append(d.Entries, &rlcommon.RateLimitDescriptor_Entry{Key: kv[i], Value: kv[i+1]})
		}
		return d
	}
	req := &rlv3.RateLimitRequest{Domain: "api", Descriptors: []*rlcommon.RateLimitDescriptor{desc("user", "carol"), desc("health", "x")}}
	for i := range 3 {
		res, err := f.rls.ShouldRateLimit(ctx, req)
		require.NoError(t, err)
		assert.Equal(t, rlv3.RateLimitResponse_OK, res.OverallCode, "call %d", i+1)
		st := res.Statuses[0]
		assert.Equal(t, uint32(3), st.CurrentLimit.RequestsPerUnit)
		assert.Equal(t, rlv3.RateLimitResponse_RateLimit_MINUTE, st.CurrentLimit.Unit)
		assert.Equal(t, uint32(2-i), st.LimitRemaining)
		assert.Nil(t, res.Statuses[1].CurrentLimit, "unlimited rule reports no limit")
	}
	res, err := f.rls.ShouldRateLimit(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, rlv3.RateLimitResponse_OVER_LIMIT, res.OverallCode)
	assert.Equal(t, rlv3.RateLimitResponse_OVER_LIMIT, res.Statuses[0].Code)
	assert.Equal(t, rlv3.RateLimitResponse_OK, res.Statuses[1].Code)
	headers := map[string]string{}
	for _, h := range res.ResponseHeadersToAdd {
		headers[h.Key] = h.Value
	}
	assert.Equal(t, "0", headers["X-RateLimit-Remaining"])
	assert.NotEmpty(t, headers["Retry-After"])

	// A per-descriptor hits_addend over the burst is denied.
	d := desc("plan", "free")
	d.HitsAddend = wrapperspb.UInt64(6)
	res, err = f.rls.ShouldRateLimit(ctx, &rlv3.RateLimitRequest{Domain: "api", Descriptors: []*rlcommon.RateLimitDescriptor{d}})
	require.NoError(t, err)
	assert.Equal(t, rlv3.RateLimitResponse_OVER_LIMIT, res.OverallCode)

	_, err = f.rls.ShouldRateLimit(ctx, &rlv3.RateLimitRequest{Descriptors: []*rlcommon.RateLimitDescriptor{desc("user", "x")}})
	assert.Equal(t, codes.InvalidArgument, status.Code(err))
}

// busyStore refuses every request unsent, as the Redis store does when the queue in front of
// Redis is full.
type busyStore struct{ limit.Store }

func (busyStore) AllowBatch(context.Context, []limit.Request) ([]limit.Decision, error) {
	return nil, fmt.Errorf("redisstore: allow batch of 1: %w", limit.ErrOverloaded)
}

// An overloaded limiter never admits silently: HTTP answers 503 problem+json with Retry-After,
// gRPC RESOURCE_EXHAUSTED (Envoy then applies its own failure_mode_deny).
func TestOverloadIsRefusedOnBothAPIs(t *testing.T) {
	mem := memstore.New(limit.SystemClock{})
	t.Cleanup(func() { _ = mem.Close() })
	f := newFixtureOn(t, busyStore{mem}, true)
	res, _ := f.check(t, `{"domain":"api","descriptors":[{"entries":[{"key":"user","value":"ann"}]}]}`)
	assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	assert.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))
	assert.Equal(t, "1", res.Header.Get("Retry-After"))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := f.rls.ShouldRateLimit(ctx, &rlv3.RateLimitRequest{Domain: "api", Descriptors: []*rlcommon.RateLimitDescriptor{
		{Entries: []*rlcommon.RateLimitDescriptor_Entry{{Key: "user", Value: "ann"}}},
	}})
	assert.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
}
