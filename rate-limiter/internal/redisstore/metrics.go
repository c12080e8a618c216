package redisstore

import "github.com/prometheus/client_golang/prometheus"

// metrics show the queue in front of Redis: how long requests wait in this process before their
// pipeline is written, and how many the bounded queue refused. They are created with the store
// and exported by whoever registers Store.Collectors (cmd/ratelimit does).
type metrics struct {
	queueWait prometheus.Histogram
	rejected  prometheus.Counter
	deadline  prometheus.Gauge
}

func newMetrics() *metrics {
	return &metrics{
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ratelimit_store_queue_wait_seconds",
			Help:    "Time a check waited in this process for its pipeline to be written to Redis (not part of the Redis deadline).",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ratelimit_store_queue_rejected_total",
			Help: "Requests refused unsent because the queue in front of Redis was full (answered RESOURCE_EXHAUSTED or 503, never admitted).",
		}),
		deadline: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ratelimit_store_deadline_seconds",
			Help: "Deadline of the last Redis pipeline, from its write: REDIS_TIMEOUT, stretched up to 10x while answered round trips are slow.",
		}),
	}
}

// Collectors are the store's metrics, for the caller to register.
func (s *Store) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.b.m.queueWait, s.b.m.rejected, s.b.m.deadline}
}
