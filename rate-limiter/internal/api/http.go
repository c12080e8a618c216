// Package api serves the rate limiter over the wire: Envoy's gRPC Rate Limit Service v3
// (grpc.go), the HTTP/JSON API (this file; routes in routes.go) and the response headers both
// share (headers.go).
package api

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/client"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/rules"
	"github.com/hyperscaledesignhub/DesignSystems/rate-limiter/internal/service"
	"github.com/hyperscaledesignhub/DesignSystems/shared/httpx"
)

// RuleSource is where the active rules come from (a hot-reloading rules.Reloader, or a fixed set).
type RuleSource interface {
	Set() *rules.Set
	Status() rules.Status
}

// HTTP serves the JSON API.
type HTTP struct {
	Engine  *service.Engine
	Rules   RuleSource
	Metrics *Metrics
	Logger  *slog.Logger
}

func (h *HTTP) check(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	defer h.Metrics.observe("http", start)
	var req client.CheckRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		httpx.WriteError(w, r, h.Logger, err)
		return
	}
	if len(req.Descriptors) == 0 {
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusBadRequest, "descriptors: at least one is required"))
		return
	}
	if req.Hits < 0 {
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusBadRequest, "hits must not be negative"))
		return
	}
	for i, d := range req.Descriptors {
		if d.Hits < 0 {
			httpx.WriteProblem(w, r, httpx.Problemf(http.StatusBadRequest, "descriptors[%d].hits must not be negative", i))
			return
		}
	}
	overall, statuses, err := h.Engine.Check(r.Context(), req.Domain, client.ToEngine(req.Descriptors), req.Hits)
	if err != nil {
		h.checkFailed(w, r, err)
		return
	}
	res := client.CheckResponse{Overall: overall.String(), Results: make([]client.Result, len(statuses))}
	for i, st := range statuses {
		res.Results[i] = client.FromStatus(st)
	}
	for _, kv := range client.Headers(res.Results) {
		w.Header().Set(kv[0], kv[1])
	}
	httpx.WriteJSON(w, http.StatusOK, res)
}

func (h *HTTP) release(w http.ResponseWriter, r *http.Request) {
	var req client.ReleaseRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		httpx.WriteError(w, r, h.Logger, err)
		return
	}
	if req.Key == "" || req.Lease == "" {
		httpx.WriteProblem(w, r, httpx.NewProblem(http.StatusBadRequest, "key and lease are required"))
		return
	}
	if err := h.Engine.Release(r.Context(), req.Key, req.Lease); err != nil {
		httpx.WriteError(w, r, h.Logger, httpx.Problemf(http.StatusServiceUnavailable, "release: %v", err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// rulesResponse is GET /v1/rules: the reloader's state and every active rule.
type rulesResponse struct {
	Status rules.Status     `json:"status"`
	Rules  []rules.RuleInfo `json:"rules"`
}

func (h *HTTP) rules(w http.ResponseWriter, _ *http.Request) {
	list := h.Rules.Set().List()
	for i := range list {
		list[i].FailureMode = h.Engine.FailureMode(list[i].FailureMode) // the one that applies
	}
	httpx.WriteJSON(w, http.StatusOK, rulesResponse{Status: h.Rules.Status(), Rules: list})
}

// Metrics are the API's own metrics: decision latency per API, which the SLO alert watches.
type Metrics struct {
	duration *prometheus.HistogramVec
}

// NewMetrics registers the API metrics.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "ratelimit_check_duration_seconds", Help: "Time to decide one check request, by API (grpc, http).",
		Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1},
	}, []string{"api"})}
	if err := reg.Register(m.duration); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Metrics) observe(api string, start time.Time) {
	m.duration.WithLabelValues(api).Observe(time.Since(start).Seconds())
}
