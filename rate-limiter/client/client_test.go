package client_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/client"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/api"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/memstore"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/rules"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/service"
	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
)

const clientRules = `
domain: app
descriptors:
  - key: user
    rate_limit: {unit: minute, requests_per_unit: 2, algorithm: sliding_log}
  - key: job
    rate_limit: {unit: minute, requests_per_unit: 1, algorithm: concurrency}
`

func remote(t *testing.T) *client.Client {
	set, err := rules.Parse("app.yaml", []byte(clientRules))
	require.NoError(t, err)
	store := memstore.New(limit.SystemClock{})
	t.Cleanup(func() { _ = store.Close() })
	engine, err := service.New(service.Options{Store: store, Rules: func() *rules.Set { return set }})
	require.NoError(t, err)
	m, err := api.NewMetrics(prometheus.NewRegistry())
	require.NoError(t, err)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := httpx.New(httpx.Options{Logger: logger})
	require.NoError(t, err)
	(&api.HTTP{Engine: engine, Rules: rules.Static(set, "app"), Metrics: m, Logger: logger}).Routes(srv.Router())
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return client.NewRemote(ts.URL, "app")
}

func local(t *testing.T) *client.Client {
	c, err := client.NewLocal([]byte(clientRules), "app")
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Both modes answer the same way.
func TestAllowRemoteAndLocal(t *testing.T) {
	for name, mk := range map[string]func(*testing.T) *client.Client{"remote": remote, "local": local} {
		t.Run(name, func(t *testing.T) {
			c := mk(t)
			ctx := context.Background()
			for range 2 {
				d, err := c.Allow(ctx, client.D("user", "ann"))
				require.NoError(t, err)
				assert.True(t, d.Allowed)
			}
			d, err := c.Allow(ctx, client.D("user", "ann"))
			require.NoError(t, err)
			assert.False(t, d.Allowed)
			assert.Positive(t, d.RetryAfter)
			assert.Equal(t, "0", header(client.Headers(d.Results), "X-RateLimit-Remaining"))

			d, err = c.Allow(ctx, client.D("job", "export"))
			require.NoError(t, err)
			require.True(t, d.Allowed)
			lease := d.Results[0]
			require.NotEmpty(t, lease.Lease)
			d, err = c.Allow(ctx, client.D("job", "export"))
			require.NoError(t, err)
			assert.False(t, d.Allowed, "the only slot is leased")
			require.NoError(t, c.Release(ctx, lease.Key, lease.Lease))
			d, err = c.Allow(ctx, client.D("job", "export"))
			require.NoError(t, err)
			assert.True(t, d.Allowed, "released")

			_, err = c.Check(ctx, client.CheckRequest{Domain: "", Descriptors: []client.Descriptor{client.D("user", "x")}})
			assert.Error(t, err, "no domain")
		})
	}
}

func header(h [][2]string, name string) string {
	for _, kv := range h {
		if kv[0] == name {
			return kv[1]
		}
	}
	return ""
}
