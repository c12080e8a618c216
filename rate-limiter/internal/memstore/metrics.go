package memstore

import "github.com/prometheus/client_golang/prometheus"

// Register exposes the store's size on reg, labelled store=name: ratelimit_memory_keys (keys
// held, read at scrape time) and ratelimit_memory_keys_evicted_total (live keys evicted to stay
// within the cap). Read at scrape time, they cost the decision path nothing.
func (s *Store) Register(reg prometheus.Registerer, name string) error {
	labels := prometheus.Labels{"store": name}
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ratelimit_memory_keys", ConstLabels: labels,
			Help: "Keys held by an in-memory store (live, or expired and awaiting the reaper), by store (memory, local).",
		}, func() float64 { return float64(s.Len()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "ratelimit_memory_keys_evicted_total", ConstLabels: labels,
			Help: "Live keys an in-memory store evicted to stay within MEMORY_MAX_KEYS, by store (memory, local).",
		}, func() float64 { return float64(s.Evicted()) }),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
