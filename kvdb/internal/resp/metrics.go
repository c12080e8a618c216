package resp

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics holds the collectors, with each command's children resolved up front: a label lookup
// per command (hashing the label values) would cost more than a GET itself.
type metrics struct {
	connections prometheus.Gauge
	rejected    prometheus.Counter
	ok, failed  []prometheus.Counter  // by command index
	duration    []prometheus.Observer // by command index
}

func newMetrics(reg prometheus.Registerer, names []string) (*metrics, error) {
	commands := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kvdb_resp_commands_total",
		Help: "RESP commands executed, by command (\"unknown\" for names the server does not know) and result (ok or error reply).",
	}, []string{"command", "result"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "kvdb_resp_command_duration_seconds",
		Help: "Time to execute a RESP command, from parsed request to reply buffered, by command.",
		// 10µs .. ~0.65s: an in-memory GET is a few µs, an LSM read that misses the cache
		// a few hundred µs, a SET waiting for a group-committed fsync a few ms.
		Buckets: prometheus.ExponentialBuckets(10e-6, 4, 9),
	}, []string{"command"})
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kvdb_resp_connections",
			Help: "Open RESP client connections.",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kvdb_resp_rejected_connections_total",
			Help: "RESP connections refused because MaxConns were open.",
		}),
	}
	for _, name := range names {
		m.ok = append(m.ok, commands.WithLabelValues(name, "ok"))
		m.failed = append(m.failed, commands.WithLabelValues(name, "error"))
		m.duration = append(m.duration, duration.WithLabelValues(name))
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{commands, duration, m.connections, m.rejected} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register resp metrics: %w", err)
			}
		}
	}
	return m, nil
}
