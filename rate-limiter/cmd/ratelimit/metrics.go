package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hyperscaledesignhub/DesignSystems/shared/telemetry"
)

// reloadCounter counts rule reloads by result (ratelimit_rules_reloads_total), which the
// level-2 alert on bad rule files watches.
type reloadCounter struct{ c *prometheus.CounterVec }

func newReloadCounter(tel *telemetry.Telemetry) reloadCounter {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ratelimit_rules_reloads_total", Help: "Rule reloads by result (ok, error); a rejected file keeps the old rules.",
	}, []string{"result"})
	tel.Registry.MustRegister(c)
	return reloadCounter{c}
}

func (r reloadCounter) ok()     { r.c.WithLabelValues("ok").Inc() }
func (r reloadCounter) failed() { r.c.WithLabelValues("error").Inc() }
