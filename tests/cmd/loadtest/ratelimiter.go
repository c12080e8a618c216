package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/shared/loadgen"
	"github.com/hyperscaledesignhub/DesignSystems/shared/proc"
)

// rateLimiterLoad drives POST /v1/check on the real ratelimit binary: once on the in-memory
// store and, when a Redis answers (REDIS_URL or 127.0.0.1:6379), once on Redis — 10k users on
// the demo domain's GCRA rule, so most requests are admitted and some are over their limit.
func rateLimiterLoad(ctx context.Context, p Params) ([]*loadgen.Result, error) {
	dir, err := os.MkdirTemp("", "loadtest-ratelimit-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin, err := build(ctx, "./rate-limiter/cmd/ratelimit", dir)
	if err != nil {
		return nil, err
	}
	stores := []struct{ name, redisURL string }{{"memory", ""}}
	redisURL := os.Getenv("REDIS_URL")
	if redisURL == "" {
		redisURL = "redis://127.0.0.1:6379"
	}
	if c, err := net.DialTimeout("tcp", hostPort(redisURL), time.Second); err == nil {
		c.Close()
		stores = append(stores, struct{ name, redisURL string }{"redis", redisURL})
	} else {
		fmt.Fprintf(os.Stderr, "rate-limiter: no Redis at %s, measuring the in-memory store only\n", redisURL)
	}
	var results []*loadgen.Result
	for _, s := range stores {
		r, err := loadLimiter(ctx, bin, s.name, s.redisURL, p)
		if err != nil {
			return nil, err
		}
		results = append(results, r)
	}
	return results, nil
}

func loadLimiter(ctx context.Context, bin, store, redisURL string, p Params) (*loadgen.Result, error) {
	httpPort, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	grpcPort, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	srv, err := proc.Start("ratelimit", bin, nil, []string{
		fmt.Sprintf("HTTP_ADDR=127.0.0.1:%d", httpPort), fmt.Sprintf("GRPC_ADDR=127.0.0.1:%d", grpcPort),
		"REDIS_URL=" + redisURL, "RULES_PATH=", "LOG_LEVEL=warn"}, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = srv.Stop(10 * time.Second) }()
	if err := srv.WaitReady(ctx, base+"/readyz"); err != nil {
		return nil, err
	}
	target := httpTarget(func(ctx context.Context) (*http.Request, error) {
		body := fmt.Sprintf(`{"domain":"demo","descriptors":[{"entries":[{"key":"algo","value":"gcra"},{"key":"user","value":"u%d"}]}]}`, rand.IntN(10_000))
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/check", bytes.NewBufferString(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
		return req, err
	})
	return loadgen.Run(ctx, loadgen.Config{Name: "rate-limiter POST /v1/check (" + store + ")", Rate: p.Rate,
		Duration: p.Duration, Warmup: time.Second, Timeout: 5 * time.Second, Progress: p.Progress}, target)
}

// hostPort pulls host:port out of a redis:// URL for a reachability probe.
func hostPort(redisURL string) string {
	u, err := url.Parse(redisURL)
	if err != nil || u.Host == "" {
		return "127.0.0.1:6379"
	}
	return u.Host
}
