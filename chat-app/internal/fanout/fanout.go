// Package fanout moves already-encoded server frames between gateway nodes: a gateway publishes
// an Event on a topic (a conversation or a user) and every node with a subscriber for that topic
// hands it to its local connections.
//
// Delivery is at most once: a bus may lose events (a Redis blip, a wedged subscriber). That is
// enough because the store is the source of truth and clients resync by seq (docs/protocol.md
// section 5; docs/adr/0004-fanout.md).
package fanout

import (
	"context"
	"errors"
	"strconv"
)

// ErrClosed is returned by Publish and Subscribe after Close.
var ErrClosed = errors.New("fanout: bus closed")

// ConversationTopic is the topic of a conversation's messages, edits, receipts and typing.
func ConversationTopic(conv int64) string { return "c:" + strconv.FormatInt(conv, 10) }

// UserTopic is the topic of what is addressed to one user on every device: presence of their
// contacts, membership changes.
func UserTopic(user int64) string { return "u:" + strconv.FormatInt(user, 10) }

// Event is what travels between gateway nodes: an already-encoded server frame (so every node
// sends the same bytes to every recipient without re-encoding), plus what a receiver needs
// without parsing it.
type Event struct {
	Seq  int64 // the message's seq for message frames (continuity checks), 0 for ephemeral frames
	From int64 // the user whose action caused it (e.g. the typist, so they are not echoed); 0 if none
	// Removals is the conversation's chat.Message.MemberRemovals for message frames: a gateway
	// re-checks a session's membership before delivering a message stored after a removal
	// that session has not checked yet. 0 for other frames.
	Removals int64
	Frame    []byte // a complete server frame (protocol.Encode / protocol.AppendMessage output)
}

// Bus delivers events published on a topic to every subscriber of that topic on every node,
// each event once per subscription, in publish order per topic per publisher.
//
// Handlers of one topic are called one at a time, in order, never concurrently with each other.
// Events published after a subscription's cancel has returned are never delivered to it; a call
// already in progress when cancel is called may still finish. A handler may call cancel (its own
// or another's) but must not call Subscribe: Subscribe may wait for the very goroutine that runs
// the handler. Subscribers of a topic may share an event's Frame: a handler must not modify it.
type Bus interface {
	Publish(ctx context.Context, topic string, e Event) error
	// Subscribe calls h for every event on topic until the returned cancel is called.
	// h must not block for long (it is called on the bus's goroutine): a gateway copies into a
	// bounded per-connection queue. Subscribing is ref-counted per topic inside a node. When
	// Subscribe returns without error the subscription is active: every event published after
	// that reaches h (barring loss, see the package doc).
	Subscribe(topic string, h func(Event)) (cancel func(), err error)
	// Close stops delivery, waits for the bus's goroutines to end and releases its resources.
	Close() error
}

// MultiPublisher is a Bus that publishes one event on many topics at once (Redis: one pipelined
// round trip instead of one per topic).
type MultiPublisher interface {
	PublishAll(ctx context.Context, topics []string, e Event) error
}

// PublishAll publishes e on each of topics: in one call when bus is a MultiPublisher, else one
// Publish per topic, continuing past failures. It returns the first error.
func PublishAll(ctx context.Context, bus Bus, topics []string, e Event) error {
	if mp, ok := bus.(MultiPublisher); ok {
		return mp.PublishAll(ctx, topics, e)
	}
	var first error
	for _, t := range topics {
		if err := bus.Publish(ctx, t, e); err != nil && first == nil {
			first = err
		}
	}
	return first
}
