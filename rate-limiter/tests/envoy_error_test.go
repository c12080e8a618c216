package tests

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	rlcommon "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/api"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/redisstore"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/rules"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/service"
	"github.com/hyperscaledesignhub/DesignSystems/shared/testkit"
)

// envoy ratelimit's own rules file: no failure_mode anywhere.
const envoyRules = `
domain: envoy
descriptors:
  - key: remote_address
    rate_limit: {unit: second, requests_per_unit: 10}
`

// rlsOverRedis serves the gRPC Rate Limit Service on an engine whose Redis sits behind proxy,
// with the default failure mode given, and returns a client of it.
func rlsOverRedis(t *testing.T, proxy *tcpProxy, prefix string, m rules.FailureMode) rlv3.RateLimitServiceClient {
	set, err := rules.Parse("envoy.yaml", []byte(envoyRules))
	require.NoError(t, err)
	client := redis.NewClient(&redis.Options{Addr: proxy.addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	// A deadline a loaded machine cannot miss while Redis is up; the outage below refuses
	// connections, which fails at once.
	store := redisstore.New(client, redisstore.Options{Prefix: prefix, Timeout: 5 * time.Second})
	t.Cleanup(func() { _ = store.Close() })
	reg := prometheus.NewRegistry()
	e, err := service.New(service.Options{Store: store, Shared: true, Rules: func() *rules.Set { return set },
		DefaultFailureMode: m, Registry: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close() })
	metrics, err := api.NewMetrics(reg)
	require.NoError(t, err)
	gs := grpc.NewServer(api.ServerOptions()...)
	rlv3.RegisterRateLimitServiceServer(gs, &api.RLS{Engine: e, Metrics: metrics})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return rlv3.NewRateLimitServiceClient(conn)
}

func shouldRateLimit(rls rlv3.RateLimitServiceClient) (*rlv3.RateLimitResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return rls.ShouldRateLimit(ctx, &rlv3.RateLimitRequest{Domain: "envoy", Descriptors: []*rlcommon.RateLimitDescriptor{
		{Entries: []*rlcommon.RateLimitDescriptor_Entry{{Key: "remote_address", Value: "10.0.0.1"}}},
	}})
}

// With DEFAULT_FAILURE_MODE=error, a rule that names no failure_mode behaves as in envoy
// ratelimit when Redis is down: ShouldRateLimit answers an error (UNAVAILABLE), so Envoy's
// failure_mode_deny decides. With the default (open) the same request is admitted.
func TestDefaultFailureModeErrorOverGRPC(t *testing.T) {
	env := testkit.Redis(t)
	for _, tc := range []struct {
		mode rules.FailureMode
		want codes.Code
	}{{rules.FailError, codes.Unavailable}, {"", codes.OK}} {
		t.Run(string(tc.mode), func(t *testing.T) {
			proxy := newTCPProxy(t, env.Addr)
			rls := rlsOverRedis(t, proxy, env.Prefix+string(tc.mode), tc.mode)
			res, err := shouldRateLimit(rls)
			require.NoError(t, err, "Redis up")
			require.Equal(t, rlv3.RateLimitResponse_OK, res.GetOverallCode())

			proxy.set("refuse")
			for range 10 { // before and after the breaker opens
				res, err = shouldRateLimit(rls)
				assert.Equal(t, tc.want, status.Code(err), "%v", err)
				if tc.want == codes.OK {
					assert.Equal(t, rlv3.RateLimitResponse_OK, res.GetOverallCode(), "fail open")
				}
			}
		})
	}
}
