// Package redisbus is a fanout.Bus on Redis pub/sub: topic T is the Redis channel
// "<prefix>chat:v2:T", each node holds one PubSub connection on which it SUBSCRIBEs to the topics its
// local connections need (ref-counted: the first local subscriber subscribes the node, the last
// one to leave unsubscribes it), and one goroutine reads that connection and calls the handlers.
//
// Redis pub/sub is at most once. After a Redis blip go-redis reconnects the PubSub connection and
// re-subscribes to every channel on its own (a periodic PING on the connection notices a link that
// hangs rather than breaks); what was published while the link was down is lost. That is fine:
// the store is the source of truth and clients resync by seq (docs/adr/0004-fanout.md).
//
// Wire format of an event: 8-byte big-endian seq | 8-byte big-endian from | 8-byte big-endian
// member removals | frame bytes. The "v2" in the channel names is this format's version: nodes
// of another format (v1 had no removals, on "chat:T") use other channels, so during a rolling
// upgrade they miss each other's events — which clients fill from the store at the next message
// or reconnect — instead of misreading them.
package redisbus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hyperscaledesignhub/DesignSystems/chat-app/internal/fanout"
)

// Defaults of Options.
const (
	DefaultSubscribeTimeout = 5 * time.Second
	DefaultHealthCheck      = 3 * time.Second
	DefaultBuffer           = 1024
)

const headerLen = 24

// Options configure a Bus. The zero value of each field means its default.
type Options struct {
	// Prefix goes before "chat:v2:<topic>" in every channel name, so that several deployments
	// (or tests) share one Redis.
	Prefix string
	// SubscribeTimeout bounds how long Subscribe waits for Redis to confirm a new subscription.
	SubscribeTimeout time.Duration
	// HealthCheck is how often the PubSub connection is pinged when idle; a failed ping makes
	// go-redis reconnect and re-subscribe.
	HealthCheck time.Duration
	// Buffer is the number of received messages go-redis queues for the dispatcher.
	Buffer int
	// Logger gets one line per malformed message; default slog.Default().
	Logger *slog.Logger
}

// Bus is one node's view of the Redis fan-out. It is safe for concurrent use.
type Bus struct {
	client  redis.UniversalClient
	o       Options
	ps      *redis.PubSub
	done    chan struct{} // closed when the dispatcher has returned
	closeMu sync.Once

	cmdMu sync.Mutex // serializes SUBSCRIBE/UNSUBSCRIBE so that they reach Redis in state order
	mu    sync.Mutex // guards topics, nextID, closed
	// topics maps a channel name to its local subscribers.
	topics map[string]*topic
	nextID uint64
	closed bool
}

type topic struct {
	subs  []sub         // copy-on-write: the dispatcher reads a snapshot
	ready chan struct{} // closed once Redis confirmed the SUBSCRIBE
}

type sub struct {
	id uint64
	h  func(fanout.Event)
}

// New starts a node's bus on client, which the caller keeps and closes after Close.
func New(client redis.UniversalClient, o Options) (*Bus, error) {
	if client == nil {
		return nil, errors.New("redisbus: nil client")
	}
	if o.SubscribeTimeout <= 0 {
		o.SubscribeTimeout = DefaultSubscribeTimeout
	}
	if o.HealthCheck <= 0 {
		o.HealthCheck = DefaultHealthCheck
	}
	if o.Buffer <= 0 {
		o.Buffer = DefaultBuffer
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	b := &Bus{
		client: client,
		o:      o,
		ps:     client.Subscribe(context.Background()), // no channel yet: no connection yet
		done:   make(chan struct{}),
		topics: make(map[string]*topic),
	}
	ch := b.ps.ChannelWithSubscriptions(
		redis.WithChannelSize(o.Buffer),
		redis.WithChannelHealthCheckInterval(o.HealthCheck),
	)
	go b.dispatch(ch)
	return b, nil
}

// Channel is the Redis channel of a topic.
func (b *Bus) Channel(topicName string) string { return b.o.Prefix + "chat:v2:" + topicName }

// Encode is the wire format of an event: seq | from | removals | frame.
func Encode(e fanout.Event) []byte {
	out := make([]byte, headerLen+len(e.Frame))
	binary.BigEndian.PutUint64(out, uint64(e.Seq))
	binary.BigEndian.PutUint64(out[8:], uint64(e.From))
	binary.BigEndian.PutUint64(out[16:], uint64(e.Removals))
	copy(out[headerLen:], e.Frame)
	return out
}

// Decode reverses Encode. Frame aliases b.
func Decode(b []byte) (fanout.Event, error) {
	if len(b) < headerLen {
		return fanout.Event{}, fmt.Errorf("redisbus: event of %d bytes, shorter than its %d-byte header", len(b), headerLen)
	}
	return fanout.Event{
		Seq:      int64(binary.BigEndian.Uint64(b)),
		From:     int64(binary.BigEndian.Uint64(b[8:])),
		Removals: int64(binary.BigEndian.Uint64(b[16:])),
		Frame:    b[headerLen:],
	}, nil
}

// Publish sends e to every node subscribed to topic. Events from one goroutine reach every
// subscriber in the order published (Redis relays a channel's messages in the order it executes
// the PUBLISHes).
func (b *Bus) Publish(ctx context.Context, topicName string, e fanout.Event) error {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return fanout.ErrClosed
	}
	if err := b.client.Publish(ctx, b.Channel(topicName), Encode(e)).Err(); err != nil {
		return fmt.Errorf("publish %s: %w", topicName, err)
	}
	return nil
}

// PublishAll implements fanout.MultiPublisher: one pipelined round trip for every topic (a
// presence change goes to the user topic of each of up to hundreds of recipients).
func (b *Bus) PublishAll(ctx context.Context, topics []string, e fanout.Event) error {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return fanout.ErrClosed
	}
	payload := Encode(e)
	_, err := b.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, t := range topics {
			p.Publish(ctx, b.Channel(t), payload)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("publish to %d topics: %w", len(topics), err)
	}
	return nil
}

// Subscribe calls h for every event on topic until cancel is called. The node SUBSCRIBEs to the
// topic's channel when it gets its first local subscriber, and Subscribe returns once Redis has
// confirmed it (or fails after SubscribeTimeout), so nothing published afterwards is missed.
func (b *Bus) Subscribe(topicName string, h func(fanout.Event)) (func(), error) {
	channel := b.Channel(topicName)
	b.cmdMu.Lock()
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.cmdMu.Unlock()
		return nil, fanout.ErrClosed
	}
	t := b.topics[channel]
	first := t == nil
	if first {
		t = &topic{ready: make(chan struct{})}
		b.topics[channel] = t
	}
	b.nextID++
	id := b.nextID
	t.subs = append(append([]sub(nil), t.subs...), sub{id: id, h: h})
	b.mu.Unlock()
	var err error
	if first {
		ctx, cancel := context.WithTimeout(context.Background(), b.o.SubscribeTimeout)
		err = b.ps.Subscribe(ctx, channel)
		cancel()
	}
	b.cmdMu.Unlock()
	if err != nil {
		b.unsubscribe(channel, t, id)
		return nil, fmt.Errorf("subscribe %s: %w", topicName, err)
	}

	timer := time.NewTimer(b.o.SubscribeTimeout)
	defer timer.Stop()
	select {
	case <-t.ready:
	case <-b.done:
		return nil, fanout.ErrClosed
	case <-timer.C:
		b.unsubscribe(channel, t, id)
		return nil, fmt.Errorf("subscribe %s: no confirmation from Redis within %s", topicName, b.o.SubscribeTimeout)
	}
	var once sync.Once
	return func() { once.Do(func() { b.unsubscribe(channel, t, id) }) }, nil
}

// unsubscribe removes one local subscriber, and the node's subscription with the last one.
func (b *Bus) unsubscribe(channel string, t *topic, id uint64) {
	b.cmdMu.Lock()
	defer b.cmdMu.Unlock()
	b.mu.Lock()
	subs := make([]sub, 0, len(t.subs))
	for _, s := range t.subs {
		if s.id != id {
			subs = append(subs, s)
		}
	}
	t.subs = subs
	last := len(subs) == 0 && b.topics[channel] == t && !b.closed
	if last {
		delete(b.topics, channel)
	}
	b.mu.Unlock()
	if last {
		ctx, cancel := context.WithTimeout(context.Background(), b.o.SubscribeTimeout)
		defer cancel()
		// An error here means the link is down; the reconnect re-subscribes only to the channels
		// still wanted (go-redis dropped this one from its set already), so nothing is left over.
		_ = b.ps.Unsubscribe(ctx, channel)
	}
}

// dispatch is the node's one reader: it calls the handlers of each message's topic in turn, so
// per-topic order is the order Redis relayed.
func (b *Bus) dispatch(ch <-chan any) {
	defer close(b.done)
	for m := range ch {
		switch m := m.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			b.mu.Lock()
			if t := b.topics[m.Channel]; t != nil {
				select {
				case <-t.ready:
				default:
					close(t.ready)
				}
			}
			b.mu.Unlock()
		case *redis.Message:
			e, err := Decode([]byte(m.Payload))
			if err != nil {
				b.o.Logger.Warn("redisbus: dropped malformed event", "channel", m.Channel, "err", err)
				continue
			}
			b.mu.Lock()
			var subs []sub
			if t := b.topics[m.Channel]; t != nil {
				subs = t.subs
			}
			b.mu.Unlock()
			for _, s := range subs {
				s.h(e)
			}
		}
	}
}

// Close unsubscribes the node, closes its PubSub connection and waits for the dispatcher to
// return (after the handler call in progress, if any). It does not close the client.
func (b *Bus) Close() error {
	var err error
	b.closeMu.Do(func() {
		b.cmdMu.Lock()
		b.mu.Lock()
		b.closed = true
		clear(b.topics)
		b.mu.Unlock()
		err = b.ps.Close()
		b.cmdMu.Unlock()
		<-b.done
	})
	return err
}

var _ fanout.Bus = (*Bus)(nil)
