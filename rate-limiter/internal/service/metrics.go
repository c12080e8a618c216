package service

import (
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the engine's domain metrics; their names are what the level-2 alerts and
// dashboard query, so change them together.
type metrics struct {
	decisions     *prometheus.CounterVec
	failureMode   *prometheus.CounterVec
	storeErrors   prometheus.Counter
	storeDuration prometheus.Histogram
	cacheHits     prometheus.Counter
	breakerOpen   prometheus.Gauge

	// children caches decisions' counters by label values: WithLabelValues hashes the values and
	// takes a lock on every call, and every decision counts one.
	children sync.Map // decisionLabels → prometheus.Counter
}

type decisionLabels struct{ domain, rule, outcome string }

func (m *metrics) decision(domain, rule, outcome string) prometheus.Counter {
	k := decisionLabels{domain, rule, outcome}
	if c, ok := m.children.Load(k); ok {
		return c.(prometheus.Counter)
	}
	c, _ := m.children.LoadOrStore(k, m.decisions.WithLabelValues(domain, rule, outcome))
	return c.(prometheus.Counter)
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ratelimit_decisions_total", Help: "Descriptor decisions by domain, rule and outcome (ok, over_limit, shadow_over_limit, unlimited, no_rule).",
		}, []string{"domain", "rule", "outcome"}),
		failureMode: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ratelimit_failure_mode_decisions_total", Help: "Decisions made by a rule's failure mode because the store did not answer.",
		}, []string{"mode"}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ratelimit_store_errors_total", Help: "Store round trips that failed or missed their deadline.",
		}),
		storeDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ratelimit_store_duration_seconds", Help: "Store round-trip latency.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1},
		}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ratelimit_cache_hits_total", Help: "Decisions answered by the over-limit cache without a store round trip.",
		}),
		breakerOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ratelimit_breaker_open", Help: "1 while the store circuit breaker is open.",
		}),
	}
	for _, c := range []prometheus.Collector{m.decisions, m.failureMode, m.storeErrors, m.storeDuration, m.cacheHits, m.breakerOpen} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register rate-limit metrics: %w", err)
		}
	}
	return m, nil
}
