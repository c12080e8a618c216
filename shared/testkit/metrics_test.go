package testkit

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
)

func TestMetricSum(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c_total", Help: "c"}, []string{"kind", "mode"})
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h", Help: "h"})
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "g", Help: "g"})
	reg.MustRegister(c, h, g)
	c.WithLabelValues("a", "x").Add(2)
	c.WithLabelValues("a", "y").Add(3)
	c.WithLabelValues("b", "x").Add(5)
	h.Observe(1)
	h.Observe(100)
	g.Set(7)

	assert.Equal(t, 10.0, MetricSum(t, reg, "c_total"))
	assert.Equal(t, 5.0, MetricSum(t, reg, "c_total", "kind", "a"))
	assert.Equal(t, 2.0, MetricSum(t, reg, "c_total", "kind", "a", "mode", "x"))
	assert.Equal(t, 0.0, MetricSum(t, reg, "c_total", "kind", "z"))
	assert.Equal(t, 2.0, MetricSum(t, reg, "h"), "a histogram counts its samples")
	assert.Equal(t, 7.0, MetricSum(t, reg, "g"))
	assert.Equal(t, 0.0, MetricSum(t, reg, "absent"))
}
