package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/shared/proc"
)

// rateLimiterDemo starts the limiter and the proxy on their embedded defaults, sends a burst of
// 15 requests to each algorithm's demo rule, then 60 requests through the proxy from one client.
func rateLimiterDemo(ctx context.Context, env *Env) (Outcome, error) {
	env.Progress("building ratelimit and ratelimit-proxy")
	bins := map[string]string{}
	for _, name := range []string{"ratelimit", "ratelimit-proxy"} {
		bin, err := proc.Build(ctx, env.Root, "./rate-limiter/cmd/"+name, env.Dir)
		if err != nil {
			return Outcome{}, err
		}
		bins[name] = bin
	}
	ports := make([]int, 4)
	for i := range ports {
		p, err := proc.FreePort()
		if err != nil {
			return Outcome{}, err
		}
		ports[i] = p
	}
	api := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	limiter, err := proc.Start("ratelimit", bins["ratelimit"], nil, []string{
		fmt.Sprintf("HTTP_ADDR=127.0.0.1:%d", ports[0]), fmt.Sprintf("GRPC_ADDR=127.0.0.1:%d", ports[1]),
		"RULES_PATH=", "REDIS_URL=", "LOG_FORMAT=json"}, env.Log)
	if err != nil {
		return Outcome{}, err
	}
	defer func() { _ = limiter.Stop(5 * time.Second) }()
	if err := limiter.WaitReady(ctx, api+"/readyz"); err != nil {
		return Outcome{}, err
	}
	env.Progress("limiter ready on %s (in-memory store, built-in rules)", api)

	algos := []string{"token_bucket", "leaky_bucket", "leaky_queue", "fixed_window", "sliding_log", "sliding_window", "gcra", "concurrency"}
	var summary []string
	for _, algo := range algos {
		admitted := 0
		for range 15 {
			ok, err := check(ctx, api, algo)
			if err != nil {
				return Outcome{}, err
			}
			if ok {
				admitted++
			}
		}
		env.Progress("%-14s 15 back-to-back requests → %2d admitted", algo, admitted)
		summary = append(summary, fmt.Sprintf("%s=%d", algo, admitted))
		if admitted == 0 || admitted == 15 {
			return Outcome{}, fmt.Errorf("%s admitted %d of 15: the demo rule should admit some and deny some", algo, admitted)
		}
	}

	front := fmt.Sprintf("http://127.0.0.1:%d", ports[2])
	px, err := proc.Start("ratelimit-proxy", bins["ratelimit-proxy"], nil, []string{
		fmt.Sprintf("PROXY_ADDR=127.0.0.1:%d", ports[2]), fmt.Sprintf("OPS_ADDR=127.0.0.1:%d", ports[3]),
		"LIMITER_URL=" + api, "UPSTREAM_URL=", "LOG_FORMAT=json"}, env.Log)
	if err != nil {
		return Outcome{}, err
	}
	defer func() { _ = px.Stop(5 * time.Second) }()
	if err := px.WaitReady(ctx, fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[3])); err != nil {
		return Outcome{}, err
	}
	codes := map[int]int{}
	var lastHeaders http.Header
	for range 60 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, front+"/hello", nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return Outcome{}, err
		}
		res.Body.Close()
		codes[res.StatusCode]++
		if res.StatusCode == http.StatusTooManyRequests {
			lastHeaders = res.Header
		}
	}
	env.Progress("proxy: 60 requests from one client → %d × 200, %d × 429", codes[200], codes[429])
	if codes[429] == 0 || codes[200] == 0 {
		return Outcome{}, fmt.Errorf("proxy answered %v; want some 200 and some 429 (built-in per-IP rule: 20/s, burst 40)", codes)
	}
	env.Progress("429 headers: Retry-After=%s RateLimit-Policy=%s RateLimit=%s",
		lastHeaders.Get("Retry-After"), lastHeaders.Get("RateLimit-Policy"), lastHeaders.Get("RateLimit"))
	_ = os.WriteFile(filepath.Join(env.Dir, "summary.txt"), []byte(strings.Join(summary, " ")), 0o644)
	return Outcome{
		Showed: "8 algorithms on one burst; proxy 429s with Retry-After",
		Figure: fmt.Sprintf("gcra %s of 15; proxy %d×200/%d×429", strings.TrimPrefix(summary[6], "gcra="), codes[200], codes[429]),
	}, nil
}

func check(ctx context.Context, api, algo string) (bool, error) {
	body, _ := json.Marshal(map[string]any{"domain": "demo", "descriptors": []any{map[string]any{
		"entries": []any{map[string]string{"key": "algo", "value": algo}, map[string]string{"key": "user", "value": "demo"}},
	}}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, api+"/v1/check", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	var out struct{ Overall string }
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK {
		return false, fmt.Errorf("check %s: status %d: %v", algo, res.StatusCode, err)
	}
	return out.Overall == "OK", nil
}
