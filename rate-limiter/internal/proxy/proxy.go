// Package proxy is the rate limiter as a reverse proxy: it sits in front of any HTTP upstream,
// turns each request into descriptors (client IP, API key, client ID header, method, path), asks
// the limiter, and either forwards the request or answers 429 with Retry-After. Every response
// carries the rate-limit headers, so clients can pace themselves before they are refused.
package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/client"
	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
)

// Limiter is what the proxy asks: the client package, remote or local.
type Limiter interface {
	Check(ctx context.Context, req client.CheckRequest) (client.CheckResponse, error)
	Release(ctx context.Context, key, lease string) error
}

// Source reads one descriptor value from a request; ok is false when the request lacks it.
type Source func(r *http.Request) (value string, ok bool)

// Template builds one descriptor: entries in order, each a key and where its value comes from.
type Template []struct {
	Key    string
	Source Source
}

// ParseDescriptors reads the DESCRIPTORS setting: descriptors separated by ";", entries by ",",
// each entry `key=source` with source one of ip, method, path, host, header:<Name>. A descriptor
// whose header is absent from a request is left out for that request (as Envoy does).
//
//	remote_address=ip;method=method,path=path;api_key=header:X-API-Key
func ParseDescriptors(spec string) ([]Template, error) {
	var out []Template
	for i, d := range strings.Split(spec, ";") {
		d = strings.TrimSpace(d)
		if d == "" {
			continue
		}
		var t Template
		for _, e := range strings.Split(d, ",") {
			key, src, ok := strings.Cut(strings.TrimSpace(e), "=")
			if !ok || key == "" {
				return nil, fmt.Errorf("DESCRIPTORS descriptor %d: entry %q: want key=source", i+1, e)
			}
			s, err := source(src)
			if err != nil {
				return nil, fmt.Errorf("DESCRIPTORS descriptor %d: entry %q: %w", i+1, e, err)
			}
			t = append(t, struct {
				Key    string
				Source Source
			}{key, s})
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("DESCRIPTORS %q: no descriptor", spec)
	}
	return out, nil
}

func source(s string) (Source, error) {
	switch {
	case s == "ip":
		return clientIP, nil
	case s == "method":
		return func(r *http.Request) (string, bool) { return r.Method, true }, nil
	case s == "path":
		return func(r *http.Request) (string, bool) { return r.URL.Path, true }, nil
	case s == "host":
		return func(r *http.Request) (string, bool) { return r.Host, r.Host != "" }, nil
	case strings.HasPrefix(s, "header:") && len(s) > len("header:"):
		name := http.CanonicalHeaderKey(strings.TrimPrefix(s, "header:"))
		return func(r *http.Request) (string, bool) { v := r.Header.Get(name); return v, v != "" }, nil
	}
	return nil, fmt.Errorf("unknown source %q (want ip, method, path, host or header:<Name>)", s)
}

// clientIP is the caller's address: the one httpx derived (the TCP peer, or with TRUSTED_PROXIES
// the rightmost untrusted X-Forwarded-For entry), else the TCP peer. httpx leaves it unknown when
// a trusted proxy sends no usable X-Forwarded-For (absent, empty, unparsable, only trusted hops);
// leaving the descriptor out then would drop the per-IP limit for exactly the requests whose
// origin is unknown, so, like Envoy's remote_address action, fall back to the connection's peer.
// Only a peer that is not an IP address (a Unix socket) leaves the descriptor out, as in Envoy.
func clientIP(r *http.Request) (string, bool) {
	if ip := httpx.ClientIP(r); ip != "" {
		return ip, true
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return "", false
	}
	return ap.Addr().Unmap().WithZone("").String(), true
}

// Options configure a Handler.
type Options struct {
	Upstream    *url.URL
	Limiter     Limiter
	Domain      string
	Descriptors []Template
	Logger      *slog.Logger
	Registry    prometheus.Registerer
	// MaxDelay caps how long a leaky_queue rule may hold a request before forwarding (default 5s).
	MaxDelay time.Duration
}

// Handler is the proxy.
type Handler struct {
	o        Options
	upstream *httputil.ReverseProxy
	requests *prometheus.CounterVec
}

// New builds the proxy handler.
func New(o Options) (*Handler, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = 5 * time.Second
	}
	h := &Handler{o: o, requests: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ratelimit_proxy_requests_total", Help: "Requests through the proxy by status code class or decision (allowed, limited, limiter_error).",
	}, []string{"code"})}
	if o.Registry != nil {
		if err := o.Registry.Register(h.requests); err != nil {
			return nil, err
		}
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(o.Upstream)
			pr.SetXForwarded()
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			o.Logger.WarnContext(r.Context(), "upstream failed", "err", err)
			httpx.WriteProblem(w, r, httpx.Problemf(http.StatusBadGateway, "upstream: %v", err))
		},
	}
	h.upstream = rp
	return h, nil
}

// ServeHTTP limits, then forwards.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := client.CheckRequest{Domain: h.o.Domain}
	for _, t := range h.o.Descriptors {
		if d, ok := build(t, r); ok {
			req.Descriptors = append(req.Descriptors, d)
		}
	}
	if len(req.Descriptors) == 0 {
		h.forward(w, r, "allowed")
		return
	}
	res, err := h.o.Limiter.Check(r.Context(), req)
	if err != nil {
		// The limiter's own failure modes already cover its store; an unreachable limiter
		// fails open here, as Envoy's filter does by default — availability over enforcement.
		h.o.Logger.WarnContext(r.Context(), "rate limiter unreachable; forwarding", "err", err)
		h.forward(w, r, "limiter_error")
		return
	}
	for _, kv := range client.Headers(res.Results) {
		w.Header().Set(kv[0], kv[1])
	}
	if res.Overall == "OVER_LIMIT" {
		h.requests.WithLabelValues("limited").Inc()
		if w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", "1")
		}
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusTooManyRequests, "rate limit exceeded; retry after the Retry-After header's seconds"))
		return
	}
	var delay time.Duration
	for _, d := range res.Results {
		delay = max(delay, time.Duration(d.DelayMs)*time.Millisecond)
	}
	if delay > 0 { // a leaky_queue rule shapes traffic: hold the request until its turn
		select {
		case <-time.After(min(delay, h.o.MaxDelay)):
		case <-r.Context().Done():
			return
		}
	}
	defer h.release(r, res.Results)
	h.forward(w, r, "allowed")
}

func (h *Handler) forward(w http.ResponseWriter, r *http.Request, outcome string) {
	h.requests.WithLabelValues(outcome).Inc()
	h.upstream.ServeHTTP(w, r)
}

// release returns concurrency leases once the upstream has answered.
func (h *Handler) release(r *http.Request, results []client.Result) {
	for _, d := range results {
		if d.Lease == "" {
			continue
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), time.Second)
		if err := h.o.Limiter.Release(ctx, d.Key, d.Lease); err != nil {
			h.o.Logger.WarnContext(r.Context(), "release concurrency lease (it will expire on its own)", "key", d.Key, "err", err)
		}
		cancel()
	}
}

func build(t Template, r *http.Request) (client.Descriptor, bool) {
	var d client.Descriptor
	for _, e := range t {
		v, ok := e.Source(r)
		if !ok {
			return d, false
		}
		d.Entries = append(d.Entries, client.Entry{Key: e.Key, Value: v})
	}
	return d, true
}
