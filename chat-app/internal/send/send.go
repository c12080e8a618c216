// Package send is the one application function for "send a message" (a text, an edit or a
// delete), shared by the HTTP API and the WebSocket gateway so that batching, metrics and hooks
// cannot drift apart between the two transports: the sender's rate limit, then the group commit
// of the conversation's queued sends (appender.go, ADR 0006), then the publish to the live feed,
// then the notification hook, each counted in the same metrics.
package send

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/chat"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/fanout"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/limit"
	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/protocol"
)

// Publisher puts a stored message on the live feed.
type Publisher interface {
	Publish(ctx context.Context, m chat.Message) error
}

// BusPublisher publishes a message on its conversation's topic for every gateway node, encoded
// once as a protocol message frame (the gateways copy the bytes to each recipient).
type BusPublisher struct{ Bus fanout.Bus }

// Publish implements Publisher.
func (p BusPublisher) Publish(ctx context.Context, m chat.Message) error {
	pm := protocol.Message{ID: protocol.ID(m.ID), ConversationID: protocol.ID(m.ConversationID), Seq: m.Seq,
		SenderID: protocol.ID(m.SenderID), ClientMsgID: m.ClientMsgID, Kind: protocol.MessageKind(m.Kind),
		Body: m.Body, RefSeq: m.RefSeq, CreatedAt: m.CreatedAt}
	b, err := protocol.AppendMessage(nil, &pm)
	if err != nil {
		return fmt.Errorf("encode message: %w", err)
	}
	return p.Bus.Publish(ctx, fanout.ConversationTopic(m.ConversationID), fanout.Event{Seq: m.Seq, From: m.SenderID,
		Removals: m.MemberRemovals, Frame: b})
}

// Options configure a Service. Store is required.
type Options struct {
	Store     chat.Store
	Publisher Publisher // nil: stored sends are not published (clients get them on their next sync)
	// OnCreated, when set, is called once per stored batch with the messages it created, in seq
	// order, after they were answered and published (never for a retried send); the notifier's
	// Policy hooks in here. It runs on the goroutine that stores the conversation's batches, so it
	// must be quick: one call per batch, not per message.
	OnCreated func(ctx context.Context, ms []chat.Message)
	// Limit is the per-user budget of sends, edits and deletes, one bucket per user for every
	// transport of the process. Nil: chat.DefaultSendRate and chat.DefaultSendBurst.
	Limit      *limit.Keyed[int64]
	Registerer prometheus.Registerer // nil: the metrics are registered nowhere shared
	Logger     *slog.Logger          // (slog.Default())
}

// Service sends messages. Build it with New; it is safe for concurrent use.
type Service struct {
	o   Options
	m   metrics
	app *appender
}

// ErrRateLimited is wrapped by the *RateLimitedError a send over budget gets.
var ErrRateLimited = errors.New("too many sends")

// RateLimitedError refuses a send over the user's budget; Wait is when the next one is allowed.
type RateLimitedError struct{ Wait time.Duration }

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("%v; retry in %s", ErrRateLimited, e.Wait)
}
func (e *RateLimitedError) Unwrap() error { return ErrRateLimited }

// New checks o and registers the metrics.
func New(o Options) (*Service, error) {
	if o.Store == nil {
		return nil, errors.New("send: Store is required")
	}
	if o.Limit == nil {
		o.Limit = limit.New[int64](chat.DefaultSendRate, chat.DefaultSendBurst, nil)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	reg := o.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	s := &Service{o: o, m: m}
	s.app = newAppender(o.Store, s.finish)
	return s, nil
}

// Submit spends a token of m.SenderID's budget and queues m for its conversation's next batch;
// done is called on the batch's goroutine with m's result, before m is published. Over budget it
// returns a *RateLimitedError and queues nothing. The gateway's reader uses it, so that reading
// the next frame never waits for a commit.
func (s *Service) Submit(m chat.Message, done func(context.Context, chat.AppendResult)) error {
	if ok, wait := s.o.Limit.Allow(m.SenderID); !ok {
		return &RateLimitedError{Wait: wait}
	}
	s.app.submit(appendReq{m: m, done: done})
	return nil
}

// Send is Submit that waits for m's batch to be stored and returns m's result, as the gateway
// acks a send: the publish and OnCreated follow on the batch's goroutine. When ctx ends first it
// returns ctx's error; the send still completes.
func (s *Service) Send(ctx context.Context, m chat.Message) (chat.AppendResult, error) {
	stored := make(chan chat.AppendResult, 1)
	if err := s.Submit(m, func(_ context.Context, r chat.AppendResult) { stored <- r }); err != nil {
		return chat.AppendResult{}, err
	}
	select {
	case r := <-stored:
		return r, nil
	case <-ctx.Done():
		return chat.AppendResult{}, ctx.Err()
	}
}

// Queued is the number of sends waiting for a batch (not counting those being stored).
func (s *Service) Queued() int { return s.app.queued() }

// Wait blocks until every queued send was stored and answered, or ctx is done. Shutdown calls it
// after the transports stopped taking sends.
func (s *Service) Wait(ctx context.Context) error { return s.app.wait(ctx) }

// finish answers a stored batch, in seq order: each send's done, then its publish; then
// OnCreated once.
func (s *Service) finish(ctx context.Context, batch []appendReq, rs []chat.AppendResult, err error) {
	s.m.batch.Observe(float64(len(batch)))
	var created []chat.Message
	for i, r := range batch {
		res := chat.AppendResult{Err: err}
		if err == nil {
			res = rs[i]
		}
		r.done(ctx, res)
		if res.Err != nil || !res.Created {
			continue
		}
		created = append(created, res.Message)
		if s.o.Publisher == nil {
			continue
		}
		// A lost publish loses nothing: receivers fill the hole from the store when the next
		// entry arrives, or resync after a reconnect.
		if perr := s.o.Publisher.Publish(ctx, res.Message); perr != nil {
			s.m.publishErrors.Inc()
			s.o.Logger.WarnContext(ctx, "publish message", "conversation_id", res.Message.ConversationID,
				"seq", res.Message.Seq, "err", perr)
		}
	}
	if s.o.OnCreated != nil && len(created) > 0 {
		s.o.OnCreated(ctx, created)
	}
}

type metrics struct {
	batch         prometheus.Observer
	publishErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (metrics, error) {
	batch := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "chat_send_batch_messages",
		Help:    "Sends stored per AppendBatch (group commit of one conversation's queued sends, over HTTP and WebSocket).",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256}})
	pubErr := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "chat_send_publish_errors_total",
		Help: "Stored messages whose publish to the bus failed (receivers fill the hole from the store on the next event or reconnect)."})
	for _, c := range []prometheus.Collector{batch, pubErr} {
		if err := reg.Register(c); err != nil {
			return metrics{}, fmt.Errorf("send: register metrics: %w", err)
		}
	}
	return metrics{batch: batch, publishErrors: pubErr}, nil
}
