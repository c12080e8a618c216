// Package client lets a Go application ask the rate limiter for decisions: remote (the service's
// HTTP API, shared limits across every instance of the application) or local (the same engine
// embedded in the process, for one instance or for tests) behind one Allow call.
//
//	rl := client.NewRemote("http://ratelimit:8100", "checkout")
//	d, err := rl.Allow(ctx, client.D("user_id", userID), client.D("route", "/pay"))
//	if err == nil && !d.Allowed {
//		w.Header().Set("Retry-After", strconv.Itoa(int(d.RetryAfter.Seconds())))
//		...
//	}
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/limit"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/memstore"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/rules"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/service"
)

// D builds a one-entry descriptor; pass pairs for more entries: D("user", "42", "route", "/pay").
func D(keyValues ...string) Descriptor {
	var d Descriptor
	for i := 0; i+1 < len(keyValues); i += 2 {
		d.Entries = append(d.Entries, Entry{Key: keyValues[i], Value: keyValues[i+1]})
	}
	return d
}

// Decision is the answer to Allow.
type Decision struct {
	Allowed    bool
	RetryAfter time.Duration // when denied: wait at least this long
	Delay      time.Duration // leaky_queue: wait this long, then proceed
	Results    []Result      // one per descriptor
}

// Client asks for decisions. Safe for concurrent use.
type Client struct {
	domain string
	// remote
	base string
	http *http.Client
	// local
	engine *service.Engine
	store  limit.Store
}

// NewRemote talks to a rate-limiter service at baseURL (e.g. http://ratelimit:8100).
func NewRemote(baseURL, domain string) *Client {
	return &Client{domain: domain, base: strings.TrimRight(baseURL, "/"), http: &http.Client{
		Timeout:   time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second},
	}}
}

// NewLocal embeds the limiter with in-memory state and the given rules (envoy-ratelimit YAML).
func NewLocal(rulesYAML []byte, domain string) (*Client, error) {
	set, err := rules.Parse("rules.yaml", rulesYAML)
	if err != nil {
		return nil, err
	}
	store := memstore.New(limit.SystemClock{})
	engine, err := service.New(service.Options{Store: store, Rules: func() *rules.Set { return set }})
	if err != nil {
		return nil, err
	}
	return &Client{domain: domain, engine: engine, store: store}, nil
}

// Close frees a local client's limiter; it is a no-op for a remote one.
func (c *Client) Close() error {
	if c.engine == nil {
		return nil
	}
	c.engine.Close()
	return c.store.Close()
}

// Allow decides one request described by descriptors (cost 1 each unless a descriptor sets Hits).
func (c *Client) Allow(ctx context.Context, descriptors ...Descriptor) (Decision, error) {
	res, err := c.Check(ctx, CheckRequest{Domain: c.domain, Descriptors: descriptors})
	if err != nil {
		return Decision{}, err
	}
	d := Decision{Allowed: res.Overall != "OVER_LIMIT", Results: res.Results}
	for _, r := range res.Results {
		if r.Code == "OVER_LIMIT" {
			d.RetryAfter = max(d.RetryAfter, time.Duration(r.RetryAfterMs)*time.Millisecond)
		}
		d.Delay = max(d.Delay, time.Duration(r.DelayMs)*time.Millisecond)
	}
	return d, nil
}

// Check is the full API call, for callers that want every field.
func (c *Client) Check(ctx context.Context, req CheckRequest) (CheckResponse, error) {
	if c.engine != nil {
		return c.checkLocal(ctx, req)
	}
	var res CheckResponse
	err := c.post(ctx, "/v1/check", req, &res)
	return res, err
}

// Release returns a concurrency lease (from Result.Key and Result.Lease).
func (c *Client) Release(ctx context.Context, key, lease string) error {
	if c.engine != nil {
		return c.engine.Release(ctx, key, lease)
	}
	return c.post(ctx, "/v1/release", ReleaseRequest{Key: key, Lease: lease}, nil)
}

func (c *Client) checkLocal(ctx context.Context, req CheckRequest) (CheckResponse, error) {
	overall, statuses, err := c.engine.Check(ctx, req.Domain, ToEngine(req.Descriptors), req.Hits)
	if err != nil {
		return CheckResponse{}, err
	}
	res := CheckResponse{Overall: overall.String(), Results: make([]Result, len(statuses))}
	for i, st := range statuses {
		res.Results[i] = FromStatus(st)
	}
	return res, nil
}

func (c *Client) post(ctx context.Context, path string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("rate limiter %s: %w", path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("rate limiter %s: %w", path, err)
	}
	if res.StatusCode >= 300 {
		return fmt.Errorf("rate limiter %s: %s: %s", path, res.Status, bytes.TrimSpace(data))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}

// ToEngine converts wire descriptors to the engine's (the HTTP API uses it too).
func ToEngine(ds []Descriptor) []service.Descriptor {
	out := make([]service.Descriptor, len(ds))
	for i, d := range ds {
		out[i].Hits = d.Hits
		for _, e := range d.Entries {
			out[i].Entries = append(out[i].Entries, rules.Entry{Key: e.Key, Value: e.Value})
		}
	}
	return out
}

// FromStatus converts an engine status to its wire form (the HTTP API uses it too).
func FromStatus(st service.Status) Result {
	res := Result{
		Code:         st.Code.String(),
		Key:          st.Key,
		Remaining:    st.Decision.Remaining,
		ResetAfterMs: st.Decision.ResetAfter.Milliseconds(),
		RetryAfterMs: st.Decision.RetryAfter.Milliseconds(),
		DelayMs:      st.Decision.Delay.Milliseconds(),
		Lease:        st.Decision.Lease,
		Shadow:       st.Shadow,
		FailureMode:  string(st.FailureMode),
	}
	if r := st.Rule; r != nil {
		res.Rule = r.Name
		if res.Rule == "" {
			res.Rule = r.Path
		}
		res.Algorithm, res.Limit, res.Unit = string(r.Limit.Algorithm), r.Limit.Requests, r.Unit
		res.PeriodMs = r.Limit.Period.Milliseconds()
	}
	return res
}
