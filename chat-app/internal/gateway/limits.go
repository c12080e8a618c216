package gateway

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/protocol"
)

// receiptKey names one coalesced receipt stream.
type receiptKey struct {
	conv, user int64
	kind       protocol.ReceiptKind
}

type receiptState struct {
	at        time.Time // last publish
	published int64
	pending   int64
	timer     *time.Timer
}

// receiptCoalescer publishes at most one receipt per key and interval, always the highest seq:
// a client acknowledging every message of a burst causes one fan-out per second, not one per
// message.
type receiptCoalescer struct {
	interval time.Duration
	publish  func(receiptKey, int64)

	mu      sync.Mutex
	state   map[receiptKey]*receiptState
	calls   int
	stopped bool
}

func newReceiptCoalescer(interval time.Duration, publish func(receiptKey, int64)) *receiptCoalescer {
	return &receiptCoalescer{interval: interval, publish: publish, state: map[receiptKey]*receiptState{}}
}

func (r *receiptCoalescer) add(k receiptKey, seq int64) {
	now := time.Now()
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	r.calls++
	if r.calls%1024 == 0 { // drop idle streams now and then
		for key, s := range r.state {
			if s.timer == nil && now.Sub(s.at) > time.Minute {
				delete(r.state, key)
			}
		}
	}
	s := r.state[k]
	if s == nil {
		s = &receiptState{}
		r.state[k] = s
	}
	switch {
	case seq <= s.published || seq <= s.pending:
		r.mu.Unlock()
	case s.timer != nil:
		s.pending = seq
		r.mu.Unlock()
	case now.Sub(s.at) >= r.interval:
		s.at, s.published = now, seq
		r.mu.Unlock()
		r.publish(k, seq)
	default:
		s.pending = seq
		s.timer = time.AfterFunc(r.interval-now.Sub(s.at), func() { r.fire(k, s) })
		r.mu.Unlock()
	}
}

func (r *receiptCoalescer) fire(k receiptKey, s *receiptState) {
	r.mu.Lock()
	seq := s.pending
	s.timer, s.pending, s.at, s.published = nil, 0, time.Now(), seq
	stopped := r.stopped
	r.mu.Unlock()
	if !stopped {
		r.publish(k, seq)
	}
}

func (r *receiptCoalescer) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	for _, s := range r.state {
		if s.timer != nil {
			s.timer.Stop()
		}
	}
}

// metrics of one gateway.
type metrics struct {
	connections prometheus.Gauge
	frames      *prometheus.CounterVec
	// The frames counters of the known types, looked up once: a label lookup per frame hashes
	// the labels, and one frame per delivery made it a visible share of a fan-out.
	in, out       map[protocol.FrameType]prometheus.Counter
	deliveryLive  prometheus.Observer // message frames from the bus
	deliveryStore prometheus.Observer // message frames read from the store (sync, hole fills)
	slowConsumer  prometheus.Counter
	// sessionCapCloses counts sessions closed with 4009 by a newer one of the same user.
	sessionCapCloses prometheus.Counter
}

// counter is the frames counter of direction ("in" or "out") and typ.
func (m *metrics) counter(direction string, typ protocol.FrameType) prometheus.Counter {
	known := m.out
	if direction == "in" {
		known = m.in
	}
	if c, ok := known[typ]; ok {
		return c
	}
	return m.frames.WithLabelValues(direction, string(typ))
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chat_gateway_connections", Help: "Open WebSocket connections."}),
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chat_gateway_frames_total", Help: "Frames received (in) and written (out), by frame type."},
			[]string{"direction", "type"}),
		slowConsumer: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_gateway_slow_consumer_closes_total", Help: "Connections closed with 4008 because their send queue was full."}),
		sessionCapCloses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_gateway_session_cap_closes_total",
			Help: "Sessions closed with 4009 because a newer session of the same user exceeded the per-user session cap (MAX_SESSIONS_PER_USER)."}),
	}
	delivery := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "chat_gateway_delivery_seconds",
		Help: "Time from a message's commit (created_at) to its frame being written to a socket, by path: live (from the bus) or store (sync and hole fills, which include the time the client was away).",
		// From a local fan-out (~1 ms) to a resync after a long disconnection.
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10, 60, 600}}, []string{"path"})
	m.deliveryLive, m.deliveryStore = delivery.WithLabelValues("live"), delivery.WithLabelValues("store")
	m.in, m.out = map[protocol.FrameType]prometheus.Counter{}, map[protocol.FrameType]prometheus.Counter{}
	for _, t := range []protocol.FrameType{protocol.TypeAuth, protocol.TypeSync, protocol.TypeSend, protocol.TypeEdit,
		protocol.TypeDelete, protocol.TypeTyping, protocol.TypeDelivered, protocol.TypeRead, protocol.TypePing,
		protocol.TypePresenceQuery} {
		m.in[t] = m.frames.WithLabelValues("in", string(t))
	}
	for _, t := range []protocol.FrameType{protocol.TypeReady, protocol.TypeMessage, protocol.TypeAck, protocol.TypeSyncDone,
		protocol.TypeTyping, protocol.TypeReceipt, protocol.TypePresence, protocol.TypeMembership, protocol.TypeError, protocol.TypePong} {
		m.out[t] = m.frames.WithLabelValues("out", string(t))
	}
	for _, c := range []prometheus.Collector{m.connections, m.frames, delivery, m.slowConsumer, m.sessionCapCloses} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("gateway: register metrics: %w", err)
		}
	}
	return m, nil
}
